"""Match runs done elsewhere onto a sweep's parameters (pure: no I/O).

A :class:`PriorCandidate` is a run as a source holds it: a config (nested, flat with
dotted names, or wandb's ``{"value": ...}`` wrapped), a summary, logged rows, a state.
:func:`match_prior` places it in the sweep's space or says why it cannot:

- a parameter is found by its path, where any run of its names may also be one dotted
  key (``("opt", "lr")`` is ``opt.lr``, ``{"opt": {"lr": ...}}`` or ``{"opt.lr": ...}``);
- a number written as text (every CSV cell) is read as the number it spells; other text
  is read as JSON or a Python literal when that gives a value of the space;
- a categorical or constant value matches as wandb's grid compares values (``1`` and
  ``1.0`` are the same value, ``True`` and ``1`` are not), and the run gets the config's
  own value (stored as a run of the sweep gets it: a whole float as the int it equals);
- a number must lie in the distribution's support (its range, a multiple of ``q``);
  for a grid it must be one of the grid's values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from localsweep.config import Method, ParamPath, SweepConfig
from localsweep.priors._place import MISSING, is_wrapper, literal, number, place, readings
from localsweep.records import RunState

__all__ = [
    "PriorCandidate",
    "SkippedPrior",
    "TakenPrior",
    "find_value",
    "literal",
    "match_prior",
    "match_priors",
    "metric_in",
    "number",
    "place",
    "summary_metric",
]

#: States a prior run may have: what it found is a result. Anything else is skipped.
_TAKEN_STATES = {"finished": RunState.FINISHED, "early_terminated": RunState.EARLY_TERMINATED}


@dataclass(frozen=True)
class PriorCandidate:
    """A run as a source holds it, before it is matched onto a sweep.

    ``config`` and ``summary`` may be nested or flat (dotted keys); for a table row both
    are the whole row. ``state`` is the source's word for it (``None``: not said, taken
    as finished). ``problem``, when set, is why the source could not give the run at all
    (a run folder without an exit record), and the run is skipped with it.
    """

    source: str
    run_id: str | None = None
    name: str | None = None
    state: str | None = None
    config: Mapping[str, Any] = field(default_factory=dict)
    summary: Mapping[str, Any] = field(default_factory=dict)
    history: Sequence[Mapping[str, Any]] = ()
    created_at: datetime | None = None
    finished_at: datetime | None = None
    stopped_at_band: int | None = None
    problem: str | None = None
    #: A table row: its config and summary are the same row, so the columns taken as
    #: parameters are no summary keys.
    from_table: bool = False
    #: The run's wandb offline folder, when known.
    dir: str | None = None
    #: Said after the reason when the run is skipped for its state: where the source
    #: cannot tell, how the user can still take it.
    state_hint: str | None = None
    #: A table row without a run id: its table's resolved path and its row number, the
    #: same when the table is given twice (or matched by two globs).
    table_row: tuple[str, int] | None = None
    #: A table row: its table, as the source named it (or the glob matched it).
    table: str | None = None


@dataclass(frozen=True)
class TakenPrior:
    """A prior run placed in the sweep's space: its flat ``params`` (constants included,
    the config's own values for categoricals), its state, the metric's summary value, and
    the key each parameter was found under (``columns``, dotted)."""

    candidate: PriorCandidate
    params: Mapping[ParamPath, Any]
    state: RunState
    metric: float | None
    columns: Mapping[ParamPath, str]
    #: Of a multi-objective sweep's objectives, those the run has no value of: it is on
    #: no Pareto front and the search counts it as failed, as a sweep's own run.
    missing_objectives: tuple[str, ...] = ()


@dataclass(frozen=True)
class SkippedPrior:
    """A run that could not be taken, and why."""

    candidate: PriorCandidate
    reason: str


def find_value(data: Mapping[str, Any], path: ParamPath) -> tuple[Any, str | None]:
    """The value at ``path`` in ``data`` and the dotted key it was found under, or
    ``(MISSING, None)``. Nested dicts, dotted keys and ``{"value": ...}`` wrappers are
    all followed; the deepest nesting is tried first."""
    found = _find(data, path)
    if found is None:
        return MISSING, None
    return found


def _find(node: Any, path: ParamPath) -> tuple[Any, str] | None:
    if not path:
        return node, ""
    if isinstance(node, str):
        # A table cell holding a dict as text (JSON, or a Python literal from pandas).
        node = next((r for r in readings(node)[1:] if isinstance(r, Mapping)), None)
    if not isinstance(node, Mapping):
        return None
    for k in range(1, len(path) + 1):
        key = ".".join(path[:k])
        if key in node:
            inner = _find(node[key], path[k:])
            if inner is not None:
                value, rest = inner
                return value, key + ("." + rest if rest else "")
    if is_wrapper(node):
        return _find(node["value"], path)
    return None


def metric_in(data: Mapping[str, Any], name: str) -> Any:
    """The value of metric ``name`` in a summary or logged row (the key itself, else a
    dotted path into nested dicts), or ``None``."""
    if f"summary.{name}" in data:  # a table that prefixed the summary key (clash)
        return data[f"summary.{name}"]
    if name in data:
        return data[name]
    value, _key = find_value(data, tuple(name.split(".")))
    return None if value is MISSING else value


#: A ``define_metric(name, summary=...)`` summary is a dict; which of its values counts,
#: by the metric's goal (as the agent reads its own runs' summaries).
_SUMMARY_KEYS = {"minimize": ("min", "best", "last"), "maximize": ("max", "best", "last")}


def summary_metric(summary: Mapping[str, Any], name: str, goal: str) -> float | None:
    """The metric's value in a run's summary, as a number, or ``None``.

    A plain value counts as it is. A ``define_metric`` summary (``{"min": 0.2}`` under
    the key, or a table's ``val_loss.min`` column) gives its component matching ``goal``
    (``"minimize"``/``"maximize"``), else ``best``, else ``last``; when it has none of
    these, ``None`` (the caller then takes the last logged value, as the agent does)."""
    raw = metric_in(summary, name)
    if isinstance(raw, str):
        raw = next((r for r in readings(raw)[1:] if isinstance(r, Mapping)), raw)
    if raw is not None and not isinstance(raw, Mapping):
        return number(raw)
    parts = raw if isinstance(raw, Mapping) else {}
    for key in _SUMMARY_KEYS[goal]:
        value = parts.get(key)
        if value is None:
            value = metric_in(summary, f"{name}.{key}")
        found = number(value)
        if found is not None:
            return found
    return None


def match_prior(config: SweepConfig, candidate: PriorCandidate) -> TakenPrior | SkippedPrior:
    """Place ``candidate`` in ``config``'s space, or say why it is skipped."""
    if candidate.problem is not None:
        return SkippedPrior(candidate, candidate.problem)
    state_word = (candidate.state or "finished").strip().lower()
    state = _TAKEN_STATES.get(state_word)
    if state is None:
        why = (
            "is still running: its result is not known yet"
            if state_word == "running"
            else "did not finish: only finished runs (and runs stopped early) are results"
        )
        hint = f"; {candidate.state_hint}" if candidate.state_hint else ""
        return SkippedPrior(candidate, f"state {state_word!r} {why}{hint}")
    params: dict[ParamPath, Any] = {}
    columns: dict[ParamPath, str] = {}
    for param in config.parameters:
        raw, key = find_value(candidate.config, param.path)
        if raw is MISSING or key is None:
            return SkippedPrior(candidate, f"has no value for parameter {param.name}")
        ok, value, reason = place(param, raw, config.method)
        if not ok:
            return SkippedPrior(candidate, reason)
        params[param.path] = value
        columns[param.path] = key
    metric = None
    missing: tuple[str, ...] = ()
    if config.is_multi_objective:
        skip, missing = _objectives(config, candidate)
        if skip is not None:
            return SkippedPrior(candidate, skip)
    elif config.metric is not None:
        name = config.metric.name
        metric = summary_metric(candidate.summary, name, config.metric.goal.value)
        diverged = _diverged_in(candidate.summary, name, config.metric.goal.value)
        if metric is None and diverged is None:
            # No summary value (a table without the column, a dict without min/max/best/
            # last): the last value the run logged, as the agent reads its own runs.
            metric, diverged = _last_logged(candidate.history, name)
        if metric is None and config.method is not Method.GRID:
            # A grid still must not repeat its point; a search has nothing to learn from it.
            if diverged is not None:
                # As the sweep's own runs: a NaN or infinite end is no result, and an
                # earlier finite value is not the run's either.
                why = f"ended with the metric {name} = {diverged}: no result (did it diverge?)"
                return SkippedPrior(candidate, why)
            return SkippedPrior(
                candidate,
                f"has no value of the metric {name}: nothing to learn"
                + _logged_hint(candidate, name),
            )
    return TakenPrior(candidate, params, state, metric, columns, missing)


def _objectives(
    config: SweepConfig, candidate: PriorCandidate
) -> tuple[str | None, tuple[str, ...]]:
    """A multi-objective sweep's (``metrics:``) check of a run: why it is skipped (``None``
    when it is not), and the objectives it has no value of. Each objective is read from
    the summary as the search reads the sweep's runs
    (:func:`localsweep.search._multi.objective_values`). A run whose value of one ended NaN
    or infinite diverged: no result. A run missing every objective has nothing to learn
    from; one missing some is taken, as a sweep's own run is kept: shown by the objectives
    it has, on no Pareto front, and counted as failed by the search."""
    from localsweep.search._multi import summary_entry, summary_value

    missing = []
    for objective in config.metrics:
        name = objective.name
        if summary_value(candidate.summary, name, objective.goal) is not None:
            continue
        diverged = _not_finite(summary_entry(candidate.summary, name, objective.goal))
        if diverged is not None:
            why = f"ended with the objective {name} = {diverged}: no result (did it diverge?)"
            return why, ()
        missing.append(name)
    if len(missing) == len(config.metrics):
        names = ", ".join(missing)
        hint = _logged_hint(candidate, missing[0])
        return f"has no value of any objective ({names}): nothing to learn{hint}", ()
    return None, tuple(missing)


def _diverged_in(summary: Mapping[str, Any], name: str, goal: str) -> str | None:
    """How the metric's summary value reads when it is a NaN or an infinity, else
    ``None``; of a ``define_metric`` summary (``{"min": nan}``), the component that
    :func:`summary_metric` would take."""
    raw = metric_in(summary, name)
    if raw is None:  # a table's flattened `loss.min` column
        flat = ((k, metric_in(summary, f"{name}.{k}")) for k in _SUMMARY_KEYS[goal])
        raw = {k: v for k, v in flat if v is not None}
    if isinstance(raw, Mapping):
        raw = next((raw[key] for key in _SUMMARY_KEYS[goal] if key in raw), None)
    return _not_finite(raw)


def _not_finite(value: Any) -> str | None:
    """How ``value`` reads when it is a NaN or an infinity (a float, or text spelling one:
    ``nan``, ``inf``, ``-Infinity``), else ``None``."""
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    return None


def _logged_hint(candidate: PriorCandidate, name: str) -> str:
    """What the run did log, when a key is close to the metric's name (``val/loss`` for
    ``val_loss``)."""
    import difflib

    keys = {str(k) for k in candidate.summary if not str(k).startswith("_")}
    for row in candidate.history[-1:]:
        keys.update(str(k) for k in row if not str(k).startswith("_"))
    close = difflib.get_close_matches(name, sorted(keys), n=1, cutoff=0.6)
    return f" (it logged {close[0]!r}: is that the metric?)" if close else ""


def _last_logged(
    history: Sequence[Mapping[str, Any]], name: str
) -> tuple[float | None, str | None]:
    """The last value of ``name`` the run logged, and, when that was a NaN or an infinity,
    how it reads (then the value is ``None``: an earlier finite one is not the run's end)."""
    for row in reversed(history):
        raw = metric_in(row, name)
        diverged = _not_finite(raw)
        if diverged is not None:
            return None, diverged
        value = number(raw)
        if value is not None:
            return value, None
    return None, None


def match_priors(
    config: SweepConfig, candidates: Sequence[PriorCandidate]
) -> tuple[list[TakenPrior], list[SkippedPrior]]:
    """Match every candidate; a run met again is taken once, first come: the same run id,
    or, for a table row without one, the same row of the same file, or a row with the
    same name, creation time and parameters (W&B's export of it, copied or given again)."""
    taken: list[TakenPrior] = []
    skipped: list[SkippedPrior] = []
    seen: dict[str, str] = {}
    for candidate in candidates:
        keys = _identity(candidate)
        first = next((seen[k] for k in keys if k in seen), None)
        if first is None:
            result = match_prior(config, candidate)
            if isinstance(result, SkippedPrior):
                skipped.append(result)
                continue
            keys += _identity(candidate, result.params)
            first = next((seen[k] for k in keys if k in seen), None)
            if first is None:
                taken.append(result)
                seen.update((k, candidate.source) for k in keys)
                continue
        skipped.append(SkippedPrior(candidate, f"the same run as {first} (taken once)"))
    return taken, skipped


def _identity(
    candidate: PriorCandidate, params: Mapping[ParamPath, Any] | None = None
) -> list[str]:
    """What tells ``candidate`` apart from another run: its run id, or, without one, its
    table row; with ``params`` (once matched), a row's name, creation time and values."""
    if candidate.run_id is not None:
        return [] if params is not None else [f"id {candidate.run_id}"]
    if params is None:
        if candidate.table_row is None:
            return []
        path, row = candidate.table_row
        return [f"row {row} of {path}"]
    if candidate.name is None or candidate.created_at is None:
        return []
    values = repr(sorted((".".join(k), repr(v)) for k, v in params.items()))
    return [f"named {candidate.name} {candidate.created_at.isoformat()} {values}"]
