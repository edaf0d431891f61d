"""Agents: claim a run, execute it (in-process or in a subprocess), record it, finish it."""

from __future__ import annotations

from localsweep.agent._agent import (
    Agent,
    AgentInterrupted,
    AgentReport,
    InProcessRunner,
    Runner,
    RunOutcome,
    wandb_root,
)
from localsweep.agent._control import AgentTerminated
from localsweep.agent._isolated import IsolatedFunctionRunner
from localsweep.agent._recorder import RunRecorder, RunStopped
from localsweep.agent._subprocess import DEFAULT_GRACE_PERIOD, ProgramRunner
from localsweep.agent._workers import WorkerSlot, run_workers, runner_factory

__all__ = [
    "DEFAULT_GRACE_PERIOD",
    "Agent",
    "AgentInterrupted",
    "AgentReport",
    "AgentTerminated",
    "InProcessRunner",
    "IsolatedFunctionRunner",
    "ProgramRunner",
    "RunOutcome",
    "RunRecorder",
    "RunStopped",
    "Runner",
    "WorkerSlot",
    "run_workers",
    "runner_factory",
    "wandb_root",
]
