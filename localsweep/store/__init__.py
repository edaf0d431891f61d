"""The store: SQLAlchemy models and the only code that touches the database.

SQLite by default (``./localsweep.db``), or any SQLAlchemy URL (``db=``, ``--db``,
``LOCALSWEEP_DB``), PostgreSQL when several machines share a sweep.
"""

from __future__ import annotations

from localsweep.store._damage import holds_localsweep_tables, sqlite_head
from localsweep.store._engine import (
    DEFAULT_DB_FILENAME,
    is_new_database,
    require_database,
    resolve_url,
)
from localsweep.store._reach import reach
from localsweep.store._reaper import beat_interval
from localsweep.store._records import AgentInfo, Claim, ClaimOutcome, RunRecord, SweepRecord
from localsweep.store._store import HistoryRow, Store, grid_size, new_run_id, new_sweep_id
from localsweep.store._tables import heartbeat_timeout

__all__ = [
    "DEFAULT_DB_FILENAME",
    "AgentInfo",
    "Claim",
    "ClaimOutcome",
    "HistoryRow",
    "RunRecord",
    "Store",
    "SweepRecord",
    "beat_interval",
    "grid_size",
    "heartbeat_timeout",
    "holds_localsweep_tables",
    "is_new_database",
    "new_run_id",
    "new_sweep_id",
    "reach",
    "require_database",
    "resolve_url",
    "sqlite_head",
]
