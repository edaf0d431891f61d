"""Sweeps: their rows, their run counters, when they finish, and the user's control
(pause, resume, stop, cancel). Functions take the caller's connection, so the facade can
combine them with runs and claims in one transaction."""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, delete, exists, func, insert, or_, select, update

from localsweep.config import Method, SweepConfig, parse_config
from localsweep.errors import NotFoundError, SweepControlError
from localsweep.records import RunState, SweepState
from localsweep.store._clock import db_now
from localsweep.store._priors import prior_points
from localsweep.store._records import ClaimOutcome, SweepRecord
from localsweep.store._tables import dumps, history, runs, sweeps

__all__ = [
    "CONTROL_ACTIONS",
    "SweepConfigs",
    "adjust_counts",
    "control",
    "discard_unstarted",
    "finish_if_done",
    "finish_if_idle",
    "finish_sweep",
    "grid_size",
    "insert_sweep",
    "lock_sweep",
    "recount",
    "running_runs",
    "sweep_record",
    "wrong_counters",
]

logger = logging.getLogger(__name__)

#: What :func:`control` accepts, as ``wandb sweep --pause|--resume|--stop|--cancel``.
CONTROL_ACTIONS = ("pause", "resume", "stop", "cancel")
#: ``finished_reason`` of a sweep the user stopped or cancelled.
STOPPED = "stopped"
CANCELED = "canceled"

_SELECT_SWEEP = select(sweeps).where(sweeps.c.id == bindparam("b_sweep_id"))
_SELECT_SWEEP_LOCKED = _SELECT_SWEEP.with_for_update()
_ADJUST = (
    update(sweeps)
    .where(sweeps.c.id == bindparam("b_sweep_id"))
    .values(
        live_count=sweeps.c.live_count + bindparam("b_live"),
        running_count=sweeps.c.running_count + bindparam("b_running"),
    )
)
_HAS_PREEMPTED = select(
    exists().where(
        runs.c.sweep_id == bindparam("b_sweep_id"), runs.c.state == RunState.PREEMPTED.value
    )
)
_ENDED = (SweepState.FINISHED.value, SweepState.CANCELED.value)
_GIVE_BACK = tuple(s.value for s in RunState if s.gives_point_back)
_COUNT_RUNNING = select(func.count()).where(
    runs.c.sweep_id == bindparam("b_sweep_id"), runs.c.state == RunState.RUNNING.value
)
# The counters as the runs have them: a run counts as live (for run_cap and the grid) until
# it crashed or was killed, prior runs never; a run counts as running while it runs.
_LIVE_OF_SWEEP = (
    select(func.count())
    .where(
        runs.c.sweep_id == sweeps.c.id,
        runs.c.prior.is_(False),
        runs.c.state.not_in(_GIVE_BACK),
    )
    .scalar_subquery()
)
_RUNNING_OF_SWEEP = (
    select(func.count())
    .where(runs.c.sweep_id == sweeps.c.id, runs.c.state == RunState.RUNNING.value)
    .scalar_subquery()
)


def grid_size(config: SweepConfig) -> int:
    """How many points the grid of ``config`` has."""
    from localsweep.config._distributions import grid_count

    return math.prod(grid_count(p) for p in config.parameters)


class SweepConfigs:
    """Parsed sweep configs by sweep id: a config never changes once the sweep exists."""

    def __init__(self) -> None:
        self._cache: dict[str, SweepConfig] = {}

    def get(self, sweep_id: str, config_json: str) -> SweepConfig:
        """The config of ``sweep_id`` parsed from ``config_json`` (once)."""
        cfg = self._cache.get(sweep_id)
        if cfg is None:
            cfg = self._cache[sweep_id] = parse_config(json.loads(config_json), stored=True)
        return cfg

    def of(self, conn: Connection, sweep_id: str) -> SweepConfig:
        """The config of ``sweep_id``, read if not known yet."""
        cached = self._cache.get(sweep_id)
        if cached is not None:
            return cached
        config_json = conn.execute(
            select(sweeps.c.config_json).where(sweeps.c.id == sweep_id)
        ).scalar()
        if config_json is None:
            raise NotFoundError(f"no sweep {sweep_id!r}")
        return self.get(sweep_id, config_json)


