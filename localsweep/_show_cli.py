"""The commands that read a sweep in the terminal: ``localsweep ls`` and ``localsweep show``
(``localsweep run`` ends with :func:`show_sweep` too)."""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import click
import yaml

from localsweep._api_state import shown_state, state_word
from localsweep._console import CliConsole, _piped, safe_text
from localsweep._main import safe_output_streams
from localsweep._whole_tables import print_runs, print_sweeps, print_whole

__all__ = ["register_read_commands", "show_sweep"]

console = CliConsole()
err_console = CliConsole(stderr=True)


def _e(value: Any) -> str:
    """``value`` as text to print (see :func:`safe_text`), each character the output's
    encoding cannot write as an escape (``adam\\xe9`` under ``PYTHONIOENCODING=ascii``):
    escaped before the table is laid out, its columns stay aligned."""
    encoding = console.encoding
    text = str(value).encode(encoding, "backslashreplace").decode(encoding)
    return safe_text(text)


def register_read_commands(group: click.Group, **decorators: Callable[[Any], Any]) -> None:
    """Add ``ls`` and ``show`` to the CLI; ``decorators`` are the CLI's ``friendly``
    (errors as messages) and ``db_option``."""
    friendly, db_option = decorators["friendly"], decorators["db_option"]
    limit = click.option(
        "--limit",
        type=click.IntRange(min=1),
        default=50,
        show_default=True,
        help="Rows of the runs table.",
    )
    group.add_command(_command("ls", _ls, db_option, friendly))
    group.add_command(
        _command("show", _show_command, click.argument("sweep_id"), limit, db_option, friendly)
    )


def _command(name: str, fn: Callable[..., Any], *decorators: Callable[[Any], Any]) -> click.Command:
    # As if written above ``fn`` in this order, under ``@click.command(name)``.
    for decorate in reversed(decorators):
        fn = decorate(fn)
    return click.command(name)(fn)


def _ls(db: str | None) -> None:
    """List the sweeps in the database."""
    safe_output_streams()
    from localsweep.api import Api
    from localsweep.report._silent import silent_runs

    api = Api(db)
    sweeps = api.sweeps()

    head = ["id", "name", "method", "state", "runs", "best", "created"]
    rows: list[list[str]] = []
    any_silent = False
    # Heartbeats are judged by the database's clock (which wrote them), read once.
    now = sweeps[0]._db_time() if sweeps else None
    for s in sweeps:
        silent = len(silent_runs(s.runs, now)) if now is not None else 0
        any_silent = any_silent or silent > 0
        best = s.best_run()
        metric = s.parsed_config.metric
        best_text = (
            f"{metric.name}={best.metric:.6g}"
            if best and metric and best.metric is not None
            else ""
        )
        if s.parsed_config.is_multi_objective:  # no best run: the Pareto set's size
            front = len(s.pareto_runs())
            best_text = f"Pareto set: {_plural(front, 'run')}" if front else ""
        rows.append(
            [
                _e(s.id),
                _e(s.name),
                s.parsed_config.method.value,
                _e(shown_state(s.state, s.finished_reason)),
                _run_count(len(s.runs), len(s.prior_runs), silent),
                _e(best_text),
                s.created_at.strftime("%Y-%m-%d %H:%M UTC"),  # stored in UTC, as ui/report say
            ]
        )
    print_sweeps(console, head, rows)
    if any_silent:
        console.print(
            "silent: running runs without a heartbeat for longer than the heartbeat "
            "timeout, whose agent is most likely gone; `localsweep show SWEEP_ID` lists them",
            markup=False,
            highlight=False,
        )


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _run_count(runs: int, priors: int, silent: int = 0) -> str:
    # The best may be a prior run's: its count is shown beside the sweep's own; and the
    # running runs whose agent is most likely gone, as show and the report say.
    notes = ([f"+{priors} prior"] if priors else []) + ([f"{silent} silent"] if silent else [])
    return f"{runs} ({', '.join(notes)})" if notes else str(runs)


