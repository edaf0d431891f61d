"""The ``Run`` read object of :mod:`localsweep.api` (wandb.Api's ``Run``)."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localsweep._api_runs import app_url
from localsweep._api_summary import RunSummary, SummaryKeyError
from localsweep._history import HistoryScan
from localsweep.records import RunState
from localsweep.store import RunRecord, Store

if TYPE_CHECKING:
    from localsweep.api import Sweep
    from localsweep.wandb_bridge import RunFileSummary

__all__ = ["Run", "RunSummary", "SummaryKeyError"]

logger = logging.getLogger("localsweep.api")

#: Runs whose missing times were said (once per process: history() is called per run).
_TIMES_SAID: set[str] = set()

#: Whether scan_history() was asked for wandb's times (said once per process).
_SCAN_TIMES_SAID: list[bool] = []


#: Seconds after a run ended during which its wandb file may still be being written.
FLUSH_WAIT = 10.0


class Run:
    """One run of a sweep, as stored. ``state`` is wandb's word for it, or
    ``early_terminated`` for a run stopped early: by hyperband (at band ``stopped_at_band``)
    or on a plateau of its metric (``end_reason`` says which)."""

    def __init__(self, store: Store, record: RunRecord, sweep: Sweep | None = None):
        self._store = store
        self._record = record
        self._full_config: dict[str, Any] | None = None
        self._summary: dict[str, Any] | None = None
        self._sweep = sweep

    def load(self, force: bool = False) -> Run:
        """Read the run again from the database (wandb's ``Run.load``): its state, summary,
        config and sweep as they are now. Returns the run."""
        self._record = self._store.get_run(self._record.id)
        self._full_config = None
        self._summary = None
        self._sweep = None
        return self

    @property
    def sweep(self) -> Sweep:
        """The :class:`Sweep` the run belongs to (wandb's ``Run.sweep``)."""
        if self._sweep is None:
            from localsweep.api import Sweep

            self._sweep = Sweep(self._store, self._store.get_sweep(self._record.sweep_id))
        return self._sweep

    @property
    def sweep_name(self) -> str:
        """The sweep's id, as wandb's ``Run.sweep_name`` (the server's name for it)."""
        return self._record.sweep_id

    @property
    def entity(self) -> str | None:
        """The wandb entity of the run's sweep, ``None`` when none was given (``localsweep
        sync`` then uploads to the server's default entity)."""
        return self.sweep.entity

    @property
    def project(self) -> str:
        """The wandb project the run is filed under: its sweep's, or ``uncategorized``
        (wandb's name for none)."""
        return self.sweep.project or "uncategorized"

    @property
    def path(self) -> list[str]:
        """``[entity, project, id]`` as wandb's ``Run.path`` (entity ``""`` when unknown);
        ``"/".join(run.path)`` is a path :meth:`Api.run` takes."""
        return [self.entity or "", self.project, self.id]

    @property
    def url(self) -> str | None:
        """The run's page on W&B once ``localsweep sync`` uploaded it (the latest sync
        that did), else ``None``: an offline run has no page."""
        from localsweep.store import _sync_state

        engine = self._store.engine
        for target in reversed(_sync_state.find_targets(engine, self._record.sweep_id)):
            outcome = _sync_state.run_outcomes(engine, target.id).get(self._record.id)
            if outcome is not None and outcome.outcome == "synced":
                return f"{app_url(target.base_url)}/{target.entity}/{target.project}/runs/{self.id}"
        return None

    @property
    def id(self) -> str:
        """The wandb run id (for a prior run, its id where it was done)."""
        return self._record.prior_run_id or self._record.id

    @property
    def name(self) -> str:
        """wandb's name for the run, or ``run-<number>`` when it has none (offline runs)."""
        return self._record.name or f"run-{self._record.number}"

    @property
    def display_name(self) -> str:
        """:attr:`name`, under wandb.Api's other name for it (``displayName``)."""
        return self.name

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
        state = self._run_file(Path(folder) / f"run-{self.id}.wandb", config_only=True)
        return params if state is None else {**params, **state.config}

    def _run_file(self, path: Path, config_only: bool = False) -> RunFileSummary | None:
        """What the run's offline wandb file ``path`` says, ``None`` when it is missing or
        damaged (the store still knows the run's parameters and rows); ``config_only``:
        without its history and summary."""
        if not path.is_file():
            return None
        from localsweep.wandb_bridge import read_run_file, wait_for_exit_record

        try:
            state = read_run_file(path, config_only=config_only)
            wait = 0.0 if state.finished else self._flush_wait()
            if wait > 0:
                # wandb-core writes a run's file in bursts (every 15 s, and at the end),
                # and its last write can land just after run.finish() returns: a run that
                # ended a moment ago may still be in its buffer.
                try:
                    state = wait_for_exit_record(
                        path, timeout=wait, poll_interval=0.02, config_only=config_only
                    )
                except TimeoutError:  # killed: no exit record will come
                    state = read_run_file(path, config_only=config_only)
        except Exception:  # a damaged file
            logger.warning("cannot read run %s's wandb file %s", self.id, path)
            return None
        return state

    def _flush_wait(self) -> float:
        """Seconds worth waiting for wandb-core's last write of this run's file: up to
        :data:`FLUSH_WAIT` after the run ended, none for a running or long-ended run. By
        the database's clock, which wrote the end: by this machine's, five minutes slow, the
        summary of every run killed in the last five minutes waited the whole 10 s."""
        ended = self._record.finished_at
        if ended is None or self._record.state == RunState.RUNNING:
            return 0.0
        since = (self._store.db_time() - ended).total_seconds()
        return max(0.0, min(FLUSH_WAIT, FLUSH_WAIT - since))

    @property
    def summary(self) -> RunSummary:
        """The run's summary: each logged key's last value, what was set in
        ``run.summary``, and wandb's ``_runtime``, ``_timestamp`` and ``_step`` for a run
        that ran wandb, as wandb writes them into every run's summary; a ``dict`` (with
        wandb.Api's ``_json_dict`` too)."""
        if self._summary is None:
            self._summary = self._read_summary()
        return RunSummary(self._summary)

    def _read_summary(self) -> dict[str, Any]:
        summary = dict(self._record.summary)
        folder = self._record.dir  # set for a run that ran wandb (none: nothing to add)
        if folder is None:
            return summary
        # wandb's modules only when a run's file is read: `localsweep ls` and other quick
        # reads spent 0.7 s importing wandb.
        from localsweep.wandb_bridge._summary_tail import WANDB_SUMMARY_KEYS, with_wandb_keys

        if all(key in summary for key in WANDB_SUMMARY_KEYS):
            return summary
        # A function-mode run that never wrote to its summary is stored without them.
        return with_wandb_keys(summary, Path(folder) / f"run-{self.id}.wandb")

    @property
    def summary_metrics(self) -> RunSummary:
        """:attr:`summary`, under wandb's other name for it."""
        return self.summary

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
        ``heartbeatAt``): its end, for a run its agent ended. A running run silent for
        longer than the heartbeat timeout has most likely lost its agent: the next agent's
        claim marks it crashed (and its heartbeat stays the last one it gave)."""
        return self._record.heartbeat_at

    def _db_time(self) -> datetime:
        """Now by the database's clock (:meth:`Store.db_time`), which wrote
        :attr:`heartbeat_at`: what the ui judges a silent run against."""
        return self._store.db_time()

    @property
    def dir(self) -> str | None:
        """The wandb offline run folder, which ``localsweep sync`` uploads."""
        if self._record.dir:
            return self._record.dir
        from localsweep.wandb_bridge._folders import folders_of

        root = Path(os.environ.get("WANDB_DIR") or os.getcwd()) / "wandb"
        found = folders_of(root, self.id)
        return str(found[-1]) if found else None

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
        arguments: ``keys`` keeps the rows that have all of them and ``x_axis`` (cut to
        ``x_axis`` and them), ``samples`` at most that many rows, evenly spread;
        ``pandas=True`` a DataFrame. ``x_axis="_runtime"`` or ``"_timestamp"`` (or either
        among ``keys``) adds wandb's seconds since the run started, or the time it logged
        the row, read from the run's offline folder. Unlike wandb's: every row unless
        ``samples`` is given, and a list unless ``pandas=True`` (wandb's defaults: 500 rows,
        a DataFrame)."""
        from localsweep._history import WANDB_TIMES, as_frame, sample_rows, select_rows

        if stream != "default":
            raise ValueError(f"stream={stream!r}: localsweep keeps the logged rows only")
        # wandb reads an empty keys list as no keys (Run.history: `elif keys:`).
        keys = None if keys is not None and not isinstance(keys, str) and not keys else keys
        rows = self._store.history(self._record.id)
        asked = {x_axis, *(keys if keys is not None and not isinstance(keys, str) else ())}
        if asked & WANDB_TIMES:
            rows = self._with_times(rows)
        rows = sample_rows(list(select_rows(rows, keys, x_axis)), samples)
        return as_frame(rows) if pandas else rows

    def _with_times(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """``rows`` with wandb's ``_runtime`` and ``_timestamp``, from the run's offline
        files (one folder per attempt of a resumed run), matched by ``_step``."""
        from localsweep._history import add_times

        folder = self.dir
        files = []
        if folder is not None:
            from localsweep.wandb_bridge._folders import folders_of

            # One folder per attempt: -<id>, and -<id>-1... for one started the same second.
            attempts = folders_of(Path(folder).parent, self.id)
            files = [p / f"run-{self.id}.wandb" for p in attempts] or [
                Path(folder) / f"run-{self.id}.wandb"
            ]
        logged: list[dict[str, Any]] = []
        for path in files:
            state = self._run_file(path)
            if state is not None:
                logged.extend(state.history)
        if not logged and rows and self.id not in _TIMES_SAID:
            _TIMES_SAID.add(self.id)
            if folder is None:
                logger.warning(
                    "run %s ran without wandb (a train(config) function, or code that never "
                    "called wandb.init): its rows have no _runtime or _timestamp",
                    self.id,
                )
            else:
                logger.warning(
                    "run %s: no offline wandb file in %s to read _runtime and _timestamp "
                    "from; its rows come without them",
                    self.id,
                    folder,
                )
        return add_times(rows, logged)

    def scan_history(
        self,
        keys: Sequence[str] | None = None,
        page_size: int = 1000,
        min_step: int | None = None,
        max_step: int | None = None,
        use_cache: bool = True,
    ) -> HistoryScan:
        """Every logged row (wandb.Api's ``scan_history``): with ``keys``, the rows that
        have all of them, cut to them and ``_step`` (an empty list: whole rows, as
        wandb's); from ``min_step`` to before ``max_step``. Like wandb's ``HistoryScan`` it
        can be iterated again: each loop reads the rows afresh, ``page_size`` at a time as
        it goes (so the first row comes at once and a long run is never held whole);
        ``use_cache`` is accepted and not needed (no server to cache). Its rows
        have ``_step`` only of wandb's own keys: ``keys`` naming ``_runtime`` or
        ``_timestamp`` selects no row, which a warning says (:meth:`history` has them)."""
        from localsweep._history import WANDB_TIMES

        asked = [k for k in keys or () if k in WANDB_TIMES] if not isinstance(keys, str) else []
        if asked and not _SCAN_TIMES_SAID:
            _SCAN_TIMES_SAID.append(True)
            logger.warning(
                "scan_history(keys=%r): scanned rows have no %s (wandb's times are read from "
                "the run's offline folder, which the scan does not read), so no row has every "
                "key; use run.history(keys=%r), which adds them",
                list(keys or ()),
                " or ".join(asked),
                list(keys or ()),
            )
        return HistoryScan(
            lambda low, stop, size: self._store.history_pages(self._record.id, size, low, stop),
            keys,
            min_step,
            max_step,
            page_size,
            last_step=lambda: self.lastHistoryStep,
        )

    @property
    def lastHistoryStep(self) -> int:
        """The last ``_step`` logged, -1 for a run with no row (wandb's ``lastHistoryStep``)."""
        return self._store.history_extent(self._record.id)[1]

    @property
    def historyLineCount(self) -> int:
        """How many rows the run logged, 0 for none (wandb's ``historyLineCount``, also
        ``history_line_count``): read from the store when asked, as :attr:`lastHistoryStep`."""
        return self._store.history_extent(self._record.id)[0]

    @property
    def history_line_count(self) -> int:
        """:attr:`historyLineCount`, under the snake_case name wandb.Api takes for it too."""
        return self.historyLineCount

    def __repr__(self) -> str:
        prior = ", prior" if self.prior else ""
        return f"<Run {self.id} ({self.state}{prior})>"