def sweep_record(row: Any, configs: SweepConfigs) -> SweepRecord:
    """A :class:`SweepRecord` from a row of ``sweeps``."""
    return SweepRecord(
        id=row["id"],
        name=row["name"],
        config=configs.get(row["id"], row["config_json"]),
        state=SweepState(row["state"]),
        finished_reason=row["finished_reason"],
        project=row["project"],
        entity=row["entity"],
        seed=row["seed"],
        run_count=row["run_count"],
        created_at=row["created_at"],
        finished_at=row["finished_at"],
        config_dir=row["config_dir"],
    )


def insert_sweep(conn: Connection, values: dict[str, Any]) -> None:
    """Insert a new sweep row (a replayed insert of the same id is a no-op), created now by
    the database's clock, as its runs' times are (``_clock.py``)."""
    if conn.execute(select(sweeps.c.id).where(sweeps.c.id == values["id"])).first():
        return
    values = {**values, "created_at": db_now(conn)}
    conn.execute(insert(sweeps).values(**values, live_count=0, running_count=0))


def lock_sweep(conn: Connection, sweep_id: str, where: str) -> Any:
    """Read the sweep row, locking it on servers (SQLite's IMMEDIATE transaction already
    holds the only write lock). Every transaction that writes a sweep row or several runs
    of a sweep calls this first: one lock order, so no deadlock."""
    query = _SELECT_SWEEP if conn.dialect.name == "sqlite" else _SELECT_SWEEP_LOCKED
    row = conn.execute(query, {"b_sweep_id": sweep_id}).mappings().first()
    if row is None:
        raise unknown_sweep(conn, sweep_id, where)
    return row


def unknown_sweep(conn: Connection, sweep_id: str, where: str) -> NotFoundError:
    """The error for a sweep id the database does not hold, with the closest one it does."""
    ids = [str(i) for i in conn.execute(select(sweeps.c.id)).scalars()]
    return NotFoundError(not_found_message(sweep_id, ids, where))


def not_found_message(sweep_id: str, ids: list[str], where: str) -> str:
    """``no sweep 'X' in URL``, with the id meant where one is close (the ``ls-`` prefix
    left out, a letter off), and how to list the sweeps or name another database."""
    import difflib

    text = f"no sweep {sweep_id!r} in {where}"
    if not ids:
        return f"{text}, which holds no sweep; pass --db (db=, LOCALSWEEP_DB) for another"
    if f"ls-{sweep_id}" in ids:
        close = [f"ls-{sweep_id}"]
    else:
        close = difflib.get_close_matches(sweep_id, ids, n=1, cutoff=0.75)
    meant = f". Did you mean {close[0]}?" if close else ""
    return (
        f"{text}{meant} (`localsweep ls` lists this database's sweeps; for another "
        "database pass --db, db= or LOCALSWEEP_DB)"
    )


def adjust_counts(conn: Connection, sweep_id: str, *, live: int = 0, running: int = 0) -> None:
    """Move the sweep's run counters by these amounts."""
    if live or running:
        conn.execute(_ADJUST, {"b_sweep_id": sweep_id, "b_live": live, "b_running": running})


def running_runs(conn: Connection, sweep_id: str) -> int:
    """How many runs of the sweep are running, counted (not the counter)."""
    return int(conn.execute(_COUNT_RUNNING, {"b_sweep_id": sweep_id}).scalar_one())


def wrong_counters(conn: Connection, sweep_id: str | None = None) -> list[str]:
    """The ids of the sweeps (of ``sweep_id`` alone, if given) whose run counters differ
    from their runs."""
    wrong = or_(
        sweeps.c.live_count.is_distinct_from(_LIVE_OF_SWEEP),
        sweeps.c.running_count.is_distinct_from(_RUNNING_OF_SWEEP),
    )
    if sweep_id is not None:
        wrong = wrong & (sweeps.c.id == sweep_id)
    return sorted(str(i) for i in conn.execute(select(sweeps.c.id).where(wrong)).scalars())


