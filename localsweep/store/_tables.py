"""What every part of the store shares: the tables, ids, JSON and row-to-record helpers."""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, cast

from sqlalchemy import Table

from localsweep.records import RunState
from localsweep.store._models import HistoryModel, RunModel, SweepModel
from localsweep.store._records import RunRecord

__all__ = [
    "HistoryRow",
    "dumps",
    "float_or_none",
    "heartbeat_timeout",
    "history",
    "json_default",
    "new_lease",
    "new_run_id",
    "new_sweep_id",
    "now",
    "run_record",
    "runs",
    "sweeps",
]

sweeps = cast(Table, SweepModel.__table__)
runs = cast(Table, RunModel.__table__)
history = cast(Table, HistoryModel.__table__)

_ID_ALPHABET = string.ascii_lowercase + string.digits
_ID_SPACE = len(_ID_ALPHABET) ** 8

#: A run whose agent has not beaten its heartbeat for this long is taken for dead
#: (``LOCALSWEEP_HEARTBEAT_TIMEOUT`` seconds overrides it).
DEFAULT_HEARTBEAT_TIMEOUT = timedelta(seconds=120)


def heartbeat_timeout() -> timedelta:
    """How long a run's heartbeat may be silent before another agent reaps the run
    (``LOCALSWEEP_HEARTBEAT_TIMEOUT``; a value that is no positive number of seconds a
    duration can hold, ``inf`` among them, counts as unset)."""
    raw = os.environ.get("LOCALSWEEP_HEARTBEAT_TIMEOUT")
    if raw:
        try:
            seconds = float(raw)
        except ValueError:
            seconds = -1.0
        if seconds > 0:
            with contextlib.suppress(OverflowError):
                return timedelta(seconds=seconds)
    return DEFAULT_HEARTBEAT_TIMEOUT


def new_sweep_id() -> str:
    """A sweep id W&B's server never makes (its ids are 8 lowercase letters and digits),
    so runs synced later can never join an unrelated server sweep of the same name."""
    return "ls-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))


def new_run_id() -> str:
    """A wandb-style run id: 8 lowercase letters and digits, each drawn uniformly as
    wandb's ``generate_id`` draws them (from one draw of the whole number: a claim makes
    one, and 8 ``secrets.choice`` cost a tenth of a short run's bookkeeping)."""
    number = secrets.randbelow(_ID_SPACE)
    letters = []
    for _ in range(8):
        number, digit = divmod(number, len(_ID_ALPHABET))
        letters.append(_ID_ALPHABET[digit])
    return "".join(letters)


def new_lease() -> str:
    """A fencing token for one claim of a run."""
    return secrets.token_hex(16)


def now() -> datetime:
    """UTC now, naive, as every timestamp in the database is stored."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def json_default(obj: Any) -> Any:
    """``json.dumps``'s ``default`` for logged values: numpy or torch scalars and arrays as
    plain values, sets and tuples as lists, anything else (wandb media objects) as its
    ``repr``."""
    item = getattr(obj, "item", None)
    if callable(item):
        try:
            return item()
        except (TypeError, ValueError):
            pass
    tolist = getattr(obj, "tolist", None)
    if callable(tolist):
        return tolist()
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    return repr(obj)


def dumps(value: Any) -> str:
    """Compact JSON of a logged value, with numpy/torch scalars and odd objects made plain."""
    return json.dumps(value, default=json_default, separators=(",", ":"))


def float_or_none(value: float | None) -> float | None:
    """``None`` for NaN: SQLite turns NaN into NULL anyway; say so for every backend."""
    if value is None or math.isnan(value):
        return None
    return value


@dataclass(frozen=True)
class HistoryRow:
    """One logged row: ``data`` holds the user's keys (nested as logged)."""

    step: int
    data: Mapping[str, Any]
    #: The sweep metric's value in this row, or ``None`` if the row does not log it.
    metric: float | None = None
    has_metric: bool = False


def run_record(row: Any) -> RunRecord:
    """A :class:`RunRecord` from a row of ``runs`` (a mapping by column name)."""
    return RunRecord(
        id=row["id"],
        sweep_id=row["sweep_id"],
        number=row["number"],
        name=row["name"],
        state=RunState(row["state"]),
        config=json.loads(row["config_json"]),
        grid_key=row["grid_key"],
        point_key=row["point_key"],
        agent_id=row["agent_id"],
        agent_host=row["agent_host"],
        agent_pid=row["agent_pid"],
        heartbeat_at=row["heartbeat_at"],
        created_at=row["created_at"],
        finished_at=row["finished_at"],
        summary=json.loads(row["summary_json"]) if row["summary_json"] else {},
        metric=row["metric"],
        exit_code=row["exit_code"],
        error=row["error"],
        dir=row["dir"],
        stopped_at_band=row["stopped_at_band"],
        stdout_path=row["stdout_path"],
        stderr_path=row["stderr_path"],
        search_info=json.loads(row["search_info_json"]) if row["search_info_json"] else {},
        end_reason=row["end_reason"],
        lease=row["lease"],
        attempt=row["attempt"] or 1,
        prior=bool(row["prior"]),
        prior_source=row["prior_source"],
        prior_run_id=row["prior_run_id"],
        heartbeat_timeout=row.get("heartbeat_timeout"),
    )
