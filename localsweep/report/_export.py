"""A sweep's runs out of localsweep: a CSV or JSON table, or an Optuna storage that
``optuna-dashboard`` opens."""

from __future__ import annotations

import contextlib
import csv
import json
import logging
import math
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

from localsweep.report._params import flat_params, sweep_parameters
from localsweep.report._study import quiet_optuna, sweep_study
from localsweep.store._urls import shown_url

if TYPE_CHECKING:
    import optuna

    from localsweep.api import Run, Sweep
    from localsweep.config import Parameter

__all__ = ["export_optuna", "export_runs", "run_rows"]

logger = logging.getLogger(__name__)

#: The columns every row starts with, in this order.
FIXED_COLUMNS = (
    "id",
    "name",
    "state",
    "end_reason",
    "number",
    "created_at",
    "finished_at",
    "stopped_at_band",
    "metric",
)

#: The columns that say what a run is, not what it logged: the fixed ones, and those some
#: rows only have. A parameter or summary key may not take their names, and a runs table
#: given back as prior runs (``--prior-runs export.csv``) reads none of them as a summary
#: key (:mod:`localsweep.priors._tables` takes this list).
RUN_COLUMNS = frozenset((*FIXED_COLUMNS, "pareto", "prior", "prior_source"))


def _flat(data: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _flat(value, f"{name}.")
        else:
            yield name, value


def _json_safe(value: Any) -> Any:
    """Plain JSON values: non-finite floats become ``None`` (JSON has no NaN), anything
    exotic its string form."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return str(value)


def _row(
    sweep: Sweep, run: Run, parameters: tuple[Parameter, ...], pareto: set[str] | None = None
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": run.id,
        "name": run.name,
        "state": run.state,
        # Why it ended so (a plateau, hyperband, a cancel, lease_lost): what `show` gives.
        "end_reason": run.end_reason,
        "number": run.number,
        "created_at": run.created_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
        "stopped_at_band": run.stopped_at_band,
        "metric": run.metric,
    }
    if pareto is not None:  # a multi-objective sweep: whether the run is on its Pareto set
        row["pareto"] = run.id in pareto
    if run.prior:
        # Given to the sweep to learn from, not one of its own runs (see docs/prior-runs.md).
        row["prior"] = True
        row["prior_source"] = run.prior_source
    for key, value in flat_params(run.params, parameters).items():
        # A parameter named like a column (`name`, `state`, `metric`) must not overwrite
        # it: it is written `config.<name>`, which a prior-run source reads as the
        # parameter (the same column in every row, prior runs or not).
        row[f"config.{key}" if key in RUN_COLUMNS else key] = value
    for key, value in _flat(run.summary):
        if key.startswith("_"):
            continue  # wandb's bookkeeping: _step, _runtime, _timestamp, _wandb...
        # A summary key named like a column keeps the column's value and gets a prefix.
        row[f"summary.{key}" if key in row or key in RUN_COLUMNS else key] = value
    return row


def run_rows(sweep: Sweep) -> list[dict[str, Any]]:
    """One dict per run, in run order: ``id``, ``name``, ``state``, ``number``,
    ``created_at``, ``finished_at``, ``stopped_at_band``, ``metric`` (the sweep metric's
    summary value), then the parameters by dotted name (``optimizer.lr``; for a sweep whose
    space is a ``search_space``, every key its runs got; a parameter named like a column
    here, such as ``name`` or ``metric``, is written ``config.<name>``), then the summary
    keys without wandb's ``_``-prefixed ones (nested keys dotted; a key that clashes with
    a column above is written ``summary.<key>``). Prior runs come first, with ``prior``
    true and their ``prior_source``. A multi-objective sweep (``metrics:``) has no metric
    but a ``pareto`` column after it: whether the run is one of ``Sweep.pareto_runs()``
    (each objective's value is among the summary keys)."""
    pareto = None
    if sweep.parsed_config.is_multi_objective:
        pareto = {run.id for run in sweep.pareto_runs()}
    parameters = sweep_parameters(sweep)
    return [_row(sweep, run, parameters, pareto) for run in (*sweep.prior_runs, *sweep.runs)]


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    seen: dict[str, None] = dict.fromkeys(FIXED_COLUMNS)
    for row in rows:
        seen.update(dict.fromkeys(row))
    return list(seen)


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, (list, tuple, dict)):
        return json.dumps(_json_safe(value), sort_keys=True)
    return value


@contextlib.contextmanager
def _text_out(target: str | os.PathLike[str] | IO[str]) -> Iterator[IO[str]]:
    if isinstance(target, (str, os.PathLike)):
        path = Path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8", newline="") as stream:
            yield stream
    else:
        yield target


