"""Plain records that the pure parts (search, stopping) take from the store.

The store turns its rows into these; search and stopping never see the database.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
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
    text is no such time. Every form Python 3.11's ``datetime.fromisoformat`` reads is read,
    on Python 3.10 too (whose ``fromisoformat`` refuses ``Z``, ``+0000``, a fraction other
    than 3 or 6 digits and the basic form ``20240101T120000Z``)."""
    moment = _from_iso(text.strip())
    if moment is not None and moment.tzinfo is not None:
        try:
            moment = moment.astimezone(timezone.utc).replace(tzinfo=None)
        except OverflowError:  # before the year 1 in UTC
            return None
    return moment


# ISO 8601 as Python 3.11's fromisoformat takes it: a date (extended or basic, calendar
# or week), then optionally any one non-digit and a time of hours, minutes, seconds and a
# fraction (``.`` or ``,``, digits past the 6th dropped), then optionally ``Z`` or an offset
# of up to seconds and a fraction. The separators of each part are all there or all absent.
_ISO = re.compile(
    r"(?P<year>\d{4})"
    r"(?:(?P<ds>-?)(?P<month>\d\d)(?P=ds)(?P<day>\d\d)"
    r"|(?P<ws>-?)W(?P<week>\d\d)(?:(?P=ws)(?P<weekday>\d))?)"
    r"(?:\D(?P<hour>\d\d)"
    r"(?:(?P<ts>:?)(?P<minute>\d\d)(?:(?P=ts)(?P<second>\d\d)(?:[.,](?P<fraction>\d+))?)?)?"
    r"(?P<zone>Z|[+-]\d\d(?:(?P<zs>:?)\d\d(?:(?P=zs)\d\d(?:[.,]\d+)?)?)?)?)?",
    re.ASCII,
)


def _from_iso(text: str) -> datetime | None:
    found = _ISO.fullmatch(text)
    if found is None:
        return None
    part = found.groupdict()
    try:
        if part["week"] is not None:
            day = date.fromisocalendar(
                int(part["year"]), int(part["week"]), int(part["weekday"] or 1)
            )
        else:
            day = date(int(part["year"]), int(part["month"]), int(part["day"]))
        return datetime(
            day.year,
            day.month,
            day.day,
            int(part["hour"] or 0),
            int(part["minute"] or 0),
            int(part["second"] or 0),
            _microseconds(part["fraction"]),
            _zone(part["zone"]),
        )
    except ValueError:  # a day, hour or offset out of range
        return None


def _microseconds(fraction: str | None) -> int:
    return int(fraction[:6].ljust(6, "0")) if fraction else 0


def _zone(text: str | None) -> timezone | None:
    if text is None:
        return None
    if text == "Z":
        return timezone.utc
    # Minutes and seconds past 59 carry over, as in fromisoformat ("+01:60" is "+02:00").
    digits = text[1:].replace(":", "")
    offset = timedelta(
        hours=int(digits[:2]),
        minutes=int(digits[2:4] or 0),
        seconds=int(digits[4:6] or 0),
        microseconds=_microseconds(digits[7:]),
    )
    return timezone(-offset if text[0] == "-" else offset)  # ValueError past 24 hours


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
