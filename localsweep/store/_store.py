"""The store: the only code that reads or writes the database.

Every method is one short transaction. Claims run in a transaction that takes the
write lock first (``BEGIN IMMEDIATE`` on SQLite, ``SELECT ... FOR UPDATE`` on the
sweep row elsewhere), so that the search sees every run that exists and its proposal
is recorded before any other agent proposes.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import random
import secrets
import string
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, bindparam, func, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from localsweep.config import Method, SweepConfig, parse_config
from localsweep.errors import NotFoundError, StoreError
from localsweep.records import Proposal, RunState, RunView, SweepState
from localsweep.store._engine import make_engine, resolve_url
from localsweep.store._migrate import ensure_schema
from localsweep.store._models import HistoryModel, RunModel, SweepModel
from localsweep.store._records import (
    AgentInfo,
    Claim,
    ClaimOutcome,
    RunRecord,
    SweepRecord,
)

__all__ = ["HistoryRow", "Store", "new_run_id", "new_sweep_id"]

logger = logging.getLogger(__name__)

_sweeps = cast(Table, SweepModel.__table__)
_runs = cast(Table, RunModel.__table__)
_history = cast(Table, HistoryModel.__table__)

_ID_ALPHABET = string.ascii_lowercase + string.digits

# The statements of the per-run path, built once: constructing a statement and computing
# its cache key costs more than executing it on SQLite, and a run needs only a handful.
_SELECT_SWEEP = select(_sweeps).where(_sweeps.c.id == bindparam("b_sweep_id"))
_SELECT_SWEEP_LOCKED = _SELECT_SWEEP.with_for_update()
_SELECT_RUNNING = select(
    _runs.c.id, _runs.c.agent_id, _runs.c.agent_host, _runs.c.agent_pid, _runs.c.heartbeat_at
).where(_runs.c.sweep_id == bindparam("b_sweep_id"), _runs.c.state == RunState.RUNNING.value)
_COUNT_LIVE = (
    select(func.count())
    .select_from(_runs)
    .where(_runs.c.sweep_id == bindparam("b_sweep_id"), _runs.c.state != RunState.CRASHED.value)
)
_INSERT_RUN = insert(_runs)
_SELECT_STOP_REQUEST = select(_runs.c.stop_requested_band).where(
    _runs.c.id == bindparam("b_run_id")
)
_REQUEST_STOP = (
    update(_runs)
    .where(
        _runs.c.id == bindparam("b_run_id"),
        _runs.c.state == RunState.RUNNING.value,
        _runs.c.stop_requested_band.is_(None),
    )
    .values(stop_requested_band=bindparam("b_band"))
)
_INSERT_HISTORY = insert(_history)
_BUMP_SWEEP = (
    update(_sweeps)
    .where(_sweeps.c.id == bindparam("b_sweep_id"))
    .values(run_count=bindparam("b_run_count"), state=SweepState.RUNNING.value)
)
_FINISH_RUN = (
    update(_runs)
    .where(_runs.c.id == bindparam("b_run_id"))
    .values(
        state=bindparam("b_state"),
        finished_at=bindparam("b_finished_at"),
        summary_json=bindparam("b_summary_json"),
        metric=bindparam("b_metric"),
        exit_code=bindparam("b_exit_code"),
        error=bindparam("b_error"),
        stopped_at_band=bindparam("b_stopped_at_band"),
        end_reason=bindparam("b_end_reason"),
        name=func.coalesce(bindparam("b_name"), _runs.c.name),
        dir=func.coalesce(bindparam("b_dir"), _runs.c.dir),
        stdout_path=func.coalesce(bindparam("b_stdout_path"), _runs.c.stdout_path),
        stderr_path=func.coalesce(bindparam("b_stderr_path"), _runs.c.stderr_path),
    )
)

#: A run whose agent has not beaten its heartbeat for this long is taken for dead.
HEARTBEAT_TIMEOUT = timedelta(seconds=120)
#: How often one agent scans a sweep for runs of dead agents when it claims.
REAP_INTERVAL = 2.0


def new_sweep_id() -> str:
    """A sweep id W&B's server never makes (its ids are 8 lowercase letters and digits),
    so runs synced later can never join an unrelated server sweep of the same name."""
    return "ls-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))


def new_run_id() -> str:
    """A wandb-style run id: 8 lowercase letters and digits."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _json_default(obj: Any) -> Any:
    # Logged rows may hold numpy or torch scalars, arrays, or wandb media objects.
    item = getattr(obj, "item", None)
    if callable(item):
        try:
            return item()
        except (TypeError, ValueError):
            pass
    tolist = getattr(obj, "tolist", None)
    if callable(tolist):
        return tolist()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    return repr(obj)