def export_runs(
    sweep: Sweep,
    format: Literal["csv", "json"],
    path_or_stream: str | os.PathLike[str] | IO[str],
) -> int:
    """Write one row per run (see :func:`run_rows`) as CSV or as a JSON array of objects to
    a file path or an open text stream; returns the number of rows.

    In JSON, a non-finite number (a NaN metric) is ``null``; in CSV a missing value is an
    empty cell and a list or dict is its JSON text.

    >>> export_runs(sweep, "csv", "runs.csv")               # doctest: +SKIP
    """
    if format not in ("csv", "json"):
        raise ValueError(f"format must be 'csv' or 'json', but got {format!r}")
    rows = run_rows(sweep)
    columns = _columns(rows)
    with _text_out(path_or_stream) as stream:
        if format == "json":
            # Each row's keys in the CSV's column order: a row's summary keys come in the
            # order its run logged them, which differs run to run (two exports would not
            # diff). A row keeps only the keys it has, as before.
            ordered = [{k: r[k] for k in columns if k in r} for r in rows]
            json.dump([_json_safe(r) for r in ordered], stream, indent=1, ensure_ascii=False)
            stream.write("\n")
        else:
            writer = csv.DictWriter(stream, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            for row in rows:
                writer.writerow({k: _csv_cell(v) for k, v in row.items()})
    logger.info("exported %d runs of sweep %s as %s", len(rows), sweep.id, format)
    return len(rows)


def storage_url(target: str | os.PathLike[str]) -> str:
    """A database URL for ``target``: URLs pass through, a file path becomes SQLite."""
    text = os.fspath(target)
    if "://" in text:
        return text
    return f"sqlite:///{Path(text).resolve()}"


def export_optuna(sweep: Sweep, storage_url_or_path: str | os.PathLike[str]) -> optuna.Study:
    """Write the sweep into an Optuna RDB storage as a study named after the sweep id (one
    trial per run, in run order) and return it; ``optuna-dashboard <url>`` then shows it.

    Trials carry the run's parameters (dotted names) with their distributions, its state
    (finished: COMPLETE, early_terminated: PRUNED, running: RUNNING, failed, crashed,
    killed or finished without a metric value: FAIL; in a multi-objective sweep a run
    stopped early with every objective's value is COMPLETE, as the search tells it), its
    metric as the value and the metric's history as intermediate values (step ``i`` is the
    ``i``-th value logged, hyperband's iteration count); the run id, name and state are
    user attributes. A study of the same name in that storage is replaced, so exporting
    again refreshes it.

    >>> export_optuna(sweep, "sqlite:///optuna.db")         # doctest: +SKIP
    """
    import optuna

    url = storage_url(storage_url_or_path)
    new_file = _new_sqlite_file(url)
    with quiet_optuna():
        storage = optuna.storages.RDBStorage(url)
    with _quick_commits(storage, new_file=new_file):
        with quiet_optuna():
            try:
                optuna.delete_study(study_name=sweep.id, storage=storage)
                logger.info("replacing study %s in %s", sweep.id, shown_url(url))
            except KeyError:
                pass
        study, _axes = sweep_study(sweep, storage=storage, export=True, with_history=True)
        with quiet_optuna():
            study.set_user_attr("localsweep_sweep_id", sweep.id)
            study.set_user_attr("localsweep_config", _json_safe(sweep.config))
            if sweep.parsed_config.metric is not None:
                study.set_user_attr("metric", sweep.parsed_config.metric.name)
    logger.info("exported %d runs of sweep %s to %s", len(sweep.runs), sweep.id, shown_url(url))
    return study


def _new_sqlite_file(url: str) -> bool:
    """Whether ``url`` is a SQLite file that does not exist yet (the export makes it)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return False
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return False
    return not Path(database).exists()


@contextlib.contextmanager
def _quick_commits(storage: optuna.storages.RDBStorage, *, new_file: bool) -> Iterator[None]:
    """Optuna's RDBStorage writes each trial in a transaction of its own, and each of its
    parameters, user attributes and intermediate values with a query before it, which
    flushes the row before to the database first: about 2 ms per parameter, so an export
    of 2,000 runs of 63 parameters took 4 minutes. While the export writes, the storage's
    sessions do not flush before each query (a trial's rows go in at its commit, at once;
    rows of the trials before it are committed, so Optuna's checks against them still
    hold) and SQLite does not wait for the disk at each commit (``synchronous=OFF``: a
    crash of the process loses nothing committed, a power cut may lose the last writes)
    and, in a file the export creates (nothing else in it to lose: an export cut short
    may leave it damaged, to be made again), keeps its rollback journal in memory. Both
    are undone on the way out, so the study returned is used as Optuna's own."""
    import sqlalchemy

    engine = storage.engine
    journal = "PRAGMA journal_mode=MEMORY" if new_file else None

    def quick(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        try:
            cursor.execute("PRAGMA synchronous=OFF")
            if journal is not None:
                cursor.execute(journal)
        finally:
            cursor.close()

    sqlite = engine.dialect.name == "sqlite"
    if sqlite:
        sqlalchemy.event.listen(engine, "connect", quick)
        engine.dispose()  # the connections that created the tables lack the settings
    # A session is made per thread on first use: the one that created the tables goes.
    storage.scoped_session.remove()
    storage.scoped_session.configure(autoflush=False)
    try:
        yield
    finally:
        storage.scoped_session.remove()
        storage.scoped_session.configure(autoflush=True)
        if sqlite:
            sqlalchemy.event.remove(engine, "connect", quick)
            engine.dispose()
