"""One self-contained HTML file with the views of a sweep that W&B's sweep page has.

Everything the page shows comes from one JSON blob (plots, runs table) plus a few escaped
HTML fragments; plotly's JavaScript is inlined from the installed plotly package, so the
file opens offline. User text (parameter values and names, metric names, run names,
errors) is escaped for each place it lands: HTML text, the JSON blob inside a
``<script>`` element, and plotly labels, which plotly reads as markup.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from localsweep.records import RunState
from localsweep.report._importance import ParamImportance
from localsweep.report._plots import PRIOR
from localsweep.report._silent import _utc, run_end, run_runtime, silent_state
from localsweep.report._study import ParamAxis

if TYPE_CHECKING:
    from localsweep.api import Run, Sweep
    from localsweep.config import Metric, SweepConfig

__all__ = ["RowCache", "embed_json"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


def runs_and_priors(sweep: Sweep) -> list[Run]:
    """The sweep's prior runs (negative numbers, given to it to learn from) and its own."""
    return [*sweep.prior_runs, *sweep.runs]


def embed_json(value: Any) -> str:
    """JSON text safe inside a ``<script>`` element: ``<``, ``>`` and ``&`` as ``\\u`` escapes
    (``json.dumps`` leaves ``</script>`` as is, which would end the element)."""
    from plotly.io.json import to_json_plotly

    text: str = to_json_plotly(value)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.6g}"
    return str(value)


def _duration(seconds: float) -> str:
    """``1h 2m 3s``, ``2m 3s`` or ``3s``; ``—`` for no number (NaN), ``0s`` for less than
    none (an end before the start, from clocks that disagreed)."""
    if not math.isfinite(seconds):
        return "—"
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def _sweep_span(sweep: Sweep, silent: Mapping[str, str] = {}) -> tuple[float, bool]:
    """Seconds from the sweep's creation to its last run's end (a crashed run's last
    heartbeat), and whether runs still run (a ``silent`` one, whose agent is most likely
    gone, does not)."""
    start = _utc(sweep.created_at)
    end = start
    running = False
    for run in sweep.runs:
        end = max(end, _utc(run_end(run) or run.created_at))
        running = running or (run.state == RunState.RUNNING.value and run.id not in silent)
    return (end - start).total_seconds(), running


