"""One sync of a sweep at a time: a file lock in the sweep's sync state folder.

Two syncs of the same sweep at once would both create the server's sweep (two sweeps on
the server), both upload the same runs (every row twice), and remove each other's
staged copies. The lock is ``sync.lock`` in the state folder (``./.localsweep-sync/SWEEP_ID``
or ``--staging-dir``), taken with ``flock`` before anything is staged or sent and held
for the whole sync; the operating system lets it go when the process ends, however it
ends, so a killed sync never leaves it behind. A second sync does not wait: it stops at
once and says so.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from types import TracebackType

from localsweep.errors import LocalsweepError

__all__ = ["SyncLock", "SyncRunningError"]

LOCK_NAME = "sync.lock"


class SyncRunningError(LocalsweepError):
    """Another sync of the same sweep holds its state folder's lock."""


class SyncLock:
    """The lock of a sweep's sync state folder ``root``, held from :meth:`acquire` (or
    ``with``) to :meth:`release`."""

    def __init__(self, root: Path, sweep_id: str):
        self.path = root / LOCK_NAME
        self.sweep_id = sweep_id
        self._fd: int | None = None

    def acquire(self) -> SyncLock:
        """Take the lock, or raise :class:`SyncRunningError` naming the sync that has it."""
        try:
            import fcntl
        except ImportError:  # no flock (Windows): one sync at a time is up to the user
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 200).decode(errors="replace").strip()
            os.close(fd)
            raise SyncRunningError(
                f"another localsweep sync of sweep {self.sweep_id} is running"
                + (f" ({holder})" if holder else "")
                + f"; it holds {self.path}. Wait for it to end, then run this sync again "
                "(it uploads only what is left)."
            ) from None
        os.ftruncate(fd, 0)
        started = time.strftime("%Y-%m-%d %H:%M:%S")
        os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}, since {started}".encode())
        self._fd = fd
        return self

    def release(self) -> None:
        """Let the lock go (closing the file releases the flock)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)

    def __enter__(self) -> SyncLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
