"""Defaults shared by the agent's runners and the public functions (a module with no
imports, so that ``import localsweep`` stays cheap)."""

from __future__ import annotations

__all__ = ["DEFAULT_GRACE_PERIOD"]

#: Seconds between ``SIGINT`` and ``SIGTERM``, and again before ``SIGKILL``. wandb finishes a
#: run on ``SIGINT`` in about a second; the rest is for the user's own cleanup (checkpoints).
DEFAULT_GRACE_PERIOD = 10.0
