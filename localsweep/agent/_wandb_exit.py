"""A run whose code ended normally but finished its wandb run with a non-zero exit code.

``wandb.finish(exit_code=1)`` (or ``run.finish(exit_code=N)``, or an exception leaving
``with wandb.init()`` that the code then catches) is wandb's documented way to mark a run
failed: wandb writes the code in the run's exit record, and W&B shows the run as
``failed`` once it is synced. Its partial value is then no result, however the function
or the program ended afterwards, so localsweep records the run ``failed`` with that exit
code, as it records a run that raised.

Not for a run localsweep stopped (hyperband, a plateau, the agent: it finishes the wandb
run with exit code 1 itself) nor for one that called ``mark_preempting()``: those keep
their own states.
"""

from __future__ import annotations

from localsweep.agent._agent import RunOutcome
from localsweep.records import RunState
from localsweep.wandb_bridge import FinishedRun

__all__ = ["marked_failed", "marked_failed_error"]


def marked_failed_error(exit_code: int, *, program: bool = False) -> str:
    """The error of a run whose code marked its wandb run failed with ``exit_code``."""
    said = f"the training ended its wandb run with exit code {exit_code}: " + (
        "wandb.finish(exit_code=1), or an exception leaving `with wandb.init()`; wandb "
        "records exit code 1 for any, sys.exit(0) included (exit after the with block)"
        if exit_code == 1
        else f"wandb.finish(exit_code={exit_code})"
    )
    return f"the program exited 0, but {said}" if program else said


def marked_failed(
    finished: FinishedRun | None, *, preempting: bool, program: bool = False
) -> RunOutcome | None:
    """The ``failed`` outcome of a run that ended normally (returned, exited 0) whose wandb
    run was finished with a non-zero exit code by the training code; ``None`` for any other
    run (no exit code yet, exit code 0, finished by localsweep's stop, preempting)."""
    if finished is None or not finished.exit_code or finished.stopped or preempting:
        return None
    code = finished.exit_code
    return RunOutcome(
        RunState.FAILED,
        exit_code=code,
        error=marked_failed_error(code, program=program),
        finished=finished,
    )
