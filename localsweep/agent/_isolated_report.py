"""What a run's process (``isolation="process"``) reports to its agent about the run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["_ChildReport"]


@dataclass(frozen=True)
class _ChildReport:
    """What the child tells the parent about its run."""

    state: str
    exit_code: int | None
    error: str | None
    stopped_at_band: int | None
    summary: dict[str, Any]
    finished_exit_code: int | None
    dir: str | None
    name: str | None
    metric_values: list[float | None]
    iterations: int
    end_reason: str | None = None
    #: localsweep's warnings in the child about its wandb use (a second wandb run, a run
    #: asked online...), which the parent says once per sweep, not once per run's process.
    warnings: list[str] = field(default_factory=list)
    #: wandb printed the failure's traceback on the child's stderr (leaving ``with
    #: wandb.init()``), which the parent shows as it comes.
    traceback_shown: bool = False
    #: The store's error that stopped the run in the child (its message and class name):
    #: the agent stops with it, as when its own connection fails.
    store_error: str | None = None
    store_error_type: str | None = None
