"""The exceptions localsweep raises.

Every error derives from :class:`LocalsweepError`, so ``except LocalsweepError``
catches anything of ours and nothing of the user's::

    LocalsweepError
    ├── ConfigError          a sweep config that wandb would not accept, with every violation
    ├── StoreError           the database could not do what was asked
    │   ├── SchemaVersionError   the database was written by an older or newer localsweep
    │   ├── NetworkFilesystemError  a SQLite file on NFS, Lustre...: use PostgreSQL
    │   └── NotFoundError        no sweep or run with that id
    └── AgentError           an agent gave up (for example after too many failed runs in a row)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "AgentError",
    "ConfigError",
    "LocalsweepError",
    "NetworkFilesystemError",
    "NotFoundError",
    "SchemaVersionError",
    "StoreError",
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

    def __init__(self, violations: Sequence[Violation]):
        self.violations: tuple[Violation, ...] = tuple(violations)
        lines = "\n".join(f"  - {v}" for v in self.violations)
        count = len(self.violations)
        super().__init__(
            f"invalid sweep config ({count} problem{'s' if count != 1 else ''}):\n{lines}"
        )


class StoreError(LocalsweepError):
    """The store could not complete an operation."""


class SchemaVersionError(StoreError):
    """The database's schema version does not match this version of localsweep."""


class NetworkFilesystemError(StoreError):
    """A SQLite database on a network file system (NFS, SMB, Lustre, GPFS, BeeGFS, CephFS...),
    where SQLite's locking is not reliable; the message says what to use instead."""


class NotFoundError(StoreError, KeyError):
    """No sweep or run with the given id exists in the store."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class AgentError(LocalsweepError):
    """An agent stopped because it could not go on (the message says why)."""
