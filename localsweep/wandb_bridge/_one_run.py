"""wandb keeps one run per process for ``wandb.init()`` and ``wandb.log()``: a sweep run in
this process takes it for as long as the run is open, and is refused when it is taken."""

from __future__ import annotations

import threading

from localsweep.errors import RunSetupError

__all__ = ["claim_process", "release_process"]

#: The sweep run open in this process (run id, sweep id), if any.
_holder: tuple[str, str] | None = None
_open_lock = threading.Lock()


def claim_process(run_id: str, sweep_id: str) -> None:
    """Take this process's one wandb run for sweep run ``run_id``, or raise
    :class:`RunSetupError` (the run is not counted, the agent stops) when another run
    holds it: ``wandb.init()`` in the training would get that run, or mix the two up."""
    import wandb

    global _holder
    with _open_lock:
        other = _holder
        if other is None and wandb.run is not None:
            raise RunSetupError(
                f"a wandb run ({wandb.run.id}) is open in this process, so the training's "
                f"wandb.init() would return it instead of sweep run {run_id}. Finish "
                "it first (run.finish()), or run the sweep's runs in processes of their "
                "own (isolation='process', --isolation process). The run is not counted "
                "and its point is offered again"
            )
        if other is not None:
            raise RunSetupError(
                f"run {other[0]} of sweep {other[1]} is open in this process, and wandb "
                "keeps one run per process for wandb.init() and wandb.log(): two sweeps "
                "whose training uses wandb cannot run in one process at once (in two "
                "threads, or one started inside the other's training). Run this one's "
                "runs in processes of their own (isolation='process', --isolation "
                f"process), or after the other ends. Run {run_id} is not counted and "
                "its point is offered again"
            )
        _holder = (run_id, sweep_id)


def release_process(run_id: str) -> None:
    """Give back what :func:`claim_process` took for ``run_id`` (nothing if it took none)."""
    global _holder
    with _open_lock:
        if _holder is not None and _holder[0] == run_id:
            _holder = None