def recount(conn: Connection, sweep_id: str | None = None) -> list[str]:
    """Set the run counters of ``sweep_id`` (of every sweep: ``None``) from its runs where
    they are wrong; returns the ids of the sweeps repaired. Counters go wrong only when a
    localsweep older than schema 0004, which knows none, went on writing runs after
    ``localsweep db upgrade``."""
    ids = wrong_counters(conn, sweep_id)
    if ids:
        conn.execute(
            update(sweeps)
            .where(sweeps.c.id.in_(ids))
            .values(live_count=_LIVE_OF_SWEEP, running_count=_RUNNING_OF_SWEEP)
        )
    return ids


def has_preempted(conn: Connection, sweep_id: str) -> bool:
    """Whether runs of the sweep wait to be resumed (one index lookup)."""
    return bool(conn.execute(_HAS_PREEMPTED, {"b_sweep_id": sweep_id}).scalar())


def finish_sweep(conn: Connection, sweep_id: str, reason: str) -> None:
    """Mark the sweep finished for ``reason`` unless it already ended (finished or
    cancelled: the first reason stays)."""
    conn.execute(
        update(sweeps)
        .where(sweeps.c.id == sweep_id, sweeps.c.state.not_in(_ENDED))
        .values(state=SweepState.FINISHED.value, finished_reason=reason, finished_at=db_now(conn))
    )


def _counts(conn: Connection, sweep_id: str) -> tuple[int, int]:
    row = conn.execute(
        select(sweeps.c.live_count, sweeps.c.running_count).where(sweeps.c.id == sweep_id)
    ).one()
    return int(row[0]), int(row[1])


def finish_if_idle(conn: Connection, sweep_id: str, reason: str) -> None:
    """Finish the sweep for ``reason`` when no run is running or waits to be resumed."""
    _live, running = _counts(conn, sweep_id)
    if not running and not has_preempted(conn, sweep_id):
        finish_sweep(conn, sweep_id, reason)


def finish_if_done(conn: Connection, sweep_id: str, config: SweepConfig) -> None:
    """Finish a sweep whose last run just ended when nothing more can be claimed: its
    run_cap is reached or its grid is exhausted (so it reads ``finished`` even when the
    agent stopped at its ``count`` without asking for another run). O(1): counters."""
    if config.run_cap is None and config.method is not Method.GRID:
        return
    live, running = _counts(conn, sweep_id)
    if running or has_preempted(conn, sweep_id):
        return
    if config.run_cap is not None and live >= config.run_cap:
        finish_sweep(conn, sweep_id, ClaimOutcome.RUN_CAP.value)
    elif config.method is Method.GRID and live + prior_points(conn, sweep_id) >= grid_size(config):
        finish_sweep(conn, sweep_id, ClaimOutcome.EXHAUSTED.value)


def control(conn: Connection, sweep: Any, action: str, *, seen: Sequence[str] = ()) -> None:
    """Apply ``action`` (pause, resume, stop, cancel) to the locked sweep row ``sweep``.
    ``seen``: the states earlier attempts of the same call found (a replay after a lost
    commit answer): a resume that finds the sweep running after one of them found it
    halted is its own, and succeeds. Pause, stop and cancel are safe to replay as they are."""
    state = SweepState(sweep["state"])
    reason = sweep["finished_reason"]
    sweep_id = sweep["id"]
    if action not in CONTROL_ACTIONS:
        raise SweepControlError(
            f"unknown sweep action {action!r}: use one of {', '.join(CONTROL_ACTIONS)}"
        )
    values: dict[str, Any]
    if action == "pause":
        if state is SweepState.PAUSED:
            return
        if state in (SweepState.FINISHED, SweepState.CANCELED):
            raise SweepControlError(
                f"sweep {sweep_id} is {_describe(state, reason)}: there is nothing to pause"
                + (" (resume it first)" if _resumable(state, reason) else "")
            )
        values = {"state": SweepState.PAUSED.value}
    elif action == "resume":
        live = (SweepState.PENDING, SweepState.RUNNING)
        if state in live and any(SweepState(s) not in live for s in seen):
            return  # resumed by this call's own earlier attempt, whose answer was lost
        if not (state is SweepState.PAUSED or _resumable(state, reason)):
            raise SweepControlError(
                f"sweep {sweep_id} is {_describe(state, reason)}: only a paused, stopped or "
                "cancelled sweep can be resumed"
            )
        fresh = sweep["run_count"] == 0
        values = {
            "state": (SweepState.PENDING if fresh else SweepState.RUNNING).value,
            "finished_reason": None,
            "finished_at": None,
        }
    elif action == "stop":
        if state in (SweepState.FINISHED, SweepState.CANCELED):
            return
        values = {
            "state": SweepState.FINISHED.value,
            "finished_reason": STOPPED,
            "finished_at": db_now(conn),
        }
    else:  # cancel
        if state is SweepState.CANCELED:
            return
        if state is SweepState.FINISHED and not _counts(conn, sweep_id)[1]:
            # Over (exhausted, run_cap, target, or stopped) with nothing running: there is
            # nothing to cancel. A stopped sweep's runs still going are what a cancel
            # after a stop is for: they are stopped then.
            return
        values = {
            "state": SweepState.CANCELED.value,
            "finished_reason": CANCELED,
            "finished_at": db_now(conn),
        }
    conn.execute(update(sweeps).where(sweeps.c.id == sweep_id).values(**values))
    logger.info("sweep %s: %s (was %s)", sweep_id, action, state.value)