def _show_command(sweep_id: str, limit: int, db: str | None) -> None:
    """Show a sweep: its runs (best first), the best run's config, failures."""
    from localsweep.store import Store, require_database

    show_sweep(Store(require_database(db)), sweep_id.rsplit("/", 1)[-1], limit=limit)


def _metric_cell(run: Any, name: str) -> str:
    """The run's metric as ``show`` prints it: its value, empty without one, or what it
    logged instead of a number (``(text)``), which is no result."""
    from localsweep._hints import not_a_number_kind

    if run.metric is not None:
        return f"{run.metric:.6g}"
    kind = not_a_number_kind(run.summary.get(name))
    return f"({kind})" if kind is not None else ""


def show_sweep(
    store: Any, sweep_id: str, *, limit: int, show_more: Callable[[int], str] | None = None
) -> None:
    """Print sweep ``sweep_id`` of ``store``: a line on its state, its runs best first
    (prior runs marked), the best run's config and summary, what stopped early, parameter
    importance, and the last failures. ``show_more``: the command that lists every run,
    given their number, when that is not this one with ``--limit``."""

    from localsweep.api import Sweep, summary_items
    from localsweep.report._params import flat_params, sweep_parameters
    from localsweep.report._pareto import print_pareto
    from localsweep.report._silent import silent_note, silent_runs, silent_state
    from localsweep.search._multi import summary_value

    # Also run as ``python -m localsweep.cli``, which does not pass through _main.
    safe_output_streams()
    sweep = Sweep(store, store.get_sweep(sweep_id))
    config = sweep.parsed_config
    metric = config.metric
    counts: dict[str, int] = {}
    for r in sweep.runs:
        counts[r.state] = counts.get(r.state, 0) + 1
    state_text = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no runs"
    priors = f"; {_plural(len(sweep.prior_runs), 'prior run')}" if sweep.prior_runs else ""
    named = f" {_e(repr(sweep.name))}" if sweep.name != sweep.id else ""
    state_line = _e(shown_state(sweep.state, sweep.finished_reason))
    console.print(
        f"[bold]Sweep {_e(sweep.id)}[/]{named}: {config.method.value}, "
        f"{state_line}; {_plural(len(sweep.runs), 'run')}: {state_text}{priors}",
        highlight=False,
    )
    if (
        state_word(sweep.state) == "running"
        and config.method.value != "grid"
        and config.run_cap is None
    ):
        console.print(
            f"  ({config.method.value} search has no end of its own: the sweep stays "
            "`running` and more agents may add runs; `--count` bounds an agent, "
            "`run_cap` in the config the sweep)",
            highlight=False,
        )
    runs = [*sweep.prior_runs, *sweep.runs]  # priors rank with the rest, marked

    def sort_key(r: Any) -> tuple[int, float]:
        # Runs with a result (as best_run ranks them) by their metric; then the partial
        # values of failed, crashed and killed runs; then runs without a value.
        if metric is None or r.metric is None or not math.isfinite(r.metric):
            return (2, 0.0)
        value = r.metric if metric.goal.value == "minimize" else -r.metric
        return (0 if r.state in ("finished", "early_terminated") else 1, value)

    silent = silent_runs(sweep.runs, store.db_time())  # by the clock that wrote the heartbeats

    def state_of(r: Any) -> str:
        if r.id in silent:
            return silent_state(silent[r.id])
        if r.stopped_at_band is not None and r.end_reason == "pruned":
            # The study's pruner's step, told apart from hyperband's band (`@9`).
            return f"{r.state} (pruned @{r.stopped_at_band})"
        if r.stopped_at_band is not None:
            return f"{r.state} @{r.stopped_at_band}"
        if r.end_reason is not None and r.end_reason not in ("hyperband", r.state):
            return f"{r.state} ({r.end_reason})"
        return str(r.state)

    objectives = config.metrics if config.is_multi_objective else ()
    pareto = {r.id for r in sweep.pareto_runs()} if objectives else set()
    order = _objective_sort(objectives, pareto) if objectives else sort_key
    shown = sorted(runs, key=order)[:limit]
    ids = [f"{r.id} (prior)" if r.prior else r.id for r in shown]
    states = [state_of(r) for r in shown]
    params = [p for p in sweep_parameters(sweep) if not p.is_constant]
    flats = [flat_params(r.params, params) for r in shown]
    # Piped, every value whole; on a terminal, long ones cut as far as keeps them apart.
    # A key a run did not get (a conditional parameter not drawn) is an empty cell, as a
    # missing metric is; a value the run got as None stays `null`.
    cells = [
        _column([f.get(p.name, _NOT_GIVEN) for f in flats], cut=not _piped(console)) for p in params
    ]
    rows = []
    for i, (r, run_id, state) in enumerate(zip(shown, ids, states, strict=True)):
        row = [_e(run_id), _e(state)]
        if metric is not None:
            row.append(_metric_cell(r, metric.name))
        for m in objectives:
            found = summary_value(r.summary, m.name, m.goal)
            row.append("" if found is None else f"{found:.6g}")
        if objectives:
            row.append("*" if r.id in pareto else "")
        rows.append(row + [_e(column[i]) for column in cells])
    head = ["run", "state"]
    head += [_e(metric.name)] if metric is not None else []
    head += [_e(m.name) for m in objectives] + (["Pareto"] if objectives else [])
    # A parameter named as a metric (``loss``) is the config's: ``config.loss`` beside it.
    taken = set(head)
    names = [f"config.{p.name}" if p.name in taken else p.name for p in params]
    print_runs(console, head, [_e(name) for name in names], rows, sweep.id)
    if len(runs) > limit:
        more = "--limit" if show_more is None else show_more(len(runs))
        # One line, however narrow the terminal: a command wrapped mid-way pastes in half.
        console.print(f"... {len(runs) - limit} more ({_e(more)})", highlight=False, soft_wrap=True)
    if silent:
        console.print(f"({silent_note(len(silent))})", highlight=False)
    if objectives:
        console.print(
            "(* marks the runs no other finished or stopped run beats on every objective)",
            highlight=False,
        )
    best = sweep.best_run()
    if best is not None:
        console.print(
            f"[bold]Best run {_e(best.id)}[/]{' (prior)' if best.prior else ''} "
            f"({_e(metric.name if metric else '')}={best.metric:.6g}):",
            highlight=False,
        )
        console.print(
            _e(yaml.safe_dump(best.params, sort_keys=False, allow_unicode=True).rstrip()),
            highlight=False,
        )
        line = summary_line(summary_items(best.summary), metric.name if metric else None)
        if line:
            console.print("summary: " + _e(line), highlight=False)
    print_pareto(console, sweep)  # multi-objective sweeps: the front replaces "best run"
    stopped = [r for r in runs if r.state == "early_terminated" and r.end_reason != "plateau"]
    plateaus = sum(r.state == "early_terminated" and r.end_reason == "plateau" for r in runs)
    if plateaus:
        console.print(f"stopped early on a plateau: {plateaus}")
    if stopped:
        bands: dict[int, int] = {}
        for r in stopped:
            if r.stopped_at_band is not None:
                bands[r.stopped_at_band] = bands.get(r.stopped_at_band, 0) + 1
        pruned = all(r.end_reason == "pruned" for r in stopped)  # the study's pruner: steps
        at, by = ("step", "the study's pruner") if pruned else ("band", "hyperband")
        text = ", ".join(f"{n} at {at} {b}" for b, n in sorted(bands.items()))
        console.print(f"stopped early by {by}: {len(stopped)} ({text})")
    _print_importance(sweep)
    from localsweep._hints import sweep_metric_hint

    hint = sweep_metric_hint(sweep)
    if hint:
        err_console.print(f"[yellow]Warning:[/] {_e(hint)}", highlight=False, soft_wrap=True)
    failed = [r for r in runs if r.state in ("failed", "crashed")]
    for r in failed[-3:]:
        lines = (r.error or "").strip().splitlines()
        # localsweep's own reason (timed out, exit code) first, then the end of the output.
        head = lines[:1] if lines and not lines[0].startswith("Traceback") else []
        tail = "\n".join(head + [line for line in lines[-6:] if line not in head])
        console.print(f"[red]{r.state} run {_e(r.id)}[/]:\n{_e(tail)}", highlight=False)


