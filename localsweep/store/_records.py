"""Frozen snapshots of what the store holds; later writes never change them."""

from __future__ import annotations

import enum
import os
import socket
import sys
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from localsweep.config import SweepConfig
from localsweep.records import RunState, SweepState

__all__ = ["AgentInfo", "Claim", "ClaimOutcome", "RunRecord", "SweepRecord"]


def _read_first_line(path: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.readline().strip()
    except OSError:
        return ""


def process_space() -> str:
    """Where this process's pid means something: the host name, the pid namespace and the
    boot, as ``"NAME pidns:INODE boot:ID"``. Two agents may judge each other by their pids
    only when it is the same: containers often share a host name (``--hostname``,
    ``--network host``, a pod's name on every replica) but each has its own pids, and every
    Linux machine's first pid namespace has the same inode, so the boot id tells machines
    of one name apart. Where Linux does not tell the namespace or the boot (no ``/proc``),
    the space is this process's alone (``NAME unknown:TOKEN``): its agent is judged by its
    heartbeat, never by a pid that may mean another process. Other systems (macOS) have no
    pid namespaces: the host name is the space, as it always was."""
    name = socket.gethostname()[:190]  # the whole within the column's 256
    if not sys.platform.startswith("linux"):
        return name
    try:
        space = os.stat("/proc/self/ns/pid").st_ino
    except OSError:
        space = None
    boot = _read_first_line("/proc/sys/kernel/random/boot_id")
    if space is None or not boot:
        return f"{name} unknown:{uuid.uuid4().hex}"
    return f"{name} pidns:{space} boot:{boot}"


@dataclass(frozen=True)
class AgentInfo:
    """Who is running a run: used to notice dead agents (same process space: the pid is
    gone; elsewhere: the heartbeat is stale). ``host`` is :func:`process_space`, not the
    bare host name: a run whose ``host`` differs from ours is judged by its heartbeat."""

    id: str
    host: str
    pid: int

    @classmethod
    def current(cls) -> AgentInfo:
        name = socket.gethostname()
        pid = os.getpid()
        return cls(id=f"{name}:{pid}:{uuid.uuid4().hex[:8]}", host=process_space(), pid=pid)


@dataclass(frozen=True)
class SweepRecord:
    """A sweep as stored: its config, state and why it finished."""

    id: str
    name: str | None
    config: SweepConfig
    state: SweepState
    finished_reason: str | None
    project: str | None
    entity: str | None
    seed: int
    run_count: int
    created_at: datetime
    finished_at: datetime | None
    #: The directory of the config file the sweep was made from, if any.
    config_dir: str | None = None


@dataclass(frozen=True)
class RunRecord:
    """A run as stored when it was read (a snapshot: later writes do not change it)."""

    id: str
    sweep_id: str
    number: int
    name: str | None
    state: RunState
    config: Mapping[str, Any]
    grid_key: str | None
    point_key: str | None
    agent_id: str | None
    agent_host: str | None
    agent_pid: int | None
    heartbeat_at: datetime | None
    created_at: datetime
    finished_at: datetime | None
    summary: Mapping[str, Any]
    metric: float | None
    exit_code: int | None
    error: str | None
    dir: str | None
    stopped_at_band: int | None
    stdout_path: str | None
    stderr_path: str | None
    search_info: Mapping[str, Any] = field(default_factory=dict)
    #: Why the run ended as it did (``hyperband``, ``plateau``, ...), when something
    #: other than the run's own code ended it.
    end_reason: str | None = None
    #: The fencing token of the claim that handed the run out: every write for the run is
    #: conditional on it (a run reaped or resumed elsewhere has another one).
    lease: str | None = None
    #: 1 for a fresh run; 2 and up when a preempted run is resumed.
    attempt: int = 1
    #: A run done before the sweep and given to it to learn from (``--prior-runs``); it is
    #: not one of the sweep's own runs. ``prior_source`` says where it came from and
    #: ``prior_run_id`` is its own id there, when it has one.
    prior: bool = False
    prior_source: str | None = None
    prior_run_id: str | None = None
    #: The heartbeat timeout (seconds) of the agent holding the run, kept with its claim:
    #: the run counts as silent only past it (``None`` for runs claimed before schema 0009).
    heartbeat_timeout: float | None = None


class ClaimOutcome(str, enum.Enum):
    """Why :meth:`Store.claim_run` did or did not hand out a run."""

    CLAIMED = "claimed"
    #: The search has nothing left (a grid whose points are all done).
    EXHAUSTED = "exhausted"
    #: Nothing to claim now, but runs in flight may still crash and give their point back.
    WAIT = "wait"
    RUN_CAP = "run_cap"
    TARGET_REACHED = "target_reached"
    #: The sweep was finished before (for any reason), stopped or cancelled.
    FINISHED = "finished"
    #: The sweep is paused: start nothing and ask again later (until it is resumed).
    PAUSED = "paused"


@dataclass(frozen=True)
class Claim:
    """What a claim did: its outcome, the run it handed out, runs it reaped."""

    outcome: ClaimOutcome
    run: RunRecord | None = None
    #: Runs this claim found orphaned by a dead agent and marked crashed.
    reaped: tuple[str, ...] = ()
