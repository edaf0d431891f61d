"""A run that ended while the disk of its wandb folder was full: wandb could not write all
of the run's offline file (its rows, its exit record), which ``localsweep sync`` uploads."""

from __future__ import annotations

import logging
import os

__all__ = ["FULL_BELOW", "warn_if_disk_full"]

logger = logging.getLogger(__name__)

#: Free bytes under which a run folder's disk counts as full (wandb-core writes in blocks).
FULL_BELOW = 1 << 20


def warn_if_disk_full(run_id: str, folder: str | None) -> bool:
    """Warn, and return ``True``, when ``folder``'s disk has (almost) no space left."""
    if not folder:
        return False
    try:
        stat = os.statvfs(folder)
    except OSError:
        return False
    if stat.f_bavail * stat.f_frsize >= FULL_BELOW:
        return False
    logger.warning(
        "run %s ended while the disk of its wandb folder %s is full: wandb may not have "
        "written all of the run's offline file, which localsweep sync uploads (the store "
        "has what the agent recorded). Free space there; `localsweep sync --dry-run` says "
        "whether the folder is complete",
        run_id,
        folder,
    )
    return True
