"""The store: the only code that reads or writes the database.

:class:`Store` is a thin facade. Each method is one unit of work run by the transaction
helper in ``_session.py`` (bounded retry of transient errors, errors named in plain words);
the work itself lives by concept in ``_sweeps.py``, ``_claims.py`` and ``_runs.py``, and
the read methods in ``_reads.py``.
Transactions that write a sweep row (claims, ends of runs, control) lock that row first,
so locks are always taken in the same order. Every write of a running run is conditional
on the lease its claim handed out: a result counts once, whatever the timing.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import random
import secrets
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, select

from localsweep.config import SweepConfig
from localsweep.errors import LeaseLostError, NotFoundError
from localsweep.records import Proposal, RunState, RunView, SweepState
from localsweep.store import _claims, _reaper, _runs, _sweeps
from localsweep.store._engine import resolve_url
from localsweep.store._reads import StoreReads
from localsweep.store._records import AgentInfo, Claim, ClaimOutcome, RunRecord, SweepRecord
from localsweep.store._retry_bound import checked_retry_timeout
from localsweep.store._session import Session
from localsweep.store._sweeps import grid_size
from localsweep.store._tables import (
    HistoryRow,
    dumps,
    float_or_none,
    new_lease,
    new_run_id,
    new_sweep_id,
    now,
    sweeps,
)
from localsweep.store._urls import shown_url

__all__ = [
    "HEARTBEAT_TIMEOUT",
    "REAP_INTERVAL",
    "HistoryRow",
    "Store",
    "grid_size",
    "new_run_id",
    "new_sweep_id",
]

logger = logging.getLogger(__name__)

#: A run whose agent has not beaten its heartbeat for this long is taken for dead
#: (kept for callers; ``LOCALSWEEP_HEARTBEAT_TIMEOUT`` overrides it at run time).
HEARTBEAT_TIMEOUT = _claims.heartbeat_timeout()
REAP_INTERVAL = _reaper.REAP_INTERVAL


class Store(StoreReads):
    """A sweep database, SQLite (default) or any SQLAlchemy URL (PostgreSQL for several nodes).

    ``retry_timeout`` bounds, in seconds, how long transient errors (a database restart, a
    deadlock, a locked file) are retried before :class:`~localsweep.errors.
    StoreUnavailableError`; default ``LOCALSWEEP_STORE_TIMEOUT`` or 180. ``check`` runs
    SQLite's ``quick_check`` on the file at open (at most 2 s) and refuses a damaged file;
    a process opening a store the agent that started it has checked may skip it.
    ``create=False`` opens an existing localsweep database only (a source read from):
    nothing is written to a database without localsweep's tables.

    >>> store = Store("sqlite:///:memory:")  # doctest: +SKIP
    """

    def __init__(
        self,
        db: str | os.PathLike[str] | None = None,
        *,
        retry_timeout: float | None = None,
        check: bool = True,
        create: bool = True,
    ):
        self.url = resolve_url(db)
        #: The URL as messages show it: its password masked (``user:***@``).
        self.shown_url = shown_url(self.url)
        self._session = Session(self.url, retry_timeout)
        self._reaper = _reaper.Reaper()
        # Before opening: an agent started during an outage waited for it while opening.
        self._session.on_wait = self._reaper.note_wait
        self._session.open(check=check, create=create)
        self._configs = _sweeps.SweepConfigs()
        self._views = _runs.RunViews()

    @property
    def retry_timeout(self) -> float:
        """Seconds transient errors are retried before a call gives up."""
        return self._session.retry_timeout

    @retry_timeout.setter
    def retry_timeout(self, seconds: float) -> None:
        # Checked as Store(retry_timeout=...) is: nan failed later, in a transaction.
        self._session.retry_timeout = checked_retry_timeout(seconds)

    def close(self) -> None:
        """Close every connection to the database."""
        self._session.close()

    def check_file(self) -> str:
        """Check a SQLite file: still the one opened, and not damaged (``quick_check``,
        bounded in time). Raises StoreError naming the repair; returns ``ok`` (or
        ``unchecked`` when the check was cut short)."""
        self._session.check_file()
        return self._session.quick_check()

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, for the store's helper modules (``_sync_state``)."""
        return self._session.engine

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` answer (``ok`` when healthy); ``ok`` elsewhere."""
        if not self._session.is_sqlite:
            return "ok"
        return self._session.read(
            lambda c: str(c.exec_driver_sql("PRAGMA integrity_check").scalar_one()),
            "check the database",
        )

    # ------------------------------------------------------------------------ sweeps

    def create_sweep(
        self,
        config: SweepConfig,
        *,
        project: str | None = None,
        entity: str | None = None,
        name: str | None = None,
        sweep_id: str | None = None,
    ) -> SweepRecord:
        """Record a new sweep (``pending``) and return it."""
        sweep_id = sweep_id or new_sweep_id()
        seed = config.options.seed
        if seed is None:
            seed = random.SystemRandom().randrange(2**31)
        values = _sweeps.insert_values(
            sweep_id, config, name=name, project=project, entity=entity, seed=seed
        )
        self._session.write(lambda c: _sweeps.insert_sweep(c, values), "create a sweep")
        return self.get_sweep(sweep_id)

    def get_sweep(self, sweep_id: str) -> SweepRecord:
        """The sweep ``sweep_id``; NotFoundError if there is none."""
        row = self._session.read(
            lambda c: c.execute(select(sweeps).where(sweeps.c.id == sweep_id)).mappings().first(),
            "read a sweep",
        )
        if row is None:
            raise self._unknown_sweep(sweep_id)
        return _sweeps.sweep_record(row, self._configs)

    def _unknown_sweep(self, sweep_id: str) -> NotFoundError:
        return self._session.read(
            lambda c: _sweeps.unknown_sweep(c, sweep_id, self.shown_url), "list sweeps"
        )

    def list_sweeps(self) -> list[SweepRecord]:
        """Every sweep, oldest first."""
        rows = self._session.read(
            lambda c: c.execute(select(sweeps).order_by(sweeps.c.created_at)).mappings().all(),
            "list sweeps",
        )
        return [_sweeps.sweep_record(r, self._configs) for r in rows]

    def discard_unstarted_sweep(self, sweep_id: str) -> bool:
        """Delete the sweep (and its prior runs) if it never had a run of its own, as when
        its agent could not start; returns whether it was deleted."""
        return bool(
            self._session.write(
                lambda c: _sweeps.discard_unstarted(c, sweep_id), "discard an unstarted sweep"
            )
        )

    def sweep_state(self, sweep_id: str) -> SweepState:
        """The sweep's state now (one primary-key read: agents poll it every second or two)."""
        state = self._session.read(
            lambda c: c.execute(select(sweeps.c.state).where(sweeps.c.id == sweep_id)).scalar(),
            "read a sweep's state",
        )
        if state is None:
            raise self._unknown_sweep(sweep_id)
        return SweepState(state)

    def finish_sweep(self, sweep_id: str, reason: str) -> None:
        """Mark the sweep finished; agents then start no new runs."""

        def work(conn: Connection) -> None:
            _sweeps.lock_sweep(conn, sweep_id, self.shown_url)
            _sweeps.finish_sweep(conn, sweep_id, reason)

        self._session.write(work, "finish a sweep")

    def control_sweep(self, sweep_id: str, action: str) -> SweepRecord:
        """``pause``, ``resume``, ``stop`` or ``cancel`` the sweep, as ``wandb sweep`` does.

        pause: agents start no new run until resume. stop: running runs finish, nothing
        new starts, the sweep ends (``finished``, reason ``stopped``). cancel: as stop, and
        agents stop their running runs (recorded ``killed``; their points run again if the
        sweep is resumed). resume: from paused, stopped or cancelled. A forbidden action
        raises :class:`~localsweep.errors.SweepControlError` saying why."""

        # The states earlier attempts found: a replay of a committed resume (its answer
        # lost) finds the sweep running, and must know it was itself.
        seen: list[str] = []

        def work(conn: Connection) -> None:
            sweep = _sweeps.lock_sweep(conn, sweep_id, self.shown_url)
            _sweeps.control(conn, sweep, action, seen=seen)
            seen.append(sweep["state"])

        self._session.write(work, f"{action} the sweep")
        return self.get_sweep(sweep_id)

    # -------------------------------------------------------------------- claims

    def claim_run(
        self,
        sweep_id: str,
        agent: AgentInfo,
        propose: Callable[[Sequence[RunView], int], Proposal | None],
        *,
        needs_runs: bool = True,
        needs_history: bool = False,
        nest: Callable[[Mapping[Any, Any]], dict[str, Any]] | None = None,
        run_dir: Callable[[str], str | None] | None = None,
    ) -> Claim:
        """Hand out the sweep's next run, in one transaction.

        A preempted run waiting to be resumed comes first (same id and config, a new lease,
        ``attempt`` + 1). Else ``propose(runs, number)`` gets every run of the sweep (with
        their metric history when ``needs_history``) and the new run's number, and returns
        the proposal or ``None`` when the search is exhausted. Runs of dead agents are
        marked crashed first, so their grid points can be claimed again. A paused sweep
        answers ``PAUSED``; a stopped or cancelled one ``FINISHED``."""
        # Made once, outside the retried work: a replay of a committed claim finds its run.
        run_id, lease = new_run_id(), new_lease()
        mode = "full" if needs_history else "params"
        if needs_runs and self._views.is_cold(sweep_id, mode):
            # A new agent reads every run once: do it before taking the write lock (ended
            # runs never change; the claim then reads only what is new or still open), so
            # other agents are not held up for seconds on a sweep of 100,000 runs.
            def warm(conn: Connection) -> None:
                config = self._configs.of(conn, sweep_id)
                self._views.refresh(conn, sweep_id, config, mode)

            self._session.read(
                warm, "read the runs", on_rollback=lambda: self._views.forget(sweep_id)
            )

        attempts = 0

        def work(conn: Connection) -> Claim:
            nonlocal attempts
            attempts += 1
            sweep = _claims.lock_sweep_for_claim(conn, sweep_id, self.shown_url)
            # Only a retry can find its lease taken: the first attempt made it just now.
            own = _claims.find_own_claim(conn, sweep_id, lease) if attempts > 1 else None
            if own is not None:
                return Claim(ClaimOutcome.CLAIMED, run=own)
            reaped = self._reaper.now_and_then(conn, sweep_id, agent)
            gate = _claims.gate(sweep)
            if gate is not None:
                return Claim(gate, reaped=reaped)
            resumed = None
            if reaped or sweep["preempted_waiting"]:
                resumed = _claims.claim_requeued(conn, sweep_id, agent, lease)
            if resumed is not None:
                return Claim(ClaimOutcome.CLAIMED, run=resumed, reaped=reaped)
            if reaped:  # the counters moved: read them again
                sweep = _sweeps.lock_sweep(conn, sweep_id, self.shown_url)
            config = self._configs.get(sweep_id, sweep["config_json"])

            def views() -> Sequence[RunView]:
                if not needs_runs:
                    return []
                return self._views.refresh(conn, sweep_id, config, mode)

            outcome, run = _claims.claim_new(
                conn, sweep, config, agent, views, propose, nest, run_dir, run_id, lease
            )
            return Claim(outcome, run=run, reaped=reaped)

        def forget() -> None:
            # What a rolled-back attempt read may include its own writes (reaps).
            self._views.forget(sweep_id)
            self._reaper.forget(sweep_id)

        return self._session.write(work, "claim a run", retry_integrity=True, on_rollback=forget)

    def heartbeat(self, runs: Sequence[RunRecord]) -> set[str]:
        """Beat the runs this agent holds (database clock); returns the ids of those it no
        longer holds (reaped as crashed, or ended otherwise): stop them."""
        if not runs:
            return set()
        return self._session.write(lambda c: _claims.beat(c, list(runs)), "beat a heartbeat")

    def request_stops(self, stops: Sequence[tuple[str, int]]) -> None:
        """Ask running runs to stop at their next flush: ``(run_id, band)`` pairs. A run that
        already ended, or already has a request, is left alone."""
        if not stops:
            return
        params = [{"b_run_id": r, "b_band": b} for r, b in sorted(stops)]
        self._session.write(lambda c: c.execute(_runs.REQUEST_STOP, params), "request stops")

    # ---------------------------------------------------------------------- runs

    def append_history(
        self,
        run: RunRecord,
        rows: Sequence[HistoryRow],
        *,
        summary: Mapping[str, Any] | None = None,
        metric: float | None = None,
    ) -> int | None:
        """Write rows of a run this agent holds, and with them its ``summary`` so far and
        the sweep ``metric``'s value in it (a running run's live summary, when given);
        returns the band of a stop requested for it, if any. Raises
        :class:`~localsweep.errors.LeaseLostError` when the run is no longer held (nothing
        is written). Safe to replay: rows are never written twice."""
        batch = secrets.token_hex(16)
        live = None
        if summary is not None:
            live = {"summary_json": dumps(dict(summary)), "metric": float_or_none(metric)}
        band = self._session.write(
            lambda c: _runs.append_history(c, run, list(rows), batch, self.shown_url, live),
            "write a run's history",
        )
        if isinstance(band, LeaseLostError):
            raise band  # after the rows were kept, without their metric
        return band

    def finish_run(
        self,
        run: RunRecord,
        state: RunState,
        *,
        history: Sequence[HistoryRow] = (),
        summary: Mapping[str, Any] | None = None,
        metric: float | None = None,
        exit_code: int | None = None,
        error: str | None = None,
        name: str | None = None,
        stopped_at_band: int | None = None,
        end_reason: str | None = None,
        target_reached: bool = False,
        dir: str | None = None,
        stdout_path: str | None = None,
        stderr_path: str | None = None,
    ) -> RunRecord:
        """Record a run's end with its last history rows, in one transaction, and return
        the run as recorded.

        Only the agent that still holds the run (its lease) can end it: a run reaped as
        crashed meanwhile raises :class:`~localsweep.errors.LeaseLostError` and nothing is
        written, so a result counts once. A replay of our own committed end succeeds.
        ``killed`` (and ``crashed``) runs give their grid point back and do not count for
        ``run_cap``. ``preempted`` requeues the run (see :meth:`requeue_run`)."""
        if state is RunState.PREEMPTED:
            return self.requeue_run(
                run, history=history, summary=summary, metric=metric, exit_code=exit_code,
                error=error,
                name=name, reason=end_reason or "preempted", dir=dir,
                stdout_path=stdout_path, stderr_path=stderr_path,
            )  # fmt: skip
        if not state.is_finished:
            raise ValueError(f"finish_run needs an ended state, not {state.value!r}")
        values: dict[str, Any] = {
            "state": state.value,
            "finished_at": now(),
            "summary_json": dumps(dict(summary) if summary is not None else {}),
            "metric": float_or_none(metric),
            "exit_code": exit_code,
            "error": error,
            "stopped_at_band": stopped_at_band,
            "end_reason": end_reason,
        }
        if state.gives_point_back:
            values["grid_key"] = None
        return self._end(run, state, values, history, target_reached, name, dir,
                         stdout_path, stderr_path)  # fmt: skip

    def requeue_run(
        self,
        run: RunRecord,
        *,
        history: Sequence[HistoryRow] = (),
        summary: Mapping[str, Any] | None = None,
        metric: float | None = None,
        reason: str = "preempted",
        exit_code: int | None = None,
        error: str | None = None,
        name: str | None = None,
        dir: str | None = None,
        stdout_path: str | None = None,
        stderr_path: str | None = None,
    ) -> RunRecord:
        """End this attempt of a run as ``preempted`` and make it claimable again: a later
        claim, by any agent, hands out the same run (id, number, config) before new points,
        with ``attempt`` + 1. It keeps its grid point and rows and counts once for run_cap,
        the grid and the target. ``metric`` is the sweep metric's summary value so far, as
        :meth:`finish_run` takes it (what ``show`` and the agent's line give); a preempted
        run waits to be resumed, so search and ``best_run`` do not count it as a result.
        Raises LeaseLostError as :meth:`finish_run` does."""
        values: dict[str, Any] = {
            "state": RunState.PREEMPTED.value,
            "finished_at": now(),
            "metric": float_or_none(metric),
            "exit_code": exit_code,
            "error": error,
            "end_reason": reason,
        }
        if summary is not None:
            values["summary_json"] = dumps(dict(summary))
        return self._end(run, RunState.PREEMPTED, values, history, False, name, dir,
                         stdout_path, stderr_path)  # fmt: skip

    def _end(
        self,
        run: RunRecord,
        state: RunState,
        values: dict[str, Any],
        rows: Sequence[HistoryRow],
        target_reached: bool,
        name: str | None,
        dir: str | None,
        stdout_path: str | None,
        stderr_path: str | None,
    ) -> RunRecord:
        # None leaves what the run has (_runs.KEPT_WHEN_NONE).
        values.update(name=name, dir=dir, stdout_path=stdout_path, stderr_path=stderr_path)
        rows = list(rows)
        batch = secrets.token_hex(16)

        def work(conn: Connection) -> LeaseLostError | None:
            if conn.dialect.name != "sqlite":  # the sweep row first (SQLite: the lock is held)
                _sweeps.lock_sweep(conn, run.sweep_id, self.shown_url)
            ended = _runs.end_run(conn, run, values, rows, self.shown_url, batch)
            if ended is not True:
                return ended or None  # lost (rows kept, not counting), or our own replay
            live = -1 if state.gives_point_back else 0
            _sweeps.adjust_counts(conn, run.sweep_id, live=live, running=-1)
            if target_reached:
                _sweeps.finish_sweep(conn, run.sweep_id, ClaimOutcome.TARGET_REACHED.value)
            elif state is not RunState.PREEMPTED:
                config = self._configs.of(conn, run.sweep_id)
                _sweeps.finish_if_done(conn, run.sweep_id, config)
            return None

        lost = self._session.write(work, f"record the end of run {run.id}")
        if lost is not None:
            raise lost
        summary = json.loads(values["summary_json"]) if "summary_json" in values else run.summary
        return dataclasses.replace(
            run,
            state=state,
            # As _runs.end_run wrote them, by this host's clock (a server wrote its own).
            finished_at=values["finished_at"],
            heartbeat_at=values["finished_at"],
            summary=summary,
            metric=values.get("metric", run.metric),
            exit_code=values["exit_code"],
            error=values["error"],
            stopped_at_band=values.get("stopped_at_band"),
            end_reason=values["end_reason"],
            grid_key=None if state.gives_point_back else run.grid_key,
            name=name or run.name,
            dir=dir or run.dir,
            stdout_path=stdout_path or run.stdout_path,
            stderr_path=stderr_path or run.stderr_path,
        )

    def get_sweep_config(self, conn: Connection, sweep_id: str) -> SweepConfig:
        """The config of ``sweep_id`` read on ``conn`` (cached: configs never change)."""
        return self._configs.of(conn, sweep_id)
