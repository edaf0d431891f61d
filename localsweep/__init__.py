"""localsweep: W&B sweeps without a W&B server.

The same sweep configs and unchanged wandb training code, run locally with wandb in
offline mode; sweeps, runs and metrics kept in SQLite (or PostgreSQL).

>>> import localsweep
>>> sweep = localsweep.run("sweep.yaml", train, count=10)   # doctest: +SKIP
>>> sweep.best_run().config                                  # doctest: +SKIP
"""

from __future__ import annotations

import typing as _typing

# The subpackage `localsweep.agent` first, then the function of that name over it, as
# `wandb.agent` is a function (importing the subpackage later does not rebind the name).
import localsweep.agent as _agent_package  # noqa: F401
from localsweep._entry import agent, run, sweep
from localsweep._lazy import lazy_names as _lazy_names
from localsweep.errors import (
    AgentError,
    ConfigError,
    DatabasePathError,
    DatabaseURLError,
    LocalsweepError,
    NotFoundError,
    SchemaVersionError,
    StoreError,
)

if _typing.TYPE_CHECKING:
    from localsweep._sync import sync
    from localsweep.api import Api, Run, Sweep

# Imported on first use: they pull in SQLAlchemy, Optuna and wandb, which the CLI's quick
# commands (`--help`, `validate`) never need.
__getattr__ = _lazy_names(
    __name__,
    {
        "Api": "localsweep.api",
        "Run": "localsweep.api",
        "Sweep": "localsweep.api",
        "sync": "localsweep._sync",
    },
)

__version__ = "0.1.0"

__all__ = [
    "AgentError",
    "Api",
    "ConfigError",
    "DatabasePathError",
    "DatabaseURLError",
    "LocalsweepError",
    "NotFoundError",
    "Run",
    "SchemaVersionError",
    "StoreError",
    "Sweep",
    "__version__",
    "agent",
    "run",
    "sweep",
    "sync",
]
