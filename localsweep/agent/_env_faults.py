"""A failed run that its environment failed, not its training: the agent's working folder
deleted under it, the disk of its wandb folder full, or the agent's own output gone (its
reader went away, a full device). Such a run is no failure of the training: it is recorded
``killed``, its point runs again, and the agent stops with what happened (docs/faults.md)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from localsweep._agent_options import folder_gone
from localsweep._console import output_fault
from localsweep.agent._disk import SETUP_ERROR, disk_full
from localsweep.errors import RunSetupError
from localsweep.records import RunState

if TYPE_CHECKING:
    from localsweep.agent._agent import RunOutcome

__all__ = ["killed_by", "not_the_trainings"]

logger = logging.getLogger(__name__)


def not_the_trainings(
    run_id: str, outcome: RunOutcome, wandb_root: Callable[[], Path]
) -> RunOutcome:
    """``outcome``, or, for a failed run whose environment failed it, the run killed with
    the cause as the error that stops the agent (``wandb_root``: where its wandb folder
    is, asked only once the working folder is known to exist)."""
    if outcome.state is not RunState.FAILED:
        return outcome
    gone = folder_gone(run_id)
    if gone is not None:
        # The agent's working folder deleted under the run (wandb.finish asks for it).
        return killed_by(outcome, gone)
    root = wandb_root()
    if disk_full(root):
        # wandb, the run's process or its output could not write (a full disk): the
        # same, whatever error the run ended with.
        full = RunSetupError.failed_on_full_disk(run_id, root)
        logger.warning("run %s failed on a full disk: %s", run_id, outcome.error or "")
        return killed_by(outcome, full)
    fault = output_fault()
    if fault is not None:
        # The agent's stdout or stderr takes no more writes (`2>&1 | head -1`, a full
        # device): the training's prints failed there, no fault of its own. Its point
        # runs again; the agent stops (quietly, exit 141 for a reader gone away).
        return killed_by(outcome, fault, end_reason=outcome.end_reason)
    return outcome


def killed_by(
    outcome: RunOutcome, cause: BaseException, end_reason: str | None = SETUP_ERROR
) -> RunOutcome:
    """``outcome`` as a run that ``cause`` (no fault of its training) ended: ``killed``, so
    its point runs again, ``cause`` its error and what stops the agent once it is recorded
    (``end_reason``: a setup error unless told)."""
    return replace(
        outcome, state=RunState.KILLED, error=str(cause), interrupted=cause, end_reason=end_reason
    )
