"""localsweep: W&B sweeps without a W&B server.

The same sweep configs and unchanged wandb training code, run locally with wandb in
offline mode; sweeps, runs and metrics kept in SQLite (or PostgreSQL).

>>> import localsweep
>>> sweep = localsweep.run("sweep.yaml", train, count=10)   # doctest: +SKIP
>>> sweep.best_run().config                                  # doctest: +SKIP
"""

from __future__ import annotations

from localsweep._entry import agent, run, sweep
from localsweep._sync import sync
from localsweep.api import Api, Run, Sweep
from localsweep.errors import (
    AgentError,
    ConfigError,
    LocalsweepError,
    NotFoundError,
    SchemaVersionError,
    StoreError,
)

__version__ = "0.1.0"

__all__ = [
    "AgentError",
    "Api",
    "ConfigError",
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
