"""A run that ended while the disk of its wandb folder was full: wandb could not write all
of the run's offline file (its rows, its exit record), which ``localsweep sync`` uploads."""

from __future__ import annotations

import logging
import os

__all__ = ["FULL_BELOW", "SETUP_ERROR", "disk_full", "warn_if_disk_full"]

logger = logging.getLogger(__name__)

#: Free bytes under which a run folder's disk counts as full (wandb-core writes in blocks).
FULL_BELOW = 1 << 20
#: The end reason of a run localsweep could not start or keep going as it should (its
#: files could not be written, or, with ``isolation="process"``, the script started another
#: agent as it was imported): not the run's failure, the same for every run; its point runs
#: again and the agent stops.
SETUP_ERROR = "setup_error"


def disk_full(folder: str | os.PathLike[str] | None) -> bool:
    """Whether ``folder``'s disk has (almost) no space left (``False`` when unknown)."""
    if not folder:
        return False
    try:
        stat = os.statvfs(folder)
    except OSError:
        return False
    return stat.f_bavail * stat.f_frsize < FULL_BELOW


def warn_if_disk_full(run_id: str, folder: str | None) -> bool:
    """Warn, and return ``True``, when ``folder``'s disk has (almost) no space left."""
    if not disk_full(folder):
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