def _resumable(state: SweepState, reason: str | None) -> bool:
    return state is SweepState.CANCELED or (state is SweepState.FINISHED and reason == STOPPED)


def _describe(state: SweepState, reason: str | None) -> str:
    if state is SweepState.FINISHED and reason:
        return f"finished ({reason})"
    return state.value


def claim_outcome_of(state: str, reason: str | None) -> ClaimOutcome | None:
    """What a claim on a sweep in this state gets, or ``None`` when it may claim."""
    if state == SweepState.PAUSED.value:
        return ClaimOutcome.PAUSED
    if state == SweepState.CANCELED.value:
        return ClaimOutcome.FINISHED
    if state == SweepState.FINISHED.value:
        known = {o.value for o in ClaimOutcome}
        return ClaimOutcome(reason) if reason in known else ClaimOutcome.FINISHED
    return None


def insert_values(
    sweep_id: str,
    config: SweepConfig,
    *,
    name: str | None,
    project: str | None,
    entity: str | None,
    seed: int,
) -> dict[str, Any]:
    """The row of a new sweep (:func:`insert_sweep` adds when it was created)."""
    return {
        "id": sweep_id,
        "name": name or config.name,
        "method": config.method.value,
        "config_json": dumps(dict(config.raw)),
        "project": project or config.project,
        "entity": entity or config.entity,
        "state": SweepState.PENDING.value,
        "seed": seed,
        "run_count": 0,
        "config_dir": config.source_dir,
    }


def change_token(conn: Connection, sweep_id: str) -> tuple[Any, ...] | None:
    """A value that changes whenever what a sweep's page shows may have changed: its state
    and counters, its runs per state and their last end, the last history row written
    (in any sweep: one index lookup). ``None`` for no such sweep."""
    sweep = conn.execute(
        select(sweeps.c.state, sweeps.c.run_count, sweeps.c.finished_reason).where(
            sweeps.c.id == sweep_id
        )
    ).first()
    if sweep is None:
        return None
    states = conn.execute(
        select(runs.c.state, func.count(), func.max(runs.c.finished_at))
        .where(runs.c.sweep_id == sweep_id)
        .group_by(runs.c.state)
    ).all()
    last_row = conn.execute(select(func.max(history.c.id))).scalar()
    return (tuple(sweep), tuple(sorted(tuple(map(str, s)) for s in states)), last_row)


def discard_unstarted(conn: Connection, sweep_id: str) -> bool:
    """Delete ``sweep_id`` with its prior runs if no run of its own was ever claimed (a
    sweep whose agent could not start); ``False``, and nothing deleted, otherwise. The
    sweep row is locked first, as a claim locks it: no run can be claimed meanwhile."""
    lock_sweep(conn, sweep_id, "the database")
    own = select(exists().where(runs.c.sweep_id == sweep_id, runs.c.prior.is_(False)))
    if conn.execute(own).scalar():
        return False
    its_runs = select(runs.c.id).where(runs.c.sweep_id == sweep_id).scalar_subquery()
    conn.execute(delete(history).where(history.c.run_id.in_(its_runs)))
    conn.execute(delete(runs).where(runs.c.sweep_id == sweep_id))
    return bool(conn.execute(delete(sweeps).where(sweeps.c.id == sweep_id)).rowcount)
