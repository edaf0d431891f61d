"""Reaping: the running runs of dead agents marked crashed, in a claim's transaction.

A run's agent is dead when its process is gone (same process space only: see
:func:`~localsweep.store._records.process_space`) or its heartbeat is older than the
heartbeat timeout the agent claimed it with. Heartbeats may be late for reasons that are
not death: the machine slept or its clock was stepped (the wall clock jumped ahead of the
monotonic one), or the database could not be reached (no beat could land). After either,
runs are not judged by their heartbeat until their agents have had time to beat again.
The state is re-checked in the UPDATE itself, so a run that finished or beat its heartbeat
meanwhile is left alone.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, select, update
from sqlalchemy.sql.elements import ColumnElement

from localsweep.records import RunState
from localsweep.store._clock import db_now
from localsweep.store._records import AgentInfo
from localsweep.store._sweeps import adjust_counts
from localsweep.store._tables import heartbeat_timeout, runs

__all__ = ["REAP_INTERVAL", "START_HOLD", "Reaper", "beat_interval", "interval_of", "reap"]

logger = logging.getLogger(__name__)

#: How often one agent scans a sweep for runs of dead agents when it claims.
REAP_INTERVAL = 2.0

_SELECT_RUNNING = select(
    runs.c.id, runs.c.agent_id, runs.c.agent_host, runs.c.agent_pid, runs.c.heartbeat_timeout
).where(runs.c.sweep_id == bindparam("b_sweep_id"), runs.c.state == RunState.RUNNING.value)


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


#: How long a store just opened takes no run for dead by its heartbeat. It cannot know
#: whether the database has only just come back (a job script that starts the agent again
#: until it can connect starts it then), while the other agents' beats are still in their
#: retries' backoff: as long as that backoff's cap. A dead process on this host is still
#: reaped at once; a dead agent elsewhere waits that much longer.
START_HOLD = OUTAGE_MARGIN


#: The shortest and longest time between an agent's beats, in seconds.
MIN_BEAT_INTERVAL = 0.2
MAX_BEAT_INTERVAL = 30.0


def interval_of(timeout: float) -> float:
    """How often an agent with this heartbeat ``timeout`` (seconds) beats: a quarter of it,
    at most every 30 s."""
    return max(MIN_BEAT_INTERVAL, min(MAX_BEAT_INTERVAL, timeout / 4))


def beat_interval() -> float:
    """How often this process's agent beats, in seconds (the agent's
    ``heartbeat_interval``; the store's copy)."""
    return interval_of(heartbeat_timeout().total_seconds())


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
        #: Recent waits for the database: (seconds, when it ended by the monotonic clock).
        self._waits: list[tuple[float, float]] = []
        #: Until when (monotonic) a store just opened holds reaping: :data:`START_HOLD`.
        self._opening = time.monotonic() + START_HOLD

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
        return reap(conn, sweep_id, agent, by_heartbeat=t >= self._hold_until, held=self.waited_out)

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
        Remembered for :meth:`waited_out`: the first claim after a database restart used to
        reap every live run."""
        if waited < MIN_BEAT_INTERVAL:
            return
        mono = time.monotonic()
        longest = MAX_BEAT_INTERVAL + OUTAGE_MARGIN
        # A wait no longer than a later one holds nothing the later one does not.
        self._waits = [(w, e) for w, e in self._waits if w > waited and mono - e < longest]
        self._waits.append((waited, mono))
        if waited >= beat_interval():
            logger.info(
                "the database answered after %.0f s: runs whose agents beat at most that "
                "often are not taken for dead by their heartbeat until they have beaten again",
                waited,
            )

    def waited_out(self, timeout: float) -> bool:
        """Whether the runs of agents with this heartbeat ``timeout`` wait to be judged by
        their heartbeat: a recent wait for the database was at least their beat interval
        long (their beats could not land), and ended less than an interval and the
        retries' 2 s backoff ago (time for them to beat again); or this store was opened
        less than :data:`START_HOLD` ago. Judged by each run's own
        timeout: an agent that beats every 30 s waiting 5 s holds nothing of its own, but
        the runs of one that beats every half second missed their beats."""
        interval = interval_of(timeout)
        mono = time.monotonic()
        if mono < self._opening:
            return True
        return any(w >= interval and mono - e < interval + OUTAGE_MARGIN for w, e in self._waits)

    def forget(self, sweep_id: str) -> None:
        """Scan again at the next claim (the transaction that scanned was rolled back)."""
        for key in [k for k in self._last if k[0] == sweep_id]:
            del self._last[key]


def reap(
    conn: Connection,
    sweep_id: str,
    agent: AgentInfo,
    *,
    by_heartbeat: bool = True,
    held: Callable[[float], bool] = lambda timeout: False,
) -> tuple[str, ...]:
    """Mark crashed the running runs of agents that died (same process space, see
    :func:`~localsweep.store._records.process_space`: the pid is gone;
    anywhere, unless ``by_heartbeat`` is false or ``held(timeout)`` for the run's heartbeat
    timeout: the heartbeat is stale); returns the ids actually changed. The caller holds
    the sweep lock."""
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
        if held(timeout):
            continue  # their beats could not land of late: judged once they could
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