def dumps(value: Any) -> str:
    return json.dumps(value, default=_json_default, separators=(",", ":"))


@dataclass(frozen=True)
class HistoryRow:
    """One logged row: ``data`` holds the user's keys (nested as logged)."""

    step: int
    data: Mapping[str, Any]
    #: The sweep metric's value in this row, or ``None`` if the row does not log it.
    metric: float | None = None
    has_metric: bool = False


def _float_or_none(value: float | None) -> float | None:
    # SQLite turns NaN into NULL anyway; say so explicitly for every backend.
    if value is None or math.isnan(value):
        return None
    return value


class Store:
    """A sweep database, SQLite (default) or any SQLAlchemy URL (PostgreSQL for several nodes).

    >>> store = Store("sqlite:///:memory:")  # doctest: +SKIP
    """

    def __init__(self, db: str | os.PathLike[str] | None = None):
        self.url = resolve_url(db)
        self._engine: Engine = make_engine(self.url)
        self._is_sqlite = self._engine.dialect.name == "sqlite"
        try:
            ensure_schema(self._engine)
        except DBAPIError as exc:  # unreachable server, unreadable or non-database file
            raise StoreError(f"cannot open the database {self.url}: {exc.orig}") from exc
        self._config_cache: dict[str, SweepConfig] = {}
        self._last_reap: dict[tuple[str, str], float] = {}
        # Ended runs as search saw them, per (sweep, with history): they do not change.
        self._view_cache: dict[tuple[str, bool], dict[str, RunView]] = {}

    def close(self) -> None:
        self._engine.dispose()

    # ----------------------------------------------------------------- transactions

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """A transaction that holds the write lock from its first statement."""
        with self._engine.connect() as conn:
            conn.execution_options(localsweep_immediate=True)
            with conn.begin():
                yield conn

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
        sweep_id = sweep_id or new_sweep_id()
        seed = config.options.seed
        if seed is None:
            seed = random.SystemRandom().randrange(2**31)
        with self._write() as conn:
            conn.execute(
                insert(_sweeps).values(
                    id=sweep_id,
                    name=name or config.name,
                    method=config.method.value,
                    config_json=dumps(dict(config.raw)),
                    project=project or config.project,
                    entity=entity or config.entity,
                    state=SweepState.PENDING.value,
                    seed=seed,
                    run_count=0,
                    created_at=_now(),
                )
            )
        return self.get_sweep(sweep_id)

    def get_sweep(self, sweep_id: str) -> SweepRecord:
        with self._read() as conn:
            row = conn.execute(select(_sweeps).where(_sweeps.c.id == sweep_id)).mappings().first()
        if row is None:
            raise NotFoundError(f"no sweep {sweep_id!r} in {self.url}")
        return self._sweep_record(row)

    def list_sweeps(self) -> list[SweepRecord]:
        with self._read() as conn:
            rows = conn.execute(select(_sweeps).order_by(_sweeps.c.created_at)).mappings().all()
        return [self._sweep_record(r) for r in rows]

    def finish_sweep(self, sweep_id: str, reason: str) -> None:
        """Mark the sweep finished; agents then start no new runs."""
        with self._write() as conn:
            self._finish_sweep(conn, sweep_id, reason)

    def _finish_sweep(self, conn: Connection, sweep_id: str, reason: str) -> None:
        conn.execute(
            update(_sweeps)
            .where(_sweeps.c.id == sweep_id, _sweeps.c.state != SweepState.FINISHED.value)
            .values(state=SweepState.FINISHED.value, finished_reason=reason, finished_at=_now())
        )

    def _config(self, sweep_id: str, config_json: str) -> SweepConfig:
        cfg = self._config_cache.get(sweep_id)
        if cfg is None:
            cfg = parse_config(json.loads(config_json))
            self._config_cache[sweep_id] = cfg
        return cfg

    def _sweep_record(self, row: Any) -> SweepRecord:
        return SweepRecord(
            id=row["id"],
            name=row["name"],
            config=self._config(row["id"], row["config_json"]),
            state=SweepState(row["state"]),
            finished_reason=row["finished_reason"],
            project=row["project"],
            entity=row["entity"],
            seed=row["seed"],
            run_count=row["run_count"],
            created_at=row["created_at"],
            finished_at=row["finished_at"],
        )

    # -------------------------------------------------------------------------- runs

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
        """Propose and record the sweep's next run in one transaction.

        ``propose(runs, number)`` gets every run of the sweep (with their metric history
        when ``needs_history``) and the new run's number, and returns the proposal or
        ``None`` when the search is exhausted. Runs of dead agents are marked crashed
        first, so their grid points can be claimed again.
        """
        for attempt in range(5):
            try:
                return self._claim_once(
                    sweep_id, agent, propose, needs_runs, needs_history, nest, run_dir
                )
            except IntegrityError:
                # Another writer took the same grid point or number between our read and
                # write: only possible on servers without our lock; retry with fresh state.
                logger.debug("claim collided (attempt %d), retrying", attempt + 1)
        raise StoreError(f"could not claim a run of sweep {sweep_id} after 5 attempts")

    def _claim_once(
        self,
        sweep_id: str,
        agent: AgentInfo,
        propose: Callable[[Sequence[RunView], int], Proposal | None],
        needs_runs: bool,
        needs_history: bool,
        nest: Callable[[Mapping[Any, Any]], dict[str, Any]] | None,
        run_dir: Callable[[str], str | None] | None,
    ) -> Claim:
        with self._write() as conn:
            # On SQLite the IMMEDIATE transaction already holds the database's write lock.
            query = _SELECT_SWEEP if self._is_sqlite else _SELECT_SWEEP_LOCKED
            sweep = conn.execute(query, {"b_sweep_id": sweep_id}).mappings().first()
            if sweep is None:
                raise NotFoundError(f"no sweep {sweep_id!r} in {self.url}")
            reaped = self._reap_dead_now_and_then(conn, sweep_id, agent)
            if sweep["state"] == SweepState.FINISHED.value:
                reason = sweep["finished_reason"]
                outcome = (
                    ClaimOutcome(reason)
                    if reason in {o.value for o in ClaimOutcome}
                    else ClaimOutcome.FINISHED
                )
                return Claim(outcome, reaped=reaped)
            config = self._config(sweep_id, sweep["config_json"])
            if config.run_cap is not None:
                live = conn.execute(_COUNT_LIVE, {"b_sweep_id": sweep_id}).scalar_one()
                if live >= config.run_cap:
                    self._finish_sweep_if_idle(conn, sweep_id, ClaimOutcome.RUN_CAP.value)
                    return Claim(ClaimOutcome.RUN_CAP, reaped=reaped)

            views = self._run_views(conn, sweep_id, needs_history) if needs_runs else []
            number = sweep["run_count"]
            proposal = propose(views, number)
            if proposal is None:
                in_flight = any(v.state is RunState.RUNNING for v in views)
                if in_flight:
                    return Claim(ClaimOutcome.WAIT, reaped=reaped)
                self._finish_sweep(conn, sweep_id, ClaimOutcome.EXHAUSTED.value)
                return Claim(ClaimOutcome.EXHAUSTED, reaped=reaped)

            run_id = new_run_id()
            now = _now()
            nested: dict[str, Any] = (
                nest(proposal.params) if nest else {str(k): v for k, v in proposal.params.items()}
            )
            values = {
                "id": run_id,
                "sweep_id": sweep_id,
                "number": number,
                "name": None,
                "state": RunState.RUNNING.value,
                "config_json": dumps(nested),
                "grid_key": proposal.grid_key,
                "point_key": proposal.grid_key,
                "search_info_json": dumps(dict(proposal.info)) if proposal.info else None,
                "agent_id": agent.id,
                "agent_host": agent.host,
                "agent_pid": agent.pid,
                "heartbeat_at": now,
                "created_at": now,
                "dir": run_dir(run_id) if run_dir else None,
            }
            conn.execute(_INSERT_RUN, values)
            conn.execute(_BUMP_SWEEP, {"b_sweep_id": sweep_id, "b_run_count": number + 1})
        # The new run as a later read would return it: the inserted row, every other
        # column still empty.
        record = _run_record({**dict.fromkeys(_runs.columns.keys()), **values})
        return Claim(ClaimOutcome.CLAIMED, run=record, reaped=reaped)

    def _finish_sweep_if_idle(self, conn: Connection, sweep_id: str, reason: str) -> None:
        running = conn.execute(
            select(func.count())
            .select_from(_runs)
            .where(_runs.c.sweep_id == sweep_id, _runs.c.state == RunState.RUNNING.value)
        ).scalar_one()
        if not running:
            self._finish_sweep(conn, sweep_id, reason)

    def _finish_sweep_if_done(self, conn: Connection, sweep_id: str) -> None:
        """Finish a sweep whose last run just ended when nothing more can be claimed: its
        run_cap is reached or its grid is exhausted (so it reads ``finished`` even when the
        agent stopped at its ``count`` without asking for another run)."""
        config = self.get_sweep_config(conn, sweep_id)
        if config.run_cap is None and config.method is not Method.GRID:
            return
        counts: dict[str, int] = dict(
            conn.execute(
                select(_runs.c.state, func.count())
                .where(_runs.c.sweep_id == sweep_id)
                .group_by(_runs.c.state)
            ).all()
        )
        if counts.get(RunState.RUNNING.value):
            return
        live = sum(n for state, n in counts.items() if state != RunState.CRASHED.value)
        if config.run_cap is not None and live >= config.run_cap:
            self._finish_sweep(conn, sweep_id, ClaimOutcome.RUN_CAP.value)
        elif config.method is Method.GRID and live >= grid_size(config):
            self._finish_sweep(conn, sweep_id, ClaimOutcome.EXHAUSTED.value)

    def _reap_dead_now_and_then(
        self, conn: Connection, sweep_id: str, agent: AgentInfo
    ) -> tuple[str, ...]:
        # A scan costs a query per claim; once every REAP_INTERVAL per agent and sweep still
        # finds a dead agent's run within seconds (heartbeats go stale only after minutes).
        now = time.monotonic()
        key = (sweep_id, agent.id)
        last = self._last_reap.get(key)
        if last is not None and now - last < REAP_INTERVAL:
            return ()
        self._last_reap[key] = now
        return self._reap_dead(conn, sweep_id, agent)

    def _reap_dead(self, conn: Connection, sweep_id: str, agent: AgentInfo) -> tuple[str, ...]:
        rows = conn.execute(_SELECT_RUNNING, {"b_sweep_id": sweep_id}).all()
        if not rows:
            return ()
        stale_before = _now() - HEARTBEAT_TIMEOUT
        dead = []
        for run_id, agent_id, host, pid, heartbeat in rows:
            if agent_id == agent.id:
                continue
            if (host == agent.host and pid is not None and not _pid_alive(pid)) or (
                heartbeat is not None and heartbeat < stale_before
            ):
                dead.append(run_id)
        if dead:
            conn.execute(
                update(_runs)
                .where(_runs.c.id.in_(dead), _runs.c.state == RunState.RUNNING.value)
                .values(
                    state=RunState.CRASHED.value,
                    grid_key=None,
                    finished_at=_now(),
                    error="the agent running this run died (its process is gone or its "
                    "heartbeat stopped)",
                )
            )
            logger.warning("marked %d run(s) of dead agents as crashed: %s", len(dead), dead)
        return tuple(dead)

    def heartbeat(self, run_ids: Sequence[str]) -> None:
        if not run_ids:
            return
        with self._write() as conn:
            conn.execute(
                update(_runs)
                .where(_runs.c.id.in_(list(run_ids)), _runs.c.state == RunState.RUNNING.value)
                .values(heartbeat_at=_now())
            )

    def append_history(self, run_id: str, rows: Sequence[HistoryRow]) -> int | None:
        """Write a running run's rows; returns the band of a stop requested for it, if any."""
        with self._write() as conn:
            if rows:
                self._insert_history(conn, run_id, rows)
            return conn.execute(_SELECT_STOP_REQUEST, {"b_run_id": run_id}).scalar()

    def request_stops(self, stops: Sequence[tuple[str, int]]) -> None:
        """Ask running runs to stop at their next flush: ``(run_id, band)`` pairs. A run that
        already ended, or already has a request, is left alone."""
        if not stops:
            return
        with self._write() as conn:
            conn.execute(_REQUEST_STOP, [{"b_run_id": r, "b_band": b} for r, b in stops])

    def _insert_history(self, conn: Connection, run_id: str, rows: Sequence[HistoryRow]) -> None:
        conn.execute(
            _INSERT_HISTORY,
            [
                {
                    "run_id": run_id,
                    "step": r.step,
                    "data_json": dumps(dict(r.data)),
                    "metric": _float_or_none(r.metric),
                    "has_metric": r.has_metric,
                }
                for r in rows
            ],
        )

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

        A run that another agent already marked crashed (we were presumed dead) keeps
        its data: the rows and summary are still written, and the real outcome wins.
        """
        finished_at = _now()
        summary = dict(summary) if summary is not None else {}
        params = {
            "b_run_id": run.id,
            "b_state": state.value,
            "b_finished_at": finished_at,
            "b_summary_json": dumps(summary),
            "b_metric": _float_or_none(metric),
            "b_exit_code": exit_code,
            "b_error": error,
            "b_stopped_at_band": stopped_at_band,
            "b_end_reason": end_reason,
            "b_name": name,
            "b_dir": dir,
            "b_stdout_path": stdout_path,
            "b_stderr_path": stderr_path,
        }
        with self._write() as conn:
            if history:
                self._insert_history(conn, run.id, history)
            result = conn.execute(_FINISH_RUN, params)
            if result.rowcount == 0:
                raise NotFoundError(f"no run {run.id!r} in {self.url}")
            if target_reached:
                self._finish_sweep(conn, run.sweep_id, ClaimOutcome.TARGET_REACHED.value)
            else:
                self._finish_sweep_if_done(conn, run.sweep_id)
        return dataclasses.replace(
            run,
            state=state,
            finished_at=finished_at,
            summary=summary,
            metric=_float_or_none(metric),
            exit_code=exit_code,
            error=error,
            stopped_at_band=stopped_at_band,
            end_reason=end_reason,
            name=name or run.name,
            dir=dir or run.dir,
            stdout_path=stdout_path or run.stdout_path,
            stderr_path=stderr_path or run.stderr_path,
        )

    # ------------------------------------------------------------------------- reads

    def get_run(self, run_id: str) -> RunRecord:
        with self._read() as conn:
            row = conn.execute(select(_runs).where(_runs.c.id == run_id)).mappings().first()
        if row is None:
            raise NotFoundError(f"no run {run_id!r} in {self.url}")
        return _run_record(row)

    def list_runs(self, sweep_id: str) -> list[RunRecord]:
        with self._read() as conn:
            rows = (
                conn.execute(
                    select(_runs).where(_runs.c.sweep_id == sweep_id).order_by(_runs.c.number)
                )
                .mappings()
                .all()
            )
        return [_run_record(r) for r in rows]

    def history(self, run_id: str) -> list[dict[str, Any]]:
        """Every logged row of a run, in order, each with its ``_step``."""
        with self._read() as conn:
            rows = conn.execute(
                select(_history.c.step, _history.c.data_json)
                .where(_history.c.run_id == run_id)
                .order_by(_history.c.id)
            ).all()
        out = []
        for step, data_json in rows:
            row = json.loads(data_json)
            row.setdefault("_step", step)
            out.append(row)
        return out

    def metric_histories(self, sweep_id: str) -> dict[str, list[float]]:
        """Each run's logged values of the sweep metric, in order (NaN for a logged NaN)."""
        with self._read() as conn:
            run_ids = [run_id for run_id, _state in self._run_states(conn, sweep_id)]
            return self._histories_of(conn, run_ids)

    def metric_views(
        self, sweep_id: str, known: Mapping[str, RunView] | None = None
    ) -> list[RunView]:
        """Every run's state and metric history (no parameters), for early termination.

        Runs in ``known`` that had already ended are taken from it as they are: an ended
        run's history never changes (its last rows are written with its state), so only
        running and new runs' histories are read.
        """
        known = known or {}

        def settled(run_id: str, state: str) -> bool:
            # Keyed by state too: a run marked crashed may still record its real end.
            view = known.get(run_id)
            return view is not None and view.state.value == state != RunState.RUNNING.value

        with self._read() as conn:
            states = self._run_states(conn, sweep_id)
            todo = [run_id for run_id, state in states if not settled(run_id, state)]
            histories = self._histories_of(conn, todo)
        views = []
        for run_id, state in states:
            if settled(run_id, state):
                views.append(known[run_id])
            else:
                views.append(
                    RunView(
                        id=run_id,
                        state=RunState(state),
                        history=tuple(histories.get(run_id, ())),
                    )
                )
        return views

    def run_views(self, sweep_id: str, *, with_history: bool = True) -> list[RunView]:
        with self._read() as conn:
            return self._run_views(conn, sweep_id, with_history)

    def _run_views(self, conn: Connection, sweep_id: str, with_history: bool) -> list[RunView]:
        """Every run of the sweep as search sees it. Ended runs are kept from earlier calls
        (keyed by state, so a crashed run that later records its real end is read again):
        a claim then reads only new and running runs, not every run's whole history."""
        config = self.get_sweep_config(conn, sweep_id)
        cache = self._view_cache.setdefault((sweep_id, with_history), {})
        states = self._run_states(conn, sweep_id)
        todo = [
            run_id
            for run_id, state in states
            if run_id not in cache or cache[run_id].state.value != state
        ]
        histories = self._histories_of(conn, todo) if with_history else {}
        fresh: dict[str, RunView] = {}
        for start in range(0, len(todo), 500):
            chunk = todo[start : start + 500]
            rows = conn.execute(
                select(
                    _runs.c.id,
                    _runs.c.state,
                    _runs.c.config_json,
                    _runs.c.point_key,
                    _runs.c.metric,
                ).where(_runs.c.id.in_(chunk))
            ).all()
            for run_id, state, config_json, point_key, metric in rows:
                fresh[run_id] = RunView(
                    id=run_id,
                    state=RunState(state),
                    params=config.flatten(json.loads(config_json)),
                    history=tuple(histories.get(run_id, ())),
                    summary=metric,
                    grid_key=point_key,
                )
        views = []
        for run_id, _state in states:
            view = fresh.get(run_id) or cache[run_id]
            if view.state is not RunState.RUNNING:
                cache[run_id] = view
            views.append(view)
        return views

    @staticmethod
    def _run_states(conn: Connection, sweep_id: str) -> list[Any]:
        """Each run's id and state, in creation order."""
        return list(
            conn.execute(
                select(_runs.c.id, _runs.c.state)
                .where(_runs.c.sweep_id == sweep_id)
                .order_by(_runs.c.number)
            ).all()
        )

    @staticmethod
    def _histories_of(conn: Connection, run_ids: Sequence[str]) -> dict[str, list[float]]:
        """The logged values of the sweep metric of these runs, in order (NaN for a NaN)."""
        histories: dict[str, list[float]] = {}
        for start in range(0, len(run_ids), 500):  # keep IN lists within every backend's limit
            rows = conn.execute(
                select(_history.c.run_id, _history.c.metric)
                .where(
                    _history.c.run_id.in_(run_ids[start : start + 500]),
                    _history.c.has_metric.is_(True),
                )
                .order_by(_history.c.id)
            ).all()
            for run_id, value in rows:
                histories.setdefault(run_id, []).append(math.nan if value is None else value)
        return histories

    def change_token(self, sweep_id: str) -> tuple[Any, ...]:
        """A cheap value that changes whenever what a sweep's page shows may have changed
        (its state, a run's start or end, a logged row); for watchers that poll."""
        with self._read() as conn:
            sweep = conn.execute(
                select(_sweeps.c.state, _sweeps.c.run_count, _sweeps.c.finished_reason).where(
                    _sweeps.c.id == sweep_id
                )
            ).first()
            if sweep is None:
                raise NotFoundError(f"no sweep {sweep_id!r} in {self.url}")
            states = conn.execute(
                select(_runs.c.state, func.count(), func.max(_runs.c.finished_at))
                .where(_runs.c.sweep_id == sweep_id)
                .group_by(_runs.c.state)
            ).all()
            last_row = conn.execute(select(func.max(_history.c.id))).scalar()
        return (tuple(sweep), tuple(sorted(tuple(map(str, s)) for s in states)), last_row)

    def get_sweep_config(self, conn: Connection, sweep_id: str) -> SweepConfig:
        cached = self._config_cache.get(sweep_id)
        if cached is not None:
            return cached
        config_json = conn.execute(
            select(_sweeps.c.config_json).where(_sweeps.c.id == sweep_id)
        ).scalar_one()
        return self._config(sweep_id, config_json)

    def integrity_check(self) -> str:
        """SQLite's ``PRAGMA integrity_check`` answer (``ok`` when healthy); ``ok`` elsewhere."""
        if not self._is_sqlite:
            return "ok"
        with self._engine.connect() as conn:
            return str(conn.exec_driver_sql("PRAGMA integrity_check").scalar_one())


def grid_size(config: SweepConfig) -> int:
    """How many points the grid of ``config`` has."""
    return math.prod(len(p.grid_values()) for p in config.parameters)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _run_record(row: Any) -> RunRecord:
    return RunRecord(
        id=row["id"],
        sweep_id=row["sweep_id"],
        number=row["number"],
        name=row["name"],
        state=RunState(row["state"]),
        config=json.loads(row["config_json"]),
        grid_key=row["grid_key"],
        point_key=row["point_key"],
        agent_id=row["agent_id"],
        agent_host=row["agent_host"],
        agent_pid=row["agent_pid"],
        heartbeat_at=row["heartbeat_at"],
        created_at=row["created_at"],
        finished_at=row["finished_at"],
        summary=json.loads(row["summary_json"]) if row["summary_json"] else {},
        metric=row["metric"],
        exit_code=row["exit_code"],
        error=row["error"],
        dir=row["dir"],
        stopped_at_band=row["stopped_at_band"],
        stdout_path=row["stdout_path"],
        stderr_path=row["stderr_path"],
        search_info=json.loads(row["search_info_json"]) if row["search_info_json"] else {},
        end_reason=row["end_reason"],
    )
