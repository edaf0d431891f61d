"""Claims, leases, heartbeats and requeueing.

A claim hands out a run under a new lease (a fencing token): first a preempted run waiting
to be resumed (same id, number and config, attempt + 1), else a new run proposed by the
search. Runs of dead agents are reaped first (marked crashed, their grid point given back:
``_reaper.py``) in the claim transaction. Heartbeats beat only runs still held with their lease
and report the ones that are not. A run's times (its claim, heartbeats, and its end when
reaped) come from the database's clock on servers (``_clock.py``), so clock skew between
hosts changes neither the timeout nor a run's runtime. Each claim keeps the claiming
agent's heartbeat timeout on the run, and a run is judged stale by that one: an agent with
a short ``LOCALSWEEP_HEARTBEAT_TIMEOUT`` never reaps the live run of an agent that beats
less often.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, exists, insert, select, update
from sqlalchemy.sql.elements import ColumnElement

from localsweep.config import SweepConfig, whole_floats_as_ints
from localsweep.records import Proposal, RunState, RunView, SweepState
from localsweep.store._clock import SERVER_STATEMENT_TIME, db_now, server_clock
from localsweep.store._records import AgentInfo, ClaimOutcome, RunRecord
from localsweep.store._sweeps import (
    claim_outcome_of,
    finish_if_idle,
    finish_sweep,
    lock_sweep,
    recount,
    running_runs,
    unknown_sweep,
    wrong_counters,
)
from localsweep.store._tables import (
    dumps,
    heartbeat_timeout,
    now,
    run_record,
    runs,
    sweeps,
)

__all__ = [
    "beat",
    "claim_new",
    "claim_requeued",
    "lock_sweep_for_claim",
]

logger = logging.getLogger(__name__)

# No ORDER BY: it would make SQLite walk the (sweep_id, number) index over every run of the
# sweep instead of looking up the few preempted ones; the oldest is picked in Python.
_SELECT_PREEMPTED = select(runs.c.number, runs.c.id).where(
    runs.c.sweep_id == bindparam("b_sweep_id"), runs.c.state == RunState.PREEMPTED.value
)
# The sweep row, and whether a preempted run of it waits to be resumed, in one statement:
# a claim needs both, and most find no such run.
_SWEEP_FOR_CLAIM = select(
    sweeps,
    exists()
    .where(runs.c.sweep_id == sweeps.c.id, runs.c.state == RunState.PREEMPTED.value)
    .label("preempted_waiting"),
).where(sweeps.c.id == bindparam("b_sweep_id"))
_SWEEP_FOR_CLAIM_LOCKED = _SWEEP_FOR_CLAIM.with_for_update(of=sweeps)
_INSERT_RUN = insert(runs)
# The claim and first heartbeat by the database's clock on servers (store/_clock.py): one
# time for both, when the insert ran (after the claim's wait for the sweep's lock).
_INSERT_RUN_DB_CLOCK = insert(runs).values(
    created_at=SERVER_STATEMENT_TIME, heartbeat_at=SERVER_STATEMENT_TIME
)
_SERVER_TIMES = frozenset({"created_at", "heartbeat_at"})
_BUMP_SWEEP = (
    update(sweeps)
    .where(sweeps.c.id == bindparam("b_sweep_id"))
    .values(
        run_count=bindparam("b_run_count"),
        state=SweepState.RUNNING.value,
        live_count=sweeps.c.live_count + 1,
        running_count=sweeps.c.running_count + 1,
    )
)


def gate(sweep: Any) -> ClaimOutcome | None:
    """What a claim on this sweep row gets when it may not claim (paused, ended)."""
    return claim_outcome_of(sweep["state"], sweep["finished_reason"])


def lock_sweep_for_claim(conn: Connection, sweep_id: str, where: str) -> Any:
    """:func:`~localsweep.store._sweeps.lock_sweep`'s row, with ``preempted_waiting``:
    whether a preempted run of the sweep waits to be resumed."""
    query = _SWEEP_FOR_CLAIM if conn.dialect.name == "sqlite" else _SWEEP_FOR_CLAIM_LOCKED
    row = conn.execute(query, {"b_sweep_id": sweep_id}).mappings().first()
    if row is None:
        raise unknown_sweep(conn, sweep_id, where)
    return row


def claim_requeued(
    conn: Connection, sweep_id: str, agent: AgentInfo, lease: str
) -> RunRecord | None:
    """Hand out the oldest preempted run of the sweep under ``lease``, or ``None``."""
    waiting = conn.execute(_SELECT_PREEMPTED, {"b_sweep_id": sweep_id}).all()
    if not waiting:
        return None
    _number, run_id = min(waiting)
    row = conn.execute(select(runs).where(runs.c.id == run_id)).mappings().one()
    values = {
        "state": RunState.RUNNING.value,
        "lease": lease,
        "attempt": (row["attempt"] or 1) + 1,
        "agent_id": agent.id,
        "agent_host": agent.host,
        "agent_pid": agent.pid,
        "heartbeat_at": db_now(conn),
        "heartbeat_timeout": heartbeat_timeout().total_seconds(),
        "finished_at": None,
        "exit_code": None,
        "error": None,
        # metric stays, as summary_json does: the value so far, until this attempt ends.
        "end_reason": None,
        # stop_requested_band stays: a Hyperband stop the first attempt did not hear before
        # it was preempted is the run's, and the resumed attempt hears it at its first flush.
        "stopped_at_band": None,
        "history_batch": None,
    }
    conn.execute(
        update(runs)
        .where(runs.c.id == row["id"], runs.c.state == RunState.PREEMPTED.value)
        .values(**values)
    )
    conn.execute(
        update(sweeps)
        .where(sweeps.c.id == sweep_id)
        .values(running_count=sweeps.c.running_count + 1, state=SweepState.RUNNING.value)
    )
    logger.info("resuming preempted run %s (attempt %d)", row["id"], values["attempt"])
    return run_record({**row, **values, "heartbeat_at": now()})


def claim_new(
    conn: Connection,
    sweep: Any,
    config: SweepConfig,
    agent: AgentInfo,
    views: Callable[[], Sequence[RunView]],
    propose: Callable[[Sequence[RunView], int], Proposal | None],
    nest: Callable[[Mapping[Any, Any]], dict[str, Any]] | None,
    run_dir: Callable[[str], str | None] | None,
    run_id: str,
    lease: str,
) -> tuple[ClaimOutcome, RunRecord | None]:
    """Propose and insert the sweep's next run (the sweep row is locked)."""
    sweep_id = sweep["id"]
    if config.run_cap is not None and sweep["live_count"] >= config.run_cap:
        # Before the sweep ends at its cap: are the counters right? (one query, here only)
        if wrong_counters(conn, sweep_id):
            _counters_healed(conn, sweep_id, sweep, check=False)
            sweep = lock_sweep(conn, sweep_id, "the database")
        if sweep["live_count"] >= config.run_cap:
            finish_if_idle(conn, sweep_id, ClaimOutcome.RUN_CAP.value)
            return ClaimOutcome.RUN_CAP, None
    number = sweep["run_count"]
    proposal = propose(views(), number)
    if proposal is None:
        if sweep["running_count"] != 0 and _counters_healed(conn, sweep_id, sweep):
            sweep = lock_sweep(conn, sweep_id, "the database")
            if config.run_cap is not None and sweep["live_count"] >= config.run_cap:
                finish_if_idle(conn, sweep_id, ClaimOutcome.RUN_CAP.value)
                return ClaimOutcome.RUN_CAP, None
        if sweep["running_count"] > 0:
            return ClaimOutcome.WAIT, None
        finish_sweep(conn, sweep_id, ClaimOutcome.EXHAUSTED.value)
        return ClaimOutcome.EXHAUSTED, None
    t = now()
    # The config as W&B's server hands it to a run (2.0 as 2): stored so, the run, its
    # argv, wandb.config, show, the Api and exports all get the same value.
    nested: dict[str, Any] = whole_floats_as_ints(
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
        "heartbeat_at": t,
        "heartbeat_timeout": heartbeat_timeout().total_seconds(),
        "created_at": t,
        "dir": run_dir(run_id) if run_dir else None,
        "lease": lease,
        "attempt": 1,
        "history_seq": 0,
        "history_batch": None,
    }
    if server_clock(conn):
        conn.execute(
            _INSERT_RUN_DB_CLOCK, {k: v for k, v in values.items() if k not in _SERVER_TIMES}
        )
    else:
        conn.execute(_INSERT_RUN, values)
    conn.execute(_BUMP_SWEEP, {"b_sweep_id": sweep_id, "b_run_count": number + 1})
    # The new run as a later read would return it: the inserted row, every other column
    # still empty (on a server, its times by this host's clock: the stored ones are the
    # server's).
    empty = dict.fromkeys(runs.columns.keys())
    return ClaimOutcome.CLAIMED, run_record({**empty, **values})


