"""The exceptions localsweep raises.

Every error derives from :class:`LocalsweepError`, so ``except LocalsweepError``
catches anything of ours and nothing of the user's::

    LocalsweepError
    ├── ConfigError          a sweep config that wandb would not accept, with every violation
    ├── StoreError           the database could not do what was asked
    │   ├── SchemaVersionError   the database was written by an older or newer localsweep
    │   ├── DatabasePathError    a database path that cannot be created (bad input)
    │   ├── DatabaseURLError     a database URL that cannot be used as written (bad input)
    │   ├── NetworkFilesystemError  a SQLite file on NFS, Lustre...: use PostgreSQL
    │   ├── NotFoundError        no sweep or run with that id, or no database at that path
    │   │                        (also a KeyError and a ValueError, as wandb.Api's)
    │   ├── LeaseLostError       this agent no longer holds the run (reaped, requeued)
    │   ├── StoreUnavailableError  the database stayed unreachable for the retry bound
    │   └── SweepControlError    a pause/resume/stop/cancel that the sweep's state forbids
    └── AgentError           an agent gave up (for example after too many failed runs in a row)
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import ModuleType

_resource: ModuleType | None
try:
    import resource as _resource
except ImportError:  # Windows
    _resource = None

__all__ = [
    "AgentError",
    "ConfigError",
    "DatabasePathError",
    "DatabaseURLError",
    "LeaseLostError",
    "LocalsweepError",
    "NetworkFilesystemError",
    "NotFoundError",
    "PriorRunsError",
    "RunSetupError",
    "SchemaVersionError",
    "StoreError",
    "StoreUnavailableError",
    "SweepControlError",
    "Violation",
]


class LocalsweepError(Exception):
    """Base class of every error localsweep raises."""


@dataclass(frozen=True)
class Violation:
    """One thing wrong with a sweep config.

    ``path`` names the offending field the way a user finds it in their YAML,
    for example ``parameters.lr.max`` or ``metric.goal``; ``message`` says what is
    wrong and what to write instead.
    """

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(LocalsweepError, ValueError):
    """A sweep config was rejected. ``violations`` lists every problem found, not just the first."""

    #: What the message opens with, before the count of problems.
    headline = "invalid sweep config"

    def __init__(self, violations: Sequence[Violation]):
        self.violations: tuple[Violation, ...] = tuple(violations)
        lines = "\n".join(f"  - {v}" for v in self.violations)
        count = len(self.violations)
        super().__init__(f"{self.headline} ({count} problem{'s' if count != 1 else ''}):\n{lines}")


class PriorRunsError(ConfigError):
    """A prior-run source (``--prior-runs``, ``prior_runs=``) could not be read: the config
    itself may be fine, so the message does not call it invalid. No sweep is created."""

    headline = "cannot take the prior runs"


class StoreError(LocalsweepError):
    """The store could not complete an operation."""


class SchemaVersionError(StoreError):
    """The database's schema version does not match this version of localsweep."""


class DatabasePathError(StoreError, ValueError):
    """A database path (``--db``, ``db=``, ``LOCALSWEEP_DB``) where no database can be created,
    such as a folder that is a file or a file system that is read-only."""


class DatabaseURLError(StoreError, ValueError):
    """A database URL (``--db``, ``db=``, ``LOCALSWEEP_DB``) that cannot be used as written:
    a dialect spelt another way (``postgres://``), a driver that is not installed, a
    password or user the server rejects, a database that does not exist. Not retried; the
    message says what to write or run instead."""


class NetworkFilesystemError(StoreError):
    """A SQLite database on a network file system (NFS, SMB, Lustre, GPFS, BeeGFS, CephFS...),
    where SQLite's locking is not reliable; the message says what to use instead."""


