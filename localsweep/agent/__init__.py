"""Agents: claim a run, execute it (in-process or in a subprocess), record it, finish it."""

from __future__ import annotations

from localsweep.agent._agent import (
    Agent,
    AgentReport,
    InProcessRunner,
    Runner,
    RunOutcome,
    wandb_root,
)
from localsweep.agent._recorder import RunRecorder, RunStopped

__all__ = [
    "Agent",
    "AgentReport",
    "InProcessRunner",
    "RunOutcome",
    "RunRecorder",
    "RunStopped",
    "Runner",
    "wandb_root",
]
