"""What ``show``, the report and ``localsweep ui`` say of a run whose agent is most likely
gone, where a run's time ends and how long it ran: one decision, so the surfaces tell the
same story.

A running run stays ``running`` in the store until another agent claims a run and reaps
it; once its heartbeat is older than the heartbeat timeout of the agent holding it (kept
with its claim), it is shown as ``running (silent 3m)`` (docs/faults.md). A crashed run
(its agent died, or lost its lease) ended at its last heartbeat, as W&B ends a crashed
run's runtime: its ``finished_at`` is when another agent reaped it. A run's runtime is
wandb's ``_runtime`` when its summary has it (what W&B shows), else from its claim to
that end, and never negative.

Imports nothing heavy: ``show`` uses it too.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

__all__ = ["run_end", "run_runtime", "silent_note", "silent_runs", "silent_state"]


def silent_runs(runs: Iterable[Any], now: datetime) -> dict[str, str]:
    """The running runs whose heartbeat is older than the heartbeat timeout of the agent
    holding them (their agent is most likely gone: killed, or its machine down), by id,
    with how long, as ``3m`` (``95s`` under two minutes). ``runs`` are
    :class:`localsweep.api.Run` objects (a run claimed before its timeout was kept with it
    is judged by this process's timeout). ``now`` is the database's
    (:meth:`Store.db_time <localsweep.store.Store.db_time>`), whose clock wrote the
    heartbeats: by the viewer's own, five minutes fast, every running run looked silent."""
    from localsweep.store import heartbeat_timeout

    own = heartbeat_timeout()
    out = {}
    for r in runs:
        if r.state != "running":
            continue
        beat = r.heartbeat_at or r.created_at
        held = getattr(getattr(r, "_record", None), "heartbeat_timeout", None)
        limit = timedelta(seconds=held) if held else own
        if beat is not None and now - beat > limit:
            seconds = int((now - beat).total_seconds())
            out[r.id] = f"{seconds // 60}m" if seconds >= 120 else f"{seconds}s"
    return out


def silent_state(silent_for: str) -> str:
    """A silent run's state as shown: ``running (silent 3m)``."""
    return f"running (silent {silent_for})"


def silent_note(count: int) -> str:
    """What ``count`` silent running runs mean, in words (no parentheses)."""
    many = count != 1
    return (
        f"{count} running run{'s' if many else ''} without a heartbeat for longer than the "
        "heartbeat timeout: the agent is most likely gone (killed, or its machine down); the "
        f"next agent that claims a run of this sweep marks {'them' if many else 'it'} crashed "
        "and runs the point again"
    )


def run_end(run: Any) -> datetime | None:
    """When ``run`` (a :class:`localsweep.api.Run`) ended, for its runtime: its
    ``finished_at``, but for a crashed run its last heartbeat (``Run.heartbeat_at``), since
    another agent reaped it later (a run killed after 8 s showed 29 s); ``None`` while it
    runs."""
    end: datetime | None = run.finished_at
    beat = run.heartbeat_at
    if end is not None and run.state == "crashed" and beat is not None and beat < end:
        return beat
    return end


def run_runtime(run: Any) -> float | None:
    """How long ``run`` (a :class:`localsweep.api.Run`) ran, in seconds, as the report,
    the ui and the study say it: wandb's ``_runtime`` when its stored summary has one
    (what W&B shows: a program-mode run's, see :func:`_stored_summary`), else from its
    claim to its end (:func:`run_end`); ``None`` while it runs. Never negative: the times
    of a run written by clocks that disagreed (agents on machines whose clocks differ,
    before the database's clock wrote them all), or an imported prior run's, could end it
    before it began."""
    end = run_end(run)
    if end is None:
        return None
    wandb_runtime = _stored_summary(run).get("_runtime")
    if (
        isinstance(wandb_runtime, (int, float))
        and not isinstance(wandb_runtime, bool)
        and math.isfinite(wandb_runtime)
    ):
        return max(0.0, float(wandb_runtime))
    return max(0.0, (_utc(end) - _utc(run.created_at)).total_seconds())


def _stored_summary(run: Any) -> Mapping[str, Any]:
    """The run's summary as the store holds it, without opening its wandb file (a
    program-mode run's has wandb's ``_runtime``; a function-mode run's only when its code
    wrote to its summary). Reading every run's file for it cost the report and the ui's
    sweep page one file per run (10% more time at 10,000 runs on a local disk, more on a
    cluster's shared one); and not whatever summary happens to have been read already, so
    a run's runtime is the same on every page."""
    record = getattr(run, "_record", None)
    return record.summary if record is not None else run.summary


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
