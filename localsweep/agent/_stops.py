"""How the agent ends a run early from its recorder: :class:`RunStopped` (hyperband, a
plateau) and :class:`RunAborted` (the agent stopped it from outside). Both are
:class:`~localsweep.wandb_bridge.StopRun`: raised in the run's code, they finish its
wandb run cleanly before they unwind it."""

from __future__ import annotations

from localsweep.wandb_bridge import StopRun

__all__ = ["RunAborted", "RunStopped"]


class RunAborted(StopRun):
    """The agent stopped the run from outside: ``reason`` is ``lease_lost`` (another agent
    took it for dead), ``cancelled`` (the sweep was cancelled), ``preempted`` (the agent got
    SIGTERM, SIGHUP) or ``store_error`` (the store failed; the agent says why and stops)."""

    def __init__(self, run_id: str, reason: str):
        super().__init__(f"localsweep: run {run_id} stopped by the agent ({reason})")
        self.run_id = run_id
        self.reason = reason


class RunStopped(StopRun):
    """The run was stopped early: by hyperband at ``band``, or by another rule named by
    ``reason`` (the run's ``end_reason``: ``"plateau"``, with ``band`` ``None``)."""

    def __init__(self, run_id: str, band: int | None, reason: str = "hyperband", detail: str = ""):
        where = f" at band {band}" if band is not None else ""
        super().__init__(
            f"localsweep: run {run_id} stopped early by {reason}{where}"
            + (f" ({detail})" if detail else "")
        )
        self.run_id = run_id
        self.band = band
        self.reason = reason
