"""The token of this process's wandb service, for child processes to attach to (program
mode's ``share_service``)."""

from __future__ import annotations

import os

__all__ = ["shared_service_token"]


def shared_service_token() -> str:
    """Start (or reuse) this process's wandb service and return the token children attach
    with (``WANDB_SERVICE``).

    Not ``wandb.setup()``: it starts the service under wandb's singleton lock, and when
    wandb-core cannot start (a memory limit: ``ulimit -v``, SGE's ``h_vmem``) wandb 0.31 takes
    that lock again on its error path and hangs for good. Started outside the lock, the
    failure is raised (wandb's ``ServicePollForTokenError``) as ``wandb.init`` raises it.
    """
    from wandb.sdk import wandb_setup

    wandb_setup._setup(start_service=False).ensure_service()
    token = os.environ.get("WANDB_SERVICE")
    if not token:
        raise RuntimeError("wandb started no service to share (no WANDB_SERVICE)")
    return token