def _objective_sort(objectives: Any, pareto: set[str]) -> Callable[[Any], tuple[int, float]]:
    """A multi-objective sweep's runs table order: the Pareto set, then the other runs with
    a result of every objective, then the rest; each by the first objective."""
    from localsweep.search._multi import objective_values

    first = objectives[0]

    def key(r: Any) -> tuple[int, float]:
        values = objective_values(r.summary, objectives)
        if values is None:
            return (3, 0.0)
        value = values[0] if first.goal.value == "minimize" else -values[0]
        if r.id in pareto:
            return (0, value)
        return (1 if r.state in ("finished", "early_terminated") else 2, value)

    return key


def _print_importance(sweep: Any) -> None:
    """W&B's parameter importance panel, in the terminal (needs the report extra); for a
    multi-objective sweep, one per objective."""
    from localsweep.report import MissingExtraError, parameter_importance
    from localsweep.report._pareto import objective_importance

    capped = _address_space_cap()
    if capped is not None and capped < _IMPORTANCE_ADDRESS_SPACE:
        # Under such a cap, importing scikit-learn and SciPy (OpenBLAS reserves buffers per
        # thread) hung, crashed or raised SystemError, after every run was recorded.
        console.print(
            f"parameter importance: left out: the address space is capped at "
            f"{capped >> 20} MB (ulimit -v), under which loading scikit-learn can crash "
            "this process; `localsweep show` without the cap shows it",
            highlight=False,
        )
        return
    try:
        if sweep.parsed_config.is_multi_objective:
            for name, rows in objective_importance(sweep).items():
                _importance_table(rows, f"parameter importance (with respect to {name})")
        else:
            _importance_table(
                parameter_importance(sweep), "parameter importance (with respect to the metric)"
            )
    except MissingExtraError as exc:
        console.print(f"parameter importance: {_e(exc)}", highlight=False)
    except (MemoryError, SystemError) as exc:
        # Importing scikit-learn and SciPy under a memory cap (`ulimit -v`, a batch
        # system's h_vmem) that the runs fit in: the runs are recorded; say why it is left.
        console.print(
            "parameter importance: left out, out of memory loading scikit-learn "
            f"({type(exc).__name__}; is the address space capped, `ulimit -v`?)",
            highlight=False,
        )