def _plain(value: Any) -> Any:
    """A run's value for the table: scalars as they are, anything else as JSON text."""
    if value is None or isinstance(value, (str, bool, int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        return value
    return json.dumps(value, sort_keys=True, default=str)


def _lookup(config: Mapping[str, Any], path: Sequence[str]) -> Any:
    node: Any = config
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def _last_line(error: str | None) -> str | None:
    if not error:
        return None
    lines = [line for line in error.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else None


# ---------------------------------------------------------------------------------------
# Page


def _importance_table(rows: list[ParamImportance]) -> str:
    if not rows:
        return '<div class="empty">No searchable parameters.</div>'
    top = max((r.importance or 0.0) for r in rows) or 1.0
    body = []
    for r in rows:
        imp = r.importance
        cor = r.correlation
        imp_bar = (
            f'<div class="bar-box"><div class="bar-fill imp" '
            f'style="width:{100 * (imp or 0.0) / top:.1f}%"></div></div>'
        )
        if cor is None:
            cor_bar = '<span class="muted">—</span>'
        else:
            side = "pos" if cor >= 0 else "neg"
            cor_bar = (
                f'<div class="bar-box signed"><div class="bar-fill {side}" '
                f'style="width:{50 * min(abs(cor), 1.0):.1f}%"></div></div>'
            )
        body.append(
            "<tr>"
            f"<td>{_e(r.name)}</td>"
            f'<td class="num">{_number(None if imp is None else round(imp, 4))}</td>'
            f'<td class="bar">{imp_bar}</td>'
            f'<td class="num">{_number(None if cor is None else round(cor, 3))}</td>'
            f'<td class="bar">{cor_bar}</td>'
            f'<td class="num">{_number(None if r.fanova is None else round(r.fanova, 4))}</td>'
            "</tr>"
        )
    return (
        '<table class="imp" id="importance-table"><thead><tr><th>parameter</th>'
        "<th>importance</th><th></th><th>correlation</th><th></th><th>fANOVA</th>"
        "</tr></thead><tbody>" + "".join(body) + "</tbody></table>"
    )


def _runs_table(
    runs: Sequence[Run],
    axes: list[ParamAxis],
    metric_name: str | None,
    objectives: Sequence[Metric] = (),
    pareto: frozenset[str] | set[str] = frozenset(),
    silent: Mapping[str, str] = {},
) -> dict[str, Any]:
    """The runs table: its columns and one row per run (``id_column`` holds the run id).
    A multi-objective sweep (``objectives``) has a column per objective where others have
    the metric's, and a "Pareto set" column marking the runs of ``pareto`` (the page
    highlights them, as it does a best run: ``mark_column``). A run of ``silent`` (see
    :func:`localsweep.report._silent.silent_runs`) is ``running (silent 3m)``, as ``show``
    says."""
    columns = ["#", "id", "name", "state"]
    if objectives:
        columns += [*(m.name for m in objectives), "Pareto set"]
    else:
        columns.append(metric_name or "metric")
    columns += [a.parameter.name for a in axes]
    columns += ["runtime (s)", "stopped at band", "end reason", "error"]
    rows = [_run_row(run, axes, objectives, run.id in pareto, silent.get(run.id)) for run in runs]
    table = {"columns": columns, "rows": rows, "id_column": 1, "state_column": 3}
    if objectives:
        table["mark_column"] = 4 + len(objectives)
    return table


def _run_row(
    run: Run,
    axes: list[ParamAxis],
    objectives: Sequence[Metric] = (),
    on_front: bool = False,
    silent_for: str | None = None,
) -> list[Any]:
    """One run's row of the runs table (``silent_for``: how long a running run's heartbeat
    has been silent past its timeout)."""
    from localsweep.search._multi import summary_value

    config = run.params
    runtime = run_runtime(run)
    if runtime is not None:
        runtime = round(runtime, 2)
    if objectives:
        values = [_plain(summary_value(run.summary, m.name, m.goal)) for m in objectives]
        values.append("yes" if on_front else "")
    else:
        values = [_plain(run.metric)]
    return [
        run.number,
        run.id,
        run.name,
        f"{run.state} ({PRIOR})"
        if run.prior
        else (silent_state(silent_for) if silent_for else run.state),
        *values,
        *(_plain(_lookup(config, a.parameter.path)) for a in axes),
        runtime,
        *_stop_cells(run),
        _last_line(run.error),
    ]


def _stop_cells(run: Run) -> tuple[int | None, str | None]:
    """The "stopped at band" and "end reason" cells: a pruner's ``stopped_at_band`` is the
    wandb step it stopped the run at, not a band, so it is said in the reason instead."""
    if run.end_reason == "pruned" and run.stopped_at_band is not None:
        return None, f"pruned at step {run.stopped_at_band}"
    return run.stopped_at_band, run.end_reason


def _stop_note(runs: Sequence[Run], config: SweepConfig) -> str:
    """What stopped runs early: ``by hyperband``, ``2 by hyperband, 1 on a plateau``."""
    reasons = Counter(
        run.end_reason or "hyperband"
        for run in runs
        if run.state == RunState.EARLY_TERMINATED.value
    )
    words = {"hyperband": "by hyperband", "plateau": "on a plateau"}
    if len(reasons) > 1:
        return ", ".join(f"{n} {words.get(r, r)}" for r, n in sorted(reasons.items()))
    if reasons:
        return words.get(next(iter(reasons)), next(iter(reasons)))
    rules = [
        text
        for text, on in (
            ("by hyperband", config.early_terminate is not None),
            ("on a plateau", config.options.early_stopping is not None),
        )
        if on
    ]
    return " or ".join(rules) if rules else "no early termination"


def _div(plot_id: str) -> str:
    return f'<div class="ls-plot" id="{plot_id}"></div>'


def _empty(text: str) -> str:
    return f'<div class="empty">{_e(text)}</div>'


def _digest(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha1(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


class RowCache:
    """What a live page's next build of the view can reuse from the last: the runs table's
    rows and their digests by run, while a run and the table's columns stay the same, and
    the analysis (axes, plots) while no run but running ones changed. Runs are replaced,
    never changed in place, when they change."""

    def __init__(self) -> None:
        self._columns: list[str] | None = None
        self._rows: dict[str, tuple[Any, list[Any], str, bool, str | None]] = {}
        self._memo: dict[str, tuple[tuple[Any, ...], Any, list[Any]]] = {}
        self._digests: dict[int, tuple[Any, str]] = {}

    def memo(self, name: str, runs: Sequence[Any], build: Callable[[], T]) -> T:
        """``build()``, or what it gave at the last call with the same runs: the same run
        objects, except running runs, which count by id and name (their parameters do
        not change while they run, only their history and their summary so far, which
        no memoized part shows)."""
        key = tuple(
            (run.id, run.name) if run.state == RunState.RUNNING.value else id(run) for run in runs
        )
        known = self._memo.get(name)
        if known is not None and known[0] == key:
            value: T = known[1]
            return value
        value = build()
        self._memo[name] = (key, value, list(runs))  # kept alive: their ids stay theirs
        return value

    def digest(self, value: Any) -> str:
        """:func:`_digest` of ``value``, kept while the same object comes again."""
        known = self._digests.get(id(value))
        if known is None or known[0] is not value:
            known = (value, _digest(value))
            self._digests[id(value)] = known
        return known[1]

    def keep_digests(self, values: Sequence[Any]) -> None:
        """Forget the digests of every object but ``values``."""
        ids = {id(v) for v in values}
        self._digests = {k: v for k, v in self._digests.items() if k in ids}

    def table(
        self,
        runs: Sequence[Any],
        axes: list[Any],
        metric_name: str | None,
        objectives: Sequence[Metric] = (),
        pareto: set[str] | frozenset[str] = frozenset(),
        silent: Mapping[str, str] = {},
    ) -> tuple[dict[str, Any], list[str]]:
        """The runs table of ``runs`` and each row's digest (see :func:`_runs_table`)."""
        table = _runs_table([], axes, metric_name, objectives)
        if table["columns"] != self._columns:
            self._columns, self._rows = table["columns"], {}
        rows, digests, kept = [], [], {}
        for run in runs:
            known = self._rows.get(run.id)
            on_front = run.id in pareto
            silent_for = silent.get(run.id)
            # A run leaves the Pareto set when a later run beats it, and goes silent with
            # no change in the store: its row changes then.
            if (
                known is None
                or known[0] is not run
                or known[3] is not on_front
                or known[4] != silent_for
            ):
                row = _run_row(run, axes, objectives, on_front, silent_for)
                known = (run, row, _digest(row), on_front, silent_for)
            kept[run.id] = known
            rows.append(known[1])
            digests.append(known[2])
        self._rows = kept
        table["rows"] = rows
        return table, digests
