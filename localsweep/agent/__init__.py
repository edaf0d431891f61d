"""Agents: claim a run, execute it (in-process or in a subprocess), record it, finish it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from localsweep._lazy import lazy_names
from localsweep.agent._defaults import DEFAULT_GRACE_PERIOD

if TYPE_CHECKING:
    from localsweep.agent._agent import (
        Agent,
        AgentReport,
        Runner,
        RunOutcome,
        wandb_root,
    )
    from localsweep.agent._control import AgentTerminated
    from localsweep.agent._inprocess import InProcessRunner
    from localsweep.agent._isolated import IsolatedFunctionRunner
    from localsweep.agent._recorder import RunRecorder, RunStopped
    from localsweep.agent._stop_messages import AgentInterrupted
    from localsweep.agent._subprocess import ProgramRunner
    from localsweep.agent._workers import WorkerSlot, run_workers, runner_factory

# Imported on first use: `import localsweep` imports this package (before binding the
# function `localsweep.agent`), and the agent's modules pull in SQLAlchemy and wandb.
__getattr__ = lazy_names(
    __name__,
    {
        "Agent": "localsweep.agent._agent",
        "AgentInterrupted": "localsweep.agent._stop_messages",
        "AgentReport": "localsweep.agent._agent",
        "AgentTerminated": "localsweep.agent._control",
        "InProcessRunner": "localsweep.agent._inprocess",
        "Runner": "localsweep.agent._agent",
        "RunOutcome": "localsweep.agent._agent",
        "wandb_root": "localsweep.agent._agent",
        "IsolatedFunctionRunner": "localsweep.agent._isolated",
        "RunRecorder": "localsweep.agent._recorder",
        "RunStopped": "localsweep.agent._recorder",
        "ProgramRunner": "localsweep.agent._subprocess",
        "WorkerSlot": "localsweep.agent._workers",
        "run_workers": "localsweep.agent._workers",
        "runner_factory": "localsweep.agent._workers",
    },
)
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
