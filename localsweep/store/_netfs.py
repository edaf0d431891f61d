"""Refuse a SQLite file on a network file system, where SQLite's locking cannot be trusted.

SQLite serialises writers with file locks, and in WAL mode (which localsweep uses) readers
and writers also share an index in memory that is mapped from a file beside the database.
On NFS, SMB, Lustre, GPFS, BeeGFS, CephFS and the like, locks are often emulated, lost or
not honoured across machines, and memory cannot be shared between machines at all: two
agents can then claim the same grid point, or the file is damaged. The SQLite documentation
says so ("WAL does not work over a network filesystem"). We find the file system of the
database from the kernel's mount table (``/proc/self/mountinfo``, else ``/proc/mounts``),
and refuse, pointing to PostgreSQL, unless the user says they know better
(``LOCALSWEEP_ALLOW_NETWORK_FS=1``, which the CLI's ``--allow-network-fs`` sets).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from localsweep.errors import NetworkFilesystemError

__all__ = [
    "ALLOW_NETWORK_FS_ENV",
    "NETWORK_FILESYSTEMS",
    "Mount",
    "check_sqlite_location",
    "find_mount",
    "network_mount",
    "parse_mount_table",
]

logger = logging.getLogger(__name__)

#: Set to ``1`` to open a SQLite file on a network file system anyway.
ALLOW_NETWORK_FS_ENV = "LOCALSWEEP_ALLOW_NETWORK_FS"

#: File system types (as the mount table names them) shared over a network.
NETWORK_FILESYSTEMS = frozenset(
    {
        "nfs", "nfs4", "cifs", "smb3", "smbfs", "ncpfs", "afs", "9p",
        "lustre", "gpfs", "beegfs", "ceph", "panfs", "wekafs", "pvfs2", "orangefs",
        "glusterfs", "ocfs2", "gfs2",
        "fuse.ceph", "fuse.ceph-fuse", "fuse.cephfs", "fuse.glusterfs", "fuse.sshfs",
        "fuse.s3fs", "fuse.gcsfuse", "fuse.juicefs", "fuse.rclone", "fuse.mfs",
        "fuse.lizardfs", "fuse.beegfs",
    }
)  # fmt: skip

_MOUNT_TABLES = ("/proc/self/mountinfo", "/proc/mounts")


@dataclass(frozen=True)
class Mount:
    """One line of the mount table: where a file system is mounted, its type and source."""

    mount_point: str
    fstype: str
    source: str

    @property
    def is_network(self) -> bool:
        """Whether this file system is shared over a network."""
        return self.fstype in NETWORK_FILESYSTEMS


def _unescape(field: str) -> str:
    # The kernel writes space, tab, newline and backslash in paths as octal escapes (\040).
    out, i = [], 0
    while i < len(field):
        code = field[i + 1 : i + 4]
        if field[i] == "\\" and len(code) == 3 and all(c in "01234567" for c in code):
            out.append(chr(int(code, 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mount_table(text: str) -> list[Mount]:
    """The mounts in ``text``, in either format: ``/proc/self/mountinfo`` (``... mount_point
    options [optional fields] - fstype source ...``) or ``/proc/mounts`` (``source
    mount_point fstype ...``). Lines that are neither are skipped."""
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if "-" in fields[6:]:  # mountinfo: the optional fields end at a lone "-"
            rest = fields[fields.index("-", 6) + 1 :]
            if len(rest) >= 2:
                mounts.append(Mount(_unescape(fields[4]), rest[0], _unescape(rest[1])))
        elif len(fields) >= 3:  # /proc/mounts
            mounts.append(Mount(_unescape(fields[1]), fields[2], _unescape(fields[0])))
    return mounts


def _read_mount_table() -> list[Mount]:
    for path in _MOUNT_TABLES:
        try:
            return parse_mount_table(Path(path).read_text())
        except OSError:
            continue
    return []  # not Linux, or /proc not mounted: nothing known, nothing refused


def find_mount(path: str | os.PathLike[str], mounts: Sequence[Mount]) -> Mount | None:
    """The mount that holds ``path``: the one with the longest mount point that contains the
    path's real location (symbolic links resolved; a file not created yet is looked up by
    its nearest existing folder). Later lines win among equal mount points, as the last
    mount over a point hides the ones before."""
    target = Path(os.path.realpath(os.fspath(path)))
    best: Mount | None = None
    for mount in mounts:
        point = Path(mount.mount_point)
        if (target == point or point in target.parents) and (
            best is None or len(point.parts) >= len(Path(best.mount_point).parts)
        ):
            best = mount
    return best


def network_mount(
    path: str | os.PathLike[str], mounts: Iterable[Mount] | None = None
) -> Mount | None:
    """The network file system mount holding ``path``, or ``None`` if it is local (or the
    mount table cannot be read). ``mounts`` defaults to this machine's mount table."""
    # Resolve the path first: looking it up mounts an automounted home (autofs) if needed,
    # so that the table read next lists the network mount under it.
    target = os.path.realpath(os.fspath(path))
    table = list(mounts) if mounts is not None else _read_mount_table()
    mount = find_mount(target, table)
    return mount if mount is not None and mount.is_network else None


def _allowed() -> bool:
    return os.environ.get(ALLOW_NETWORK_FS_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def check_sqlite_location(
    path: str | os.PathLike[str], mounts: Iterable[Mount] | None = None
) -> None:
    """Raise :class:`~localsweep.errors.NetworkFilesystemError` if the SQLite file ``path``
    is on a network file system, unless ``LOCALSWEEP_ALLOW_NETWORK_FS=1``."""
    mount = network_mount(path, mounts)
    if mount is None:
        return
    if _allowed():
        logger.warning(
            "SQLite database %s is on %s (%s); opened anyway (%s is set)",
            path,
            mount.fstype,
            mount.mount_point,
            ALLOW_NETWORK_FS_ENV,
        )
        return
    raise NetworkFilesystemError(
        f"the SQLite database {os.fspath(path)} is on a network file system "
        f"({mount.fstype} {mount.source} mounted at {mount.mount_point}). SQLite's locking is "
        "not reliable there and its WAL mode needs memory shared by every process using the "
        "file, which processes on different machines cannot share: two agents could claim the "
        "same run, or the file could be damaged. Put the file on a local disk (for example "
        "--db /tmp/sweeps.db) for agents on this machine, or use PostgreSQL "
        "(--db postgresql+psycopg://user:password@host:5432/sweeps, see docs/cluster.md) for "
        "agents on several machines. If you know this file system's locking works, pass "
        f"--allow-network-fs or set {ALLOW_NETWORK_FS_ENV}=1."
    )
