"""Plain records that the pure parts (search, stopping) take from the store.

The store turns its rows into these; search and stopping never see the database.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from localsweep.config import ParamPath

__all__ = ["MISSING", "RESULT_STATES", "Proposal", "RunState", "RunView", "SweepState", "lookup"]


class RunState(str, enum.Enum):
    """A run's state, in wandb's words, plus ``early_terminated`` for runs hyperband stopped.

    ``crashed`` means the process running it died (its agent was killed, the machine
    went down); ``failed`` means the user's code raised or exited non-zero; ``killed``
    means the user stopped it (Ctrl-C, or a cancelled sweep); ``preempted`` means its
    program or agent was preempted (``wandb.run.mark_preempting()``, SIGTERM from a
    scheduler): the run is requeued and resumed later with the same id, by any agent.
    """

    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"
    CRASHED = "crashed"
    KILLED = "killed"
    EARLY_TERMINATED = "early_terminated"
    PREEMPTED = "preempted"

    @property
    def is_finished(self) -> bool:
        """Whether the run has ended for good (a preempted run will run again)."""
        return self is not RunState.RUNNING and self is not RunState.PREEMPTED

    @property
    def gives_point_back(self) -> bool:
        """Whether a run that ended so releases its grid point and does not count for
        ``run_cap``: its process died (crashed) or the user interrupted it (killed)."""
        return self is RunState.CRASHED or self is RunState.KILLED


#: The states whose metric is the run's result (as values; a ``RunState`` matches too): it
#: ran to the end, or was stopped early (Hyperband, a plateau, a pruner) at the value it had
#: reached. The best run, the report's analysis and its "best so far" line count these; a
#: failed, crashed or killed run's value is partial.
RESULT_STATES = frozenset({RunState.FINISHED.value, RunState.EARLY_TERMINATED.value})


class SweepState(str, enum.Enum):
    """A sweep's state: ``pending`` before its first run, ``finished`` when nothing is left
    (or the user stopped it), ``paused`` while agents wait for a resume, ``canceled`` when
    the user cancelled it (its running runs are stopped). wandb names them the same."""

    PENDING = "pending"
    RUNNING = "running"
    FINISHED = "finished"
    PAUSED = "paused"
    CANCELED = "canceled"


@dataclass(frozen=True)
class RunView:
    """What search and stopping know about one run of the sweep.

    ``params`` holds the run's parameters flat, keyed by path. ``history`` holds every
    value of the sweep's metric the run logged, in order (not-a-number and infinities
    included; consumers filter as wandb does). ``summary`` is the metric's summary
    value, if the run has one.
    """

    id: str
    state: RunState
    params: Mapping[ParamPath, Any] = field(default_factory=dict)
    history: tuple[float, ...] = ()
    summary: float | None = None
    grid_key: str | None = None
    #: The run's whole summary, for an ended run of a multi-objective sweep (each
    #: objective is read from it); empty otherwise.
    summary_data: Mapping[str, Any] = field(default_factory=dict)
    #: What the search kept with the run when it proposed it (``Proposal.info``), for
    #: ``method: custom`` sweeps; empty otherwise.
    search_info: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Proposal:
    """A search method's next point: every parameter (constants included), flat.

    ``grid_key`` identifies a grid point; the store keeps it unique per sweep, so
    that racing agents cannot run the same point twice.
    """

    params: Mapping[ParamPath, Any]
    grid_key: str | None = None
    #: Anything the search method wants to keep with the run (e.g. Optuna's trial number).
    info: Mapping[str, Any] = field(default_factory=dict)


def naive_utc(text: str) -> datetime | None:
    """An ISO time as wandb and spreadsheets write it (``2024-01-01T12:00:00Z``, with or
    without an offset) as the store keeps times: UTC, without a zone; ``None`` when the
    text is no such time."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return moment


#: What :func:`lookup` returns for a name the data lacks.
MISSING = object()


def lookup(data: Mapping[str, Any], name: str) -> Any:
    """The value of ``name`` in a run's logged row or summary: the key itself, else a dotted
    path into nested dicts (``{"val": {"loss": 1}}`` has ``val.loss``, as wandb's summary
    names it); :data:`MISSING` when neither is there."""
    if name in data:
        return data[name]
    node: Any = data
    for part in name.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return MISSING
        node = node[part]
    return node
