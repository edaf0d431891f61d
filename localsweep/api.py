"""Read sweeps and runs back, shaped like ``wandb.Api``'s objects.

>>> import localsweep
>>> api = localsweep.Api()                      # doctest: +SKIP
>>> sweep = api.sweep("ls-k3j9x2ab")            # doctest: +SKIP
>>> sweep.best_run().config                     # doctest: +SKIP
"""

from __future__ import annotations

import glob
import logging
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

from localsweep.config import Goal, SweepConfig
from localsweep.records import RESULT_STATES, RunState
from localsweep.store import RunRecord, Store, SweepRecord
from localsweep.store._tables import now

__all__ = ["Api", "Run", "Sweep"]

logger = logging.getLogger(__name__)


#: Seconds after a run ended during which its wandb file may still be being written.
FLUSH_WAIT = 10.0


class Run:
    """One run of a sweep, as stored. ``state`` is wandb's word for it, or
    ``early_terminated`` for a run stopped early: by hyperband (at band ``stopped_at_band``)
    or on a plateau of its metric (``end_reason`` says which)."""

    def __init__(self, store: Store, record: RunRecord):
        self._store = store
        self._record = record
        self._full_config: dict[str, Any] | None = None

    @property
    def id(self) -> str:
        """The wandb run id (for a prior run, its id where it was done)."""
        return self._record.prior_run_id or self._record.id

    @property
    def name(self) -> str:
        """wandb's name for the run, or ``run-<number>`` when it has none (offline runs)."""
        return self._record.name or f"run-{self._record.number}"

    @property
    def number(self) -> int:
        """The run's place in its sweep (0 for the first run created; prior runs have
        negative numbers, in the order they were given)."""
        return self._record.number

    @property
    def prior(self) -> bool:
        """Whether this is a prior run: done before the sweep and given to it to learn from
        (``--prior-runs``), not one of its own runs."""
        return self._record.prior

    @property
    def prior_source(self) -> str | None:
        """Where a prior run came from: a run folder, a table and row, a database's sweep."""
        return self._record.prior_source

    @property
    def sweep_id(self) -> str:
        """The id of the sweep the run belongs to."""
        return self._record.sweep_id

    @property
    def state(self) -> str:
        """``running``, ``finished``, ``failed``, ``crashed``, ``killed``, ``early_terminated``."""
        return self._record.state.value

    @property
    def params(self) -> dict[str, Any]:
        """The sweep's parameters for this run, nested as wandb delivered them (what the
        sweep chose; :attr:`config` holds every key the run set)."""
        return dict(self._record.config)

    @property
    def config(self) -> dict[str, Any]:
        """The run's config with wandb's meaning (``wandb.Api().run().config``): every key
        the run set (``wandb.init(config=...)``, ``wandb.config.update``, a Hydra program's
        whole config), the sweep's parameters included. Read from the run's offline wandb
        file; for a run without one (``train(config)`` without wandb) it is :attr:`params`.
        """
        if self._full_config is None:
            self._full_config = self._read_config()
        return dict(self._full_config)

    def _read_config(self) -> dict[str, Any]:
        params = dict(self._record.config)
        folder = self.dir
        if folder is None:
            return params
        path = Path(folder) / f"run-{self.id}.wandb"
        if not path.is_file():
            return params
        from localsweep.wandb_bridge import read_run_file, wait_for_exit_record

        try:
            state = read_run_file(path)
            wait = self._flush_wait()
            if not state.finished and wait > 0:
                # wandb-core writes a run's file in bursts (every 15 s, and at the end),
                # and its last write can land just after run.finish() returns: a run that
                # ended a moment ago may still be in its buffer.
                try:
                    state = wait_for_exit_record(path, timeout=wait, poll_interval=0.02)
                except TimeoutError:
                    state = read_run_file(path)  # killed: no exit record will come
            found = state.config
        except Exception:  # a damaged file: the parameters are still known
            logger.warning("cannot read the config of run %s from %s", self.id, path)
            return params
        return {**params, **found}

    def _flush_wait(self) -> float:
        """Seconds worth waiting for wandb-core's last write of this run's file: up to
        :data:`FLUSH_WAIT` after the run ended, none for a running or long-ended run."""
        ended = self._record.finished_at
        if ended is None or self._record.state == RunState.RUNNING:
            return 0.0
        since = (now() - ended).total_seconds()
        return max(0.0, min(FLUSH_WAIT, FLUSH_WAIT - since))

    @property
    def summary(self) -> dict[str, Any]:
        """The run's summary: each logged key's last value, and what was set in ``run.summary``."""
        return dict(self._record.summary)

    @property
    def metric(self) -> float | None:
        """The sweep metric's summary value (what W&B sorts a sweep's runs by)."""
        return self._record.metric

    @property
    def exit_code(self) -> int | None:
        """The exit code wandb recorded (0 for a finished run), or ``None`` while running."""
        return self._record.exit_code

    @property
    def error(self) -> str | None:
        """The traceback or message of a failed, crashed or killed run."""
        return self._record.error

    @property
    def stopped_at_band(self) -> int | None:
        """For a run hyperband stopped: the band (count of metric values) it was judged at."""
        return self._record.stopped_at_band

    @property
    def end_reason(self) -> str | None:
        """Why the run ended as it did, when something other than its own code ended it:
        ``hyperband`` (stopped by early termination), ``plateau`` (stopped itself when its
        metric stopped improving, ``localsweep: {early_stopping: ...}``), and the like."""
        return self._record.end_reason

    @property
    def attempt(self) -> int:
        """1 for a run that ran once; 2 or more for a preempted run that was resumed (with the
        same id) that many times."""
        return self._record.attempt

    @property
    def created_at(self) -> datetime:
        """When the run was claimed (UTC, naive)."""
        return self._record.created_at

    @property
    def finished_at(self) -> datetime | None:
        """When the run ended (UTC, naive), or ``None`` while running."""
        return self._record.finished_at

    @property
    def heartbeat_at(self) -> datetime | None:
        """When its agent last said the run was alive (UTC, naive; wandb's
        ``heartbeatAt``). A running run silent for longer than the heartbeat timeout has
        most likely lost its agent: the next agent's claim marks it crashed."""
        return self._record.heartbeat_at

    @property
    def dir(self) -> str | None:
        """The wandb offline run folder, which ``localsweep sync`` uploads."""
        if self._record.dir:
            return self._record.dir
        root = Path(os.environ.get("WANDB_DIR") or os.getcwd()) / "wandb"
        found = sorted(glob.glob(str(root / f"offline-run-*-{self.id}")))
        return found[-1] if found else None

    @property
    def stdout_path(self) -> str | None:
        """The file holding the program's standard output (program mode only)."""
        return self._record.stdout_path

    @property
    def stderr_path(self) -> str | None:
        """The file holding the program's standard error (program mode only)."""
        return self._record.stderr_path

    def history(
        self,
        samples: int | None = None,
        keys: Sequence[str] | None = None,
        x_axis: str = "_step",
        pandas: bool = False,
        stream: str = "default",
    ) -> Any:
        """The logged rows, in order, each a dict with its ``_step``; wandb.Api's
        arguments: ``keys`` keeps the rows that have all of them (cut to them and
        ``x_axis``), ``samples`` at most that many rows, evenly spread; ``pandas=True``
        a DataFrame. Unlike wandb's: every row unless ``samples`` is given, and a list
        unless ``pandas=True`` (wandb's defaults: 500 rows, a DataFrame)."""
        from localsweep._history import as_frame, sample_rows, select_rows

        if stream != "default":
            raise ValueError(f"stream={stream!r}: localsweep keeps the logged rows only")
        rows = list(select_rows(self._store.history(self._record.id), keys, x_axis))
        rows = sample_rows(rows, samples)
        return as_frame(rows) if pandas else rows

    def scan_history(
        self,
        keys: Sequence[str] | None = None,
        page_size: int = 1000,
        min_step: int | None = None,
        max_step: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every logged row (wandb.Api's ``scan_history``): with ``keys``, the rows that
        have all of them, cut to them and ``_step``; from ``min_step`` to before
        ``max_step``. ``page_size`` is accepted and not needed (no server to page)."""
        from localsweep._history import select_rows

        rows = self._store.history(self._record.id)
        return select_rows(rows, keys, "_step", min_step, max_step)

    def __repr__(self) -> str:
        prior = ", prior" if self.prior else ""
        return f"<Run {self.id} ({self.state}{prior})>"


class Sweep:
    """A sweep and its runs. ``runs`` are in the order they were created."""

    def __init__(self, store: Store, record: SweepRecord):
        self._store = store
        self._record = record

    @property
    def id(self) -> str:
        """The sweep id (``ls-`` and 8 letters or digits)."""
        return self._record.id

    @property
    def name(self) -> str:
        """The sweep's name, or its id when it has none."""
        return self._record.name or self._record.id

    @property
    def config(self) -> dict[str, Any]:
        """The sweep config as written (with numbers written as strings converted)."""
        return dict(self._record.config.raw)

    @property
    def parsed_config(self) -> SweepConfig:
        """The config as localsweep understood it (defaults and inferred distributions filled)."""
        return self._record.config

    @property
    def state(self) -> str:
        """``pending`` (no run yet), ``running``, ``paused``, ``finished`` (its
        ``finished_reason`` says why: ``stopped`` for :meth:`stop`) or ``canceled``."""
        return self._record.state.value

    def pause(self) -> Sweep:
        """Start no new run until :meth:`resume`; running runs go on (``wandb sweep --pause``).
        Agents see it within a few seconds and wait."""
        return self._control("pause")

    def resume(self) -> Sweep:
        """Let a paused, stopped or cancelled sweep start runs again (``wandb sweep --resume``)."""
        return self._control("resume")

    def stop(self) -> Sweep:
        """Finish the sweep: running runs finish, no new run starts (``wandb sweep --stop``)."""
        return self._control("stop")

    def cancel(self) -> Sweep:
        """Stop the running runs too, cleanly (recorded ``killed``, end reason ``cancelled``;
        their points run again if the sweep is resumed) (``wandb sweep --cancel``)."""
        return self._control("cancel")

    def _control(self, action: str) -> Sweep:
        self._record = self._store.control_sweep(self.id, action)
        return self

    @property
    def finished_reason(self) -> str | None:
        """Why a finished sweep finished: ``exhausted``, ``run_cap``, ``target_reached``..."""
        return self._record.finished_reason

    @property
    def project(self) -> str | None:
        """The wandb project its runs are filed under."""
        return self._record.project

    @property
    def entity(self) -> str | None:
        """The wandb entity (user or team) it was created for, if one was given."""
        return self._record.entity

    @property
    def created_at(self) -> datetime:
        """When the sweep was created (UTC, naive)."""
        return self._record.created_at

    @cached_property
    def _all_runs(self) -> list[Run]:
        return [Run(self._store, r) for r in self._store.list_runs(self.id)]

    @property
    def runs(self) -> list[Run]:
        """The sweep's own runs, in the order they were created (read once, then cached).
        Prior runs are not among them, as in wandb's Api: see :attr:`prior_runs`."""
        return [r for r in self._all_runs if not r.prior]

    @property
    def prior_runs(self) -> list[Run]:
        """The runs given to the sweep to learn from (``--prior-runs``, wandb's prior runs),
        in the order they were given."""
        return [r for r in self._all_runs if r.prior]

    def best_run(self, order: str | None = None) -> Run | None:
        """The run with the best summary value of the sweep metric among the runs with a
        result, finished or stopped early (Hyperband, a plateau: the value they reached), as
        W&B's sweep page ranks them; ``None`` when no such run has one. Failed, crashed
        and killed runs do not count: a partial value is no result. Prior runs count too
        (``Run.prior`` says which it is).

        ``order`` ranks by something else, read as wandb's ``Sweep.best_run`` reads it: a
        summary key (``"acc"``, a nested ``"val.acc"``, or ``"summary_metrics.acc"``),
        a config key (``"config.lr"``) or ``"createdAt"``, ``"updatedAt"``, ``"name"``;
        the largest first, unless it starts with ``+`` (the smallest first; ``-`` is the
        largest, as without a sign).
        """
        metric = self._record.config.metric
        if order is not None and metric is not None and _bare(order) == metric.name:
            # The sweep metric, read as best_run() reads it (a define_metric summary too).
            value_of, maximize = (lambda run: run.metric), not order.startswith("+")
        elif order is not None:
            value_of, maximize = _order_key(order)
        elif metric is not None:
            value_of, maximize = (lambda run: run.metric), metric.goal is Goal.MAXIMIZE
        else:
            return None
        best: Run | None = None
        best_value: Any = None
        for run in self._all_runs:
            if run.state not in RESULT_STATES:
                continue
            value = value_of(run)
            if value is None or (isinstance(value, float) and not math.isfinite(value)):
                continue
            # Text sorts as text (order="config.optimizer"), above every number.
            value = (isinstance(value, str), value)
            if best is None or (value > best_value if maximize else value < best_value):
                best, best_value = run, value
        if best is None and order is not None:
            logger.warning("best_run(order=%r): no run with a result has that value", order)
        return best

    def pareto_runs(self) -> list[Run]:
        """The runs with a result (finished or stopped early, as :meth:`best_run` counts
        them) no other such run beats in every objective of the sweep's ``metrics`` (its
        Pareto set), prior runs first, then the sweep's own in creation order. For a
        multi-objective sweep this takes :meth:`best_run`'s place, and like it counts prior
        runs (``Run.prior`` says which it is): a trade-off found before is still on the
        front. With one metric it is the best run(s). A run missing an objective's value is
        on no front."""
        from localsweep.search._multi import non_dominated, objective_values

        metrics = self._record.config.objectives
        if not metrics:
            return []
        scored = []
        for run in (*self.prior_runs, *self.runs):
            if run.state not in RESULT_STATES:
                continue
            values = objective_values(run.summary, metrics)
            if values is not None:
                scored.append((run, values))
        front = non_dominated([v for _, v in scored], [m.goal for m in metrics])
        return [scored[i][0] for i in front]

    def __repr__(self) -> str:
        return f"<Sweep {self.id} ({self.state})>"


#: wandb's run columns that ``order`` may name (``QueryGenerator.format_order_key``).
_RUN_COLUMNS = {
    "createdAt": lambda run: run.created_at,
    "updatedAt": lambda run: run.finished_at or run.created_at,
    "name": lambda run: run.name,
}


def _bare(order: str) -> str:
    """``order``'s summary key without its sign and ``summary_metrics.`` prefix."""
    key = order[1:] if order.startswith(("+", "-")) else order
    return key.removeprefix("summary_metrics.")


def _order_key(order: str) -> tuple[Any, bool]:
    """How ``best_run(order=...)`` reads a run's value, and whether the largest is best:
    as wandb's ``QueryGenerator.format_order_key`` (no sign or ``-``: descending)."""
    maximize = not order.startswith("+")
    key = order[1:] if order.startswith(("+", "-")) else order
    if key in _RUN_COLUMNS:
        return _RUN_COLUMNS[key], maximize
    head, _, rest = key.partition(".")
    if head == "config" and rest:
        return (lambda run: _nested_number(run.config, rest)), maximize
    path = rest if head == "summary_metrics" and rest else key
    # A define_metric summary ({"min": 0.2}) reads as the value the order wants.
    parts = ("max", "best", "last") if maximize else ("min", "best", "last")
    return (lambda run: _nested_number(run.summary, path, parts)), maximize


def _nested_number(
    data: Mapping[str, Any], path: str, parts: tuple[str, ...] = ()
) -> float | str | None:
    """The number or text at ``path`` (a key, or dotted keys into nested dicts; a key that
    itself holds a dot is found first); for a ``define_metric`` summary there (a dict),
    its first of ``parts`` that is a number."""
    value: Any = data
    if path in data:
        value = data[path]
    else:
        for part in path.split("."):
            if not isinstance(value, Mapping) or part not in value:
                return None
            value = value[part]
    if isinstance(value, Mapping):
        return next((n for k in parts if (n := _number(value.get(k))) is not None), None)
    return value if isinstance(value, str) else _number(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


class Api:
    """Read access to a localsweep database (``db``: a path or SQLAlchemy URL; default as
    everywhere: ``LOCALSWEEP_DB`` or ``./localsweep.db``)."""

    def __init__(self, db: str | os.PathLike[str] | None = None, *, store: Store | None = None):
        self._db = db
        self._opened = store

    @property
    def _store(self) -> Store:
        # Opened at first use, and never created: reading must not leave an empty
        # database (or its folders) behind on a mistyped path.
        if self._opened is None:
            from localsweep.store import require_database

            self._opened = Store(require_database(self._db))
        return self._opened

    def sweeps(self) -> list[Sweep]:
        """Every sweep in the database, oldest first."""
        return [Sweep(self._store, r) for r in self._store.list_sweeps()]

    def sweep(self, sweep_id: str) -> Sweep:
        """The sweep ``sweep_id`` (wandb's ``entity/project/id`` form is accepted too)."""
        return Sweep(self._store, self._store.get_sweep(sweep_id.rsplit("/", 1)[-1]))

    def run(self, run_id: str) -> Run:
        """The run ``run_id`` (wandb's ``entity/project/id`` form is accepted too)."""
        return Run(self._store, self._store.get_run(run_id.rsplit("/", 1)[-1]))


def summary_items(summary: Mapping[str, Any]) -> dict[str, Any]:
    """A summary without wandb's bookkeeping keys (``_step``, ``_runtime``, ``_timestamp``...)."""
    return {k: v for k, v in summary.items() if not k.startswith("_")}
