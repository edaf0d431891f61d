"""Why a file or a folder cannot be written where the user asked: the one check behind
every path option that localsweep writes to (``--db``'s SQLite file, ``report -o``,
``export -o`` and ``--to``, ``slurm --script-only`` and ``--log-dir``, ``sync
--staging-dir``), so that each says the same thing, naming its option, before any work is
done. It creates nothing: the caller makes the missing folders when it writes."""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Unwritable", "unwritable"]


@dataclass(frozen=True)
class Unwritable:
    """Why nothing can be written at a path (``why``), and what to give instead (``fix``,
    to follow "give OPTION")."""

    why: str
    fix: str

    def said(self, what: str, option: str) -> str:
        """``cannot write WHAT: WHY; give OPTION FIX``."""
        return f"cannot write {what}: {self.why}; give {option} {self.fix}"


_IN_A_FOLDER = "a path in a writable folder"


def unwritable(
    path: str | os.PathLike[str], *, folder: bool = False, make_folders: bool = True
) -> Unwritable | None:
    """Why no file (``folder=True``: no folder, nor a file in it) can be written at
    ``path``, or ``None`` if one can. ``make_folders``: the caller creates the folders
    that are missing (as ``--db`` and ``report -o`` do); otherwise a missing folder is
    the reason."""
    path = Path(path)
    if path.exists():
        if not folder:
            if path.is_dir():
                return Unwritable(f"{path} is a folder", "a file's path, not a folder's")
            if not os.access(path, os.W_OK):
                return Unwritable(f"{path} is not writable by you", "another path")
            return None
        if not path.is_dir():
            return Unwritable(f"{path} is a file, not a folder", "a folder's path")
        return _takes_new_files(path)
    above = next((p for p in path.parents if p.exists()), Path("."))
    if not above.is_dir():
        return Unwritable(f"{above} is a file, not a folder", _IN_A_FOLDER)
    if not make_folders and not folder and above != path.parent:
        return Unwritable(
            f"the folder {path.parent} does not exist", "a path in an existing folder"
        )
    return _takes_new_files(above)


def _takes_new_files(folder: Path) -> Unwritable | None:
    """Why no new file can be made in the existing ``folder``, or ``None``."""
    if not os.access(folder, os.W_OK | os.X_OK):
        return Unwritable(f"the folder {folder} is not writable by you", _IN_A_FOLDER)
    try:
        # os.access says yes to root even where no file can be made (/proc, /sys): make a
        # file of our own there to find out, and remove it (another process may be about
        # to create the very file the user named).
        fd, probe = tempfile.mkstemp(prefix=".localsweep-probe-", dir=folder)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        return Unwritable(
            f"the folder {folder} takes no new file ({exc.strerror or exc})", _IN_A_FOLDER
        )
    return None
