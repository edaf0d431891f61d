"""Claims, leases, heartbeats, reaping and requeueing.

A claim hands out a run under a new lease (a fencing token): first a preempted run waiting
to be resumed (same id, number and config, attempt + 1), else a new run proposed by the
search. Runs of dead agents are reaped (marked crashed, their grid point given back) in
the claim transaction, re-checked in the UPDATE itself so a run that finished or beat its
heartbeat meanwhile is left alone. Heartbeats beat only runs still held with their lease
and report the ones that are not. A run's times (its claim, heartbeats, and its end when
reaped) come from the database's clock on servers (``_clock.py``), so clock skew between
hosts changes neither the timeout nor a run's runtime. Each claim keeps the claiming
agent's heartbeat timeout on the run, and a run is judged stale by that one: an agent with
a short ``LOCALSWEEP_HEARTBEAT_TIMEOUT`` never reaps the live run of an agent that beats
less often.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, exists, insert, select, update
from sqlalchemy.sql.elements import ColumnElement

from localsweep.config import SweepConfig, whole_floats_as_ints
from localsweep.records import Proposal, RunState, RunView, SweepState
from localsweep.store._clock import SERVER_STATEMENT_TIME, db_now, server_clock
from localsweep.store._records import AgentInfo, ClaimOutcome, RunRecord
from localsweep.store._sweeps import (
    adjust_counts,
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
    "REAP_INTERVAL",
    "Reaper",
    "beat",
    "claim_new",
    "claim_requeued",
    "lock_sweep_for_claim",
]

logger = logging.getLogger(__name__)

#: How often one agent scans a sweep for runs of dead agents when it claims.
REAP_INTERVAL = 2.0

_SELECT_RUNNING = select(
    runs.c.id, runs.c.agent_id, runs.c.agent_host, runs.c.agent_pid, runs.c.heartbeat_timeout
).where(runs.c.sweep_id == bindparam("b_sweep_id"), runs.c.state == RunState.RUNNING.value)
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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


#: After this process saw the wall clock jump ahead of its monotonic clock (the machine
#: was suspended, or the clock was stepped), how long it takes no run for dead by its
#: heartbeat: every live agent beats within its interval (at most 30 s) of monotonic time,
#: which stood still while the machine slept.
CLOCK_JUMP_HOLD = 40.0


#: After a wait for the database, how long past one beat interval reaping by heartbeat
#: waits: the longest sleep between two retries of a call (the session's backoff cap).
OUTAGE_MARGIN = 2.0


def beat_interval() -> float:
    """How often this process's agent beats, in seconds: a quarter of its heartbeat
    timeout, at most every 30 s (the agent's ``heartbeat_interval``; the store's copy)."""
    return max(0.2, min(30.0, heartbeat_timeout().total_seconds() / 4))


def _wall() -> float:
    """This host's wall clock (Unix seconds), as heartbeats are written on SQLite."""
    return time.time()


class Reaper:
    """Marks runs of dead agents crashed, at most every :data:`REAP_INTERVAL` per agent.

    Heartbeats are wall-clock times (this host's on SQLite). When a laptop sleeps through
    the night with two agents, or NTP steps the clock, every heartbeat looks hours old on
    waking, though each agent beats again within seconds: a claim then would take live
    runs for dead. So a jump of the wall clock against the monotonic one holds off such
    reaping for :data:`CLOCK_JUMP_HOLD` seconds (a dead process on this host is still
    reaped at once)."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], float] = {}
        self._offset: tuple[float, float] | None = None  # (wall - monotonic, at monotonic)
        self._hold_until = 0.0

    def now_and_then(self, conn: Connection, sweep_id: str, agent: AgentInfo) -> tuple[str, ...]:
        """Reap unless this agent did so for this sweep less than REAP_INTERVAL ago (a scan
        per claim would cost a query; heartbeats go stale only after minutes)."""
        t = time.monotonic()
        self.watch_clock(_wall(), t)
        key = (sweep_id, agent.id)
        last = self._last.get(key)
        if last is not None and t - last < REAP_INTERVAL:
            return ()
        self._last[key] = t
        return reap(conn, sweep_id, agent, by_heartbeat=t >= self._hold_until)

    def watch_clock(self, wall: float, mono: float) -> bool:
        """Note the clocks; ``True`` when the wall clock jumped ahead since the last look by
        more than 2 s. NTP's slewing moves it that far only over hours between two looks (a
        long run): then the hold is for nothing, and costs 40 s of waiting to reap a dead
        agent's run, where a sleep taken for drift would cost live runs."""
        offset = wall - mono
        seen, self._offset = self._offset, (offset, mono)
        if seen is None or offset - seen[0] <= 2.0:
            return False
        self._hold_until = mono + CLOCK_JUMP_HOLD
        logger.info(
            "the wall clock jumped %.0f s ahead (a suspend, or a clock step): no run is taken "
            "for dead by its heartbeat for %.0f s, while their agents beat again",
            offset - seen[0],
            CLOCK_JUMP_HOLD,
        )
        return True

    def note_wait(self, waited: float) -> None:
        """A transaction of this store waited ``waited`` seconds for the database (an
        outage retried, a file another writer held): every agent's heartbeats waited too.
        After a wait of a beat interval or more, take no run for dead by its heartbeat
        until the others have had an interval (and the retries' 2 s backoff) to beat
        again: the first claim after a database restart used to reap every live run."""
        interval = beat_interval()
        if waited < interval:
            return
        mono = time.monotonic()
        hold = mono + interval + OUTAGE_MARGIN
        if hold > self._hold_until:
            if self._hold_until <= mono:
                logger.info(
                    "the database answered after %.0f s: no run is taken for dead by its "
                    "heartbeat for %.0f s, while their agents beat again",
                    waited,
                    interval + OUTAGE_MARGIN,
                )
            self._hold_until = hold

    def forget(self, sweep_id: str) -> None:
        """Scan again at the next claim (the transaction that scanned was rolled back)."""
        for key in [k for k in self._last if k[0] == sweep_id]:
            del self._last[key]