#: The least address space (bytes) in which the importance panel loads scikit-learn.
_IMPORTANCE_ADDRESS_SPACE = 2 << 30


def _address_space_cap() -> int | None:
    """This process's address-space limit in bytes (``ulimit -v``), ``None`` if none."""
    try:
        import resource
    except ImportError:  # not POSIX
        return None
    soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
    return None if soft == resource.RLIM_INFINITY or soft < 0 else int(soft)


def _importance_table(rows: Any, title: str) -> None:
    rows = [r for r in rows if r.importance is not None]
    if not rows:
        return
    from rich.table import Table

    table = Table(title=_e(title))
    table.add_column("parameter")
    for number in ("importance", "correlation", "fANOVA"):  # whole: never folded
        table.add_column(number, justify="right", no_wrap=True)
    none = "—" if _e("—") == "—" else "-"  # an ASCII output's dash
    for r in rows:
        table.add_row(
            _e(r.name),
            f"{r.importance:.3f}",
            none if r.correlation is None else f"{r.correlation:+.3f}",
            none if r.fanova is None else f"{r.fanova:.3f}",
        )
    print_whole(console, table)


#: On a terminal, the width a parameter value is cut to, if that keeps its column's values
#: apart (else as little more as does).
CELL_WIDTH = 24


def _column(values: Sequence[Any], *, cut: bool) -> list[str]:
    """A parameter column's cells: each value as written; with ``cut``, a long one cut in
    the middle (``distilbert-base-…ned-sst-2``), at :data:`CELL_WIDTH` or, when that would
    make two different values look alike, at the least width that keeps them apart."""
    # Piped, every value whole: a float as Python writes it back (0.8022993871).
    texts = [_text(v, 6 if cut else None) for v in values]
    if cut:  # a terminal: numbers as short as keeps them apart (9.016e-05, not 9.01606e-05)
        apart = len(set(texts))
        for digits in (4, 5):
            short = [_text(v, digits) for v in values]
            if len(set(short)) == apart:
                texts = short
                break
    longest = max((len(t) for t in texts), default=0)
    if not cut or longest <= CELL_WIDTH:
        return texts
    distinct = set(texts)
    for width in range(CELL_WIDTH, longest):
        cuts = {t: _cut(t, width) for t in distinct}
        if len(set(cuts.values())) == len(distinct):
            return [cuts[t] for t in texts]
    return texts