def _counters_healed(conn: Connection, sweep_id: str, sweep: Any, *, check: bool = True) -> bool:
    """Before a claim waits for running runs (or ends the sweep at its ``run_cap``):
    whether the sweep's counters were wrong (no run running as the counter says) and were
    recounted from its runs. An agent older than schema 0004 that went on through
    ``localsweep db upgrade`` wrote runs without counting them, and its sweep would wait
    forever (or end early). One query, only on these paths; ``check=False``: the caller
    found them wrong."""
    if check and running_runs(conn, sweep_id) == sweep["running_count"]:
        return False
    recount(conn, sweep_id)
    logger.info(
        "sweep %s: its run counters (%d live, %d running) did not match its runs: recounted "
        "(an agent older than schema 0004 went on after `localsweep db upgrade`)",
        sweep_id,
        sweep["live_count"],
        sweep["running_count"],
    )
    return True


def find_own_claim(conn: Connection, sweep_id: str, lease: str) -> RunRecord | None:
    """The run this claim's lease already holds: a replay of a committed claim whose
    acknowledgement was lost gets the same run back instead of leaving an orphan."""
    row = (
        conn.execute(
            select(runs).where(
                runs.c.sweep_id == sweep_id,
                runs.c.state == RunState.RUNNING.value,
                runs.c.lease == lease,
            )
        )
        .mappings()
        .first()
    )
    return run_record(row) if row is not None else None


def beat(conn: Connection, held: Sequence[RunRecord]) -> set[str]:
    """Beat the runs still held with these leases; returns the ids that are not."""
    if not held:
        return set()
    ids = [r.id for r in held]
    leases = [r.lease for r in held if r.lease is not None]
    lease_ok: ColumnElement[bool] = runs.c.lease.in_(leases)
    if any(r.lease is None for r in held):
        lease_ok = lease_ok | runs.c.lease.is_(None)
    beaten = conn.execute(
        update(runs)
        .where(runs.c.id.in_(ids), runs.c.state == RunState.RUNNING.value, lease_ok)
        .values(heartbeat_at=db_now(conn))
        .returning(runs.c.id)
    ).all()
    return set(ids) - {r[0] for r in beaten}