def reap(
    conn: Connection, sweep_id: str, agent: AgentInfo, *, by_heartbeat: bool = True
) -> tuple[str, ...]:
    """Mark crashed the running runs of agents that died (same process space, see
    :func:`~localsweep.store._records.process_space`: the pid is gone;
    anywhere, unless ``by_heartbeat`` is false: the heartbeat is stale); returns the ids
    actually changed. The caller holds the sweep lock."""
    rows = conn.execute(_SELECT_RUNNING, {"b_sweep_id": sweep_id}).all()
    if not rows:
        return ()
    pid_dead: list[str] = []
    # By the heartbeat timeout of the agent holding the run (runs claimed before schema
    # 0009 have none: this agent's own), in seconds.
    maybe_stale: dict[float, list[str]] = {}
    own = heartbeat_timeout().total_seconds()
    for run_id, agent_id, host, pid, timeout in rows:
        if agent_id == agent.id:
            continue
        if host == agent.host and pid is not None and not _pid_alive(pid):
            pid_dead.append(run_id)
        elif by_heartbeat:
            maybe_stale.setdefault(timeout or own, []).append(run_id)
    died: list[Any] = []
    late: list[Any] = []
    if pid_dead:
        # Its process is gone from this machine's pids: it died (kill -9, out of memory).
        died += _mark_crashed(
            conn,
            sweep_id,
            runs.c.id.in_(pid_dead),
            "agent_died",
            "the agent running this run died (its process is gone)",
        )
    for timeout, ids in sorted(maybe_stale.items()):
        # Elsewhere, or alive: only a late heartbeat tells, re-checked here by the
        # database, not taken from the read above. It may be suspended and come back, or
        # alive and busy: its heartbeat is a thread of its process, which one long C call
        # of an in-process run that holds Python's GIL (sum(range(N))) stops too.
        cutoff = db_now(conn) - timedelta(seconds=timeout)
        late += _mark_crashed(
            conn,
            sweep_id,
            runs.c.id.in_(ids) & (runs.c.heartbeat_at < cutoff),
            "lease_lost",
            f"the agent running this run sent no heartbeat for {timeout:g} s, its heartbeat "
            "timeout (it died, or was suspended, or its process held Python's GIL in one "
            "long C call past the timeout: its late result will not count)",
        )
    dead = tuple(sorted(r[0] for r in died + late))
    if dead:
        adjust_counts(conn, sweep_id, live=-len(dead), running=-len(dead))
    if died:
        gone = sorted(r[0] for r in died)
        logger.warning("marked %d run(s) of dead agents as crashed: %s", len(gone), gone)
    if late:
        silent = sorted(r[0] for r in late)
        logger.warning(
            "marked %d run(s) as crashed, their agents silent past the heartbeat timeout "
            "(dead, suspended, or holding Python's GIL in one long C call): %s",
            len(silent),
            silent,
        )
    return dead


def _mark_crashed(
    conn: Connection, sweep_id: str, which: ColumnElement[bool], reason: str, error: str
) -> list[Any]:
    return list(
        conn.execute(
            update(runs)
            .where(runs.c.sweep_id == sweep_id, runs.c.state == RunState.RUNNING.value, which)
            .values(
                state=RunState.CRASHED.value,
                grid_key=None,
                # By the server's clock, not this agent's: the run's start is (a reaper
                # an hour behind ended it before it began).
                finished_at=db_now(conn),
                end_reason=reason,
                error=error,
            )
            .returning(runs.c.id)
        ).all()
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