class NotFoundError(StoreError, KeyError, ValueError):
    """No sweep or run with the given id exists in the store.

    Also a ``ValueError``, as what wandb.Api raises for an unknown run
    (``RunNotFoundError(ValueError)``) or sweep (``ValueError``): error handling ported
    from a wandb.Api script (``except ValueError:``) catches it unchanged."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class LeaseLostError(StoreError):
    """This agent no longer holds the run: another agent took it for dead and marked it
    crashed (its point runs again), or it was ended otherwise. Nothing it writes for the
    run counts any more; stop the run and go on."""


class StoreUnavailableError(StoreError):
    """The database could not be reached (or stayed locked, or kept deadlocking) for the
    whole retry bound; the message says what happened and what to do."""


class SweepControlError(StoreError, ValueError):
    """A sweep control action that the sweep's state does not allow (for example resuming
    a sweep that is running); the message says the state and what is possible."""


class AgentError(LocalsweepError):
    """An agent stopped because it could not go on (the message says why)."""


class RunSetupError(AgentError):
    """localsweep could not write what a run needs before the run's code starts (its
    parameter file, in the wandb folder): a full disk, a read-only folder; or the agent's
    own process ran short of open files, processes or memory starting or watching the run's
    process (:meth:`lacking`). The run is not
    the user's failure: it is recorded ``killed`` and not counted (its point is offered
    again), and the agent stops with this message."""

    @classmethod
    def writing(cls, path: str | os.PathLike[str], run_id: str, exc: OSError) -> RunSetupError:
        """The error for ``exc``, raised writing ``path`` for run ``run_id``."""
        what = exc.strerror or str(exc)
        shortage = _shortage(exc)
        if shortage is not None:
            head, fix = shortage
        elif exc.errno in (errno.ENOSPC, errno.EDQUOT):
            fix = "free space on that disk (or give the runs another wandb folder: WANDB_DIR)"
            head = "disk full"
        else:
            fix = "make that folder writable, or give the runs another one (WANDB_DIR)"
            head = "cannot write the run's files"
        error = cls(
            f"{head}: localsweep could not write {path} ({what}), which run {run_id} needs "
            f"before it starts. The run is not counted and its point is offered again: {fix}, "
            "then start the agent again"
        )
        error.__cause__ = exc
        return error

    @classmethod
    def lacking(cls, doing: str, run_id: str, exc: OSError) -> RunSetupError | None:
        """The error for ``exc`` when it says the agent itself ran short of a resource
        (open files, processes, memory) ``doing`` something for run ``run_id`` (``"start
        its process"``); ``None`` for any other error (a program not found is the run's)."""
        shortage = _shortage(exc)
        if shortage is None:
            return None
        head, fix = shortage
        error = cls(
            f"{head}: localsweep could not {doing} for run {run_id} "
            f"({exc.strerror or exc}). That is not the run's failure: it is not counted and "
            f"its point is offered again: {fix}, then start the agent again"
        )
        error.__cause__ = exc
        return error

    @classmethod
    def unencodable(cls, run_id: str, argument: str, exc: UnicodeEncodeError) -> RunSetupError:
        """Run ``run_id``'s command-line ``argument`` has a character this locale's
        encoding has no byte for (``LANG=C``, a Latin-1 locale): no program can be given
        it here, as ``wandb agent`` could not either."""
        error = cls(
            f"run {run_id}: cannot pass {argument!r} to its program: a command line is "
            f"bytes in this locale's encoding ({exc.encoding}), which has none for "
            f"{exc.object[exc.start : exc.end]!r}. The run is not counted and its point is "
            "offered again: start the agent under a UTF-8 locale (`LANG=C.UTF-8`, or "
            "`PYTHONUTF8=1`), then start it again"
        )
        error.__cause__ = exc
        return error

    @staticmethod
    @contextlib.contextmanager
    def guard(path: str | os.PathLike[str], run_id: str) -> Iterator[None]:
        """Writing ``path`` for run ``run_id`` in the block: an :class:`OSError` (a full
        disk is not the user's code failing) becomes :meth:`writing`'s error."""
        try:
            yield
        except OSError as exc:
            raise RunSetupError.writing(path, run_id, exc) from exc

    @classmethod
    def failed_on_full_disk(cls, run_id: str, folder: str | os.PathLike[str]) -> RunSetupError:
        """Run ``run_id`` failed while the disk of its wandb folder ``folder`` was full."""
        return cls(
            f"disk full: run {run_id} failed while the disk of the wandb folder {folder} has "
            "no space left (wandb or the run could not write its files there). The run is not "
            "counted and its point is offered again: free space on that disk (or give the runs "
            "another wandb folder: WANDB_DIR), then start the agent again"
        )


def _open_files_limit() -> str:
    """This process's limit of open files (``ulimit -n``), for a message. ``resource`` is
    imported with this module: imported only when the files have run out, its import
    failed for want of a file to open it."""
    if _resource is None:  # not on this platform
        return "unknown"
    try:
        soft = _resource.getrlimit(_resource.RLIMIT_NOFILE)[0]
    except (OSError, ValueError):
        return "unknown"
    return "unlimited" if soft == _resource.RLIM_INFINITY else str(soft)


def _shortage(exc: OSError) -> tuple[str, str] | None:
    """What the agent's process ran short of, as ``(head, fix)``, when ``exc`` says so."""
    if exc.errno in (errno.EMFILE, errno.ENFILE):
        now = _open_files_limit()
        if exc.errno == errno.ENFILE:  # the whole system's table, not this process's limit
            return (
                "too many open files on this machine",
                "close other programs' files, raise the system's limit (fs.file-max) or "
                "use fewer --workers",
            )
        return (
            "too many open files",
            f"raise the limit of open files (`ulimit -n`, now {now}) or use fewer --workers",
        )
    if exc.errno == errno.EAGAIN:
        return (
            "too many processes",
            "raise the limit of processes (`ulimit -u`) or use fewer --workers",
        )
    if exc.errno == errno.ENOMEM:
        return (
            "out of memory",
            "free memory (or raise `ulimit -v`) or use fewer --workers",
        )
    return None


class ProgramNotFoundError(AgentError):
    """A program sweep's script is not in the folder its runs would start in; raised
    before any run is claimed (or, by ``run``, before the sweep is made). The message
    names the script, the folder and the closest file there."""
