"""Prior runs: a new sweep that learns from runs already done (wandb's ``prior_runs``).

Read runs from their sources (this or another localsweep database, wandb offline run
folders, CSV/JSON runs tables), match each onto the sweep's parameters, and write the
ones that fit into the sweep as prior runs. Matching is pure (``_match``, and ``_place``
for one value); reading is in ``_sources`` and ``_tables``; writing in
:mod:`localsweep.store._priors`.

>>> from localsweep.priors import load_prior_runs          # doctest: +SKIP
>>> found = load_prior_runs(config, ["wandb/offline-run-*", "old.db#ls-k3j9x2ab"])
>>> print("\\n".join(found.summary_lines()))                # doctest: +SKIP
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from localsweep.config import Method, SweepConfig, whole_floats_as_ints
from localsweep.errors import PriorRunsError, Violation
from localsweep.priors._match import (
    PriorCandidate,
    SkippedPrior,
    TakenPrior,
    find_value,
    match_priors,
    metric_in,
    number,
)
from localsweep.priors._sources import SourceRuns, read_source, shared_exit_record_wait

if TYPE_CHECKING:
    from localsweep.store import RunRecord, Store
    from localsweep.store._priors import PriorRunRow

__all__ = [
    "PriorCandidate",
    "PriorRuns",
    "SkippedPrior",
    "SourceRuns",
    "TakenPrior",
    "add_prior_runs",
    "load_prior_runs",
]

logger = logging.getLogger(__name__)

#: Reasons listed one by one in a summary; more are counted.
_SHOWN_SKIPS = 10


@dataclass(frozen=True)
class PriorRuns:
    """The prior runs found for a sweep: what each source gave, what was taken, what was
    skipped and why."""

    sources: tuple[SourceRuns, ...]
    taken: tuple[TakenPrior, ...]
    skipped: tuple[SkippedPrior, ...]
    #: What the prior runs will and will not do for this sweep, in words.
    notes: tuple[str, ...] = ()
    #: The metric of a grid sweep, whose prior runs without it still hold their points
    #: (a search skips such runs: there is nothing to learn from them).
    grid_metric: str | None = None

    def summary_lines(self) -> list[str]:
        """What was taken and skipped, per source, in words (the CLI prints these)."""
        lines = []
        for source in self.sources:
            mine = {id(c) for c in source.candidates}
            taken = [t for t in self.taken if id(t.candidate) in mine]
            skipped = [s for s in self.skipped if id(s.candidate) in mine]
            lines.append(
                f"{source.source} ({source.kind}): {_runs(len(source.candidates))}, "
                f"{len(taken)} taken, {len(skipped)} skipped"
            )
            columns = _parameter_columns(taken)
            if columns and any(t.candidate.from_table for t in taken):
                lines.append("  columns taken as parameters: " + columns)
        shown = list(self.skipped[:_SHOWN_SKIPS])
        for skip in shown:
            lines.append(f"  skipped {skip.candidate.source}: {skip.reason}")
        if len(self.skipped) > len(shown):
            lines.append(f"  ... and {len(self.skipped) - len(shown)} more skipped")
        no_metric = sum(1 for t in self.taken if t.metric is None)
        total = f"{len(self.taken)} taken"
        if no_metric and self.grid_metric is not None:
            total += (
                f" ({no_metric} of them without the metric {self.grid_metric}: they hold "
                "grid points only)"
            )
        partial = sum(1 for t in self.taken if t.missing_objectives)
        if partial:
            total += (
                f" ({partial} of them without every objective: on no Pareto front, and "
                "failed runs to the search)"
            )
        lines.extend(f"  note: {note}" for note in self.notes)
        lines.append(f"prior runs: {total}, {len(self.skipped)} skipped")
        return lines


def _runs(n: int) -> str:
    return f"{n} run" if n == 1 else f"{n} runs"


def _parameter_columns(taken: Sequence[TakenPrior]) -> str:
    seen: dict[str, str] = {}
    for prior in taken:
        for path, column in prior.columns.items():
            seen.setdefault(".".join(path), column)
    return ", ".join(
        name if column == name else f"{name} <- {column}" for name, column in seen.items()
    )


def load_prior_runs(
    config: SweepConfig | Mapping[str, Any] | str | os.PathLike[str],
    sources: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    store: Store | None = None,
) -> PriorRuns:
    """Read every source and match its runs onto ``config``'s parameters.

    ``config`` is a parsed config, or a dict or YAML/JSON file as :func:`localsweep.sweep`
    takes it; ``sources`` one source or a list of them. ``store`` is the database the
    sweep lives in, where bare run and sweep ids are looked up. Raises
    :class:`~localsweep.errors.PriorRunsError` (a ``ConfigError``, field ``prior_runs``)
    for a source that is none of the kinds a source may be, or cannot be read, or a table
    none of whose columns is a parameter of the sweep; and when no run at all can be
    taken (the sweep would start cold, which the user did not ask for).
    """
    if not isinstance(config, SweepConfig):
        from localsweep.config import load_config

        config = load_config(config)
    found_sources: list[SourceRuns] = []
    problems: list[Violation] = []
    with shared_exit_record_wait():
        for source in source_list(sources):
            try:
                found_sources.append(read_source(source, store))
            except PriorRunsError as exc:  # every bad source at once, not the first
                problems.extend(exc.violations)
                partial = getattr(exc, "partial", None)  # a glob's tables that could be read
                if isinstance(partial, SourceRuns):
                    found_sources.append(partial)
    read = tuple(found_sources)
    candidates = [c for source in read for c in source.candidates]
    taken, skipped = match_priors(config, candidates)
    for skip in skipped:
        logger.info("prior run %s skipped: %s", skip.candidate.source, skip.reason)
    notes: tuple[str, ...] = ()
    if config.method is Method.RANDOM:
        notes = (
            "a random search draws as it always does (wandb's looks at no runs): the prior "
            "runs count in show, the report and best_run(), and in hyperband's bands",
        )
    grid_metric = None
    if config.method is Method.GRID and config.metric is not None:
        grid_metric = config.metric.name
    found = PriorRuns(read, tuple(taken), tuple(skipped), notes, grid_metric)
    problems += [v for source in read for v in _check_table_columns(config, source, found)]
    if problems:
        raise PriorRunsError(problems)
    if not taken:
        raise PriorRunsError([Violation("prior_runs", _none_taken(read, skipped))])
    return found


def _none_taken(read: Sequence[SourceRuns], skipped: Sequence[SkippedPrior]) -> str:
    given = ", ".join(repr(s.source) for s in read)
    if not skipped:
        why = "it holds no runs" if len(read) == 1 else "they hold no runs"
    else:
        shown = [f"{s.candidate.source} {s.reason}" for s in skipped[:_SHOWN_SKIPS]]
        if len(skipped) > len(shown):
            shown.append(f"... and {len(skipped) - len(shown)} more")
        why = "; ".join(shown)
    return (
        f"no run of {given} can be taken, so the sweep would start cold ({why}). Fix the "
        "runs or the sweep's parameters, or leave the prior runs out"
    )


def source_list(
    sources: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None,
) -> list[str | os.PathLike[str]]:
    """``sources`` as a list: one path or id given alone is one source, not its letters.
    An empty source names nothing: it is an error, not a cold start the user did not ask
    for (``prior_runs=""`` from an unset variable, ``-R ""`` from an empty shell one)."""
    if sources is None:
        return []
    listed = [sources] if isinstance(sources, (str, os.PathLike)) else list(sources)
    if any(not str(s).strip() for s in listed):
        raise PriorRunsError(
            [
                Violation(
                    "prior_runs",
                    "an empty source names no runs: give a run id, a sweep id, a wandb run "
                    "folder or a glob of them, or a CSV/JSON runs table; or leave "
                    "prior_runs out (no --prior-runs) to start the sweep cold",
                )
            ]
        )
    return listed


def _check_table_columns(
    config: SweepConfig, source: SourceRuns, found: PriorRuns
) -> list[Violation]:
    # A table none of whose columns is a parameter: most likely another separator, or
    # another sweep's table. Say so instead of once per row. A table that lacks only some
    # parameters (the new sweep added one) is no error: its rows are skipped, each saying
    # which parameter it has no value for, and the other sources are taken.
    tables: dict[str, list[PriorCandidate]] = {}
    for c in source.candidates:
        if c.table is not None:
            tables.setdefault(c.table, []).append(c)
    taken = {id(t.candidate) for t in found.taken}
    problems = []
    for table, rows in tables.items():
        if any(id(c) in taken for c in rows) or any(
            find_value(c.config, p.path)[1] is not None for c in rows for p in config.parameters
        ):
            continue
        columns = sorted({str(k) for c in rows for k in c.config})
        shown = ", ".join(columns[:12]) + (", ..." if len(columns) > 12 else "")
        names = ", ".join(p.name for p in config.parameters)
        hint = ""
        if any(sep in col for col in columns for sep in (";", "\t")):
            hint = " Its columns look separated by ';' or tabs: save it comma-separated."
        problems.append(
            Violation(
                "prior_runs",
                f"{table!r}: none of its columns names a parameter of the sweep "
                f"(columns: {shown}; parameters: {names}). Name a column after each "
                f"parameter (dotted for nested ones, or config.<name>).{hint}",
            )
        )
    return problems


def prior_rows(config: SweepConfig, taken: Sequence[TakenPrior]) -> list[PriorRunRow]:
    """The taken priors as the store writes them: nested config (whole floats as ints, as
    a run of the sweep gets it), grid point, and each logged row with the sweep metric's
    value in it."""
    from localsweep.store import HistoryRow
    from localsweep.store._priors import PriorRunRow

    grid = None
    if config.method is Method.GRID:
        from localsweep.search._grid import GridSearch

        grid = GridSearch(config)
    rows = []
    for prior in taken:
        c = prior.candidate
        history = []
        for i, data in enumerate(c.history):
            value: Any = metric_in(data, config.metric.name) if config.metric else None
            has = value is not None
            step = data.get("_step")
            history.append(
                HistoryRow(
                    step=step if isinstance(step, int) else i,
                    data=data,
                    metric=_as_metric(value),
                    has_metric=has,
                )
            )
        rows.append(
            PriorRunRow(
                source=c.source,
                state=prior.state,
                # As the sweep's own runs get it (2.0 as 2, as W&B's server hands it over),
                # so show, the Api, exports and the report see one value for both.
                config=whole_floats_as_ints(config.nest(prior.params)),
                run_id=c.run_id,
                name=c.name,
                summary=_summary(c.summary, prior.columns) if c.from_table else dict(c.summary),
                metric=prior.metric,
                history=tuple(history),
                grid_key=grid.key_for(prior.params) if grid is not None else None,
                created_at=c.created_at,
                finished_at=c.finished_at,
                stopped_at_band=c.stopped_at_band,
                dir=c.dir,
            )
        )
    return rows


def _as_metric(value: Any) -> float | None:
    n = number(value)
    if n is not None:
        return n
    if isinstance(value, float) and math.isnan(value):
        return None
    return None


def _summary(summary: Mapping[str, Any], columns: Mapping[Any, str]) -> dict[str, Any]:
    # A table row is both config and summary: its parameter columns are not summary keys.
    # A localsweep export's summary was nested again (``opt.lr`` is ``{"opt": {"lr": ..}}``):
    # its parameter columns go by their dotted path.
    kept = {str(k): v for k, v in summary.items()}
    for column in set(columns.values()):
        if column in kept:
            del kept[column]
        elif "." in column:
            kept = _without_path(kept, column.split("."))
    return kept


def _without_path(data: dict[str, Any], path: list[str]) -> dict[str, Any]:
    """``data`` without ``path`` in its nested dicts, nor the dicts that leaves empty (a
    copy: the candidate's own summary stays as read)."""
    child = data.get(path[0])
    rest: dict[str, Any] = {}
    if len(path) > 1:
        if not isinstance(child, dict):
            return data
        rest = _without_path(child, path[1:])
    kept = dict(data)
    if rest:
        kept[path[0]] = rest
    else:
        kept.pop(path[0], None)
    return kept


def add_prior_runs(
    store: Store, sweep_id: str, config: SweepConfig, found: PriorRuns
) -> list[RunRecord]:
    """Write the taken priors of ``found`` into sweep ``sweep_id``, in one transaction."""
    from localsweep.store._priors import add_prior_runs as write

    if not found.taken:
        return []
    return write(store, sweep_id, prior_rows(config, found.taken))


def stream_key(store: Store, sweep_id: str) -> str:
    """What sweep ``sweep_id``'s random streams are keyed on besides its seed and the run's
    number: a digest of the points its prior runs hold, ``""`` when it has none (so a sweep
    without prior runs draws as before).

    A sweep warm-started from a sweep of the same config and seed would otherwise draw, run
    by run, the very points its prior runs hold (the old sweep's runs 0, 1, ... drew from
    the same streams) and run them again. The points, not the runs' ids, make the key: the
    same sources give the same prior runs, so a seeded sweep stays reproducible, whereas a
    prior run's row id is a new one when its own id is taken in this database. Sorted: the
    order the sources were given in changes nothing the search learns. Read once, by each
    agent as it starts (prior runs are written with the sweep, before any agent)."""
    import hashlib
    import json

    points = sorted(
        json.dumps(run.config, sort_keys=True, default=repr)
        for run in store.list_prior_runs(sweep_id)
    )
    if not points:
        return ""
    return hashlib.sha256("\n".join(points).encode()).hexdigest()[:16]