#: A parameter's value in :func:`_column` for a run whose config has no such key.
_NOT_GIVEN: Any = object()


def _text(value: Any, digits: int | None = 6) -> str:
    if value is _NOT_GIVEN:
        return ""
    if isinstance(value, float):
        return repr(value) if digits is None else f"{value:.{digits}g}"
    return value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)


def _cut(text: str, width: int) -> str:
    """``text`` in ``width`` characters: its start and its end (where names like
    ``...-finetuned-sst-2`` and dicts' last keys differ), joined by an ellipsis."""
    if len(text) <= width:
        return text
    tail = (width - 1) // 3
    return text[: width - 1 - tail] + "…" + text[len(text) - tail :]


#: How long the best run's ``summary:`` line may grow, and each value in it.
SUMMARY_CHARS = 500
SUMMARY_VALUE_CHARS = 60


def summary_line(summary: Mapping[str, Any], metric: str | None) -> str:
    """The best run's summary in one line: the sweep ``metric`` first, then the other
    numbers, then the other values (a long one cut), nested dicts as dotted keys
    (``val_acc.max=0.93``, as W&B's runs table names them); media and histogram objects
    (``wandb.Table``, ``wandb.watch``'s: dicts with a ``_type``) by name only, last. Cut
    at :data:`SUMMARY_CHARS`, between two items, saying how many more there are."""
    values: list[tuple[str, Any]] = []
    media: list[str] = []

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for key, value in node.items():
            name = f"{prefix}{key}"
            if isinstance(value, Mapping) and "_type" in value:
                media.append(name)
            elif isinstance(value, Mapping) and value:
                walk(value, f"{name}.")
            else:
                values.append((name, value))

    walk(summary, "")

    def rank(item: tuple[str, Any]) -> int:
        name, value = item
        if metric is not None and (name == metric or name.startswith(f"{metric}.")):
            return 0
        is_number = isinstance(value, numbers.Real) and not isinstance(value, bool)
        return 1 if is_number else 2

    items = [f"{name}={_summary_value(value)}" for name, value in sorted(values, key=rank)]
    # Each by itself, so the cut falls between two names.
    media.sort()
    items += [f"media and histograms: {name}" if i == 0 else name for i, name in enumerate(media)]
    line = ""
    for i, item in enumerate(items):
        joined = f"{line}, {item}" if line else item
        more = len(items) - i
        if len(joined) > SUMMARY_CHARS and line:
            return f"{line}, … ({more} more)"
        line = joined
    return line


def _summary_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    text = value if isinstance(value, str) else json.dumps(value, default=str, ensure_ascii=False)
    return _cut(text, SUMMARY_VALUE_CHARS) if len(text) > SUMMARY_VALUE_CHARS else text
