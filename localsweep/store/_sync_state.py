"""What ``localsweep sync`` keeps in the store: where each local sweep went, and each run's
outcome there.

A *target* maps a local sweep to the sweep the W&B server created for it (per server,
entity and project). It is written right after the server creates the sweep and before
anything is uploaded, so a second sync reuses that sweep and never creates another. Each
run's outcome at a target (``synced``, or why not) is written as soon as it is known, so
an interrupted sync resumed uploads only what is left.

Functions take the :class:`~localsweep.store.Store`'s engine (``store.engine``); each is
one short transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, insert, select, update
from sqlalchemy.exc import IntegrityError

from localsweep.store._models import SyncRunModel, SyncTargetModel
from localsweep.store._tables import now

__all__ = [
    "SyncRunOutcome",
    "SyncTarget",
    "find_targets",
    "mark_target_finished",
    "record_run_outcome",
    "record_run_outcomes",
    "run_outcomes",
    "save_target",
    "set_target_path",
    "synced_elsewhere",
]

_targets = cast(Table, SyncTargetModel.__table__)
_sync_runs = cast(Table, SyncRunModel.__table__)


@dataclass(frozen=True)
class SyncTarget:
    """A local sweep's sweep on a W&B server: ``server_sweep_id`` in ``entity/project``
    at ``base_url``. ``path`` is ``sweep`` (runs carry the server's sweep id) or
    ``prior_runs`` (runs uploaded without one, then attached as the sweep's prior runs)."""

    id: int
    sweep_id: str
    base_url: str
    entity: str
    project: str
    server_sweep_id: str
    path: str
    finished: bool
    created_at: datetime


@dataclass(frozen=True)
class SyncRunOutcome:
    """One run's outcome at a target: ``synced``, or why not (``failed``, ``missing``,
    ``corrupt``, ``foreign``, ``running``), after ``attempts`` uploads."""

    run_id: str
    outcome: str
    attempts: int
    message: str | None
    updated_at: datetime


@contextmanager
def _write(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as conn:
        # Take SQLite's write lock up front, as every other write of the store does.
        conn.execution_options(localsweep_immediate=True)
        with conn.begin():
            yield conn


def _target(row: Any) -> SyncTarget:
    return SyncTarget(
        id=row["id"],
        sweep_id=row["sweep_id"],
        base_url=row["base_url"],
        entity=row["entity"],
        project=row["project"],
        server_sweep_id=row["server_sweep_id"],
        path=row["path"],
        finished=bool(row["finished"]),
        created_at=row["created_at"],
    )


def find_targets(engine: Engine, sweep_id: str, base_url: str | None = None) -> list[SyncTarget]:
    """The targets of a local sweep (at ``base_url`` only, if given), oldest first."""
    query = select(_targets).where(_targets.c.sweep_id == sweep_id)
    if base_url is not None:
        query = query.where(_targets.c.base_url == base_url)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(_targets.c.id)).mappings().all()
    return [_target(r) for r in rows]


def save_target(
    engine: Engine,
    *,
    sweep_id: str,
    base_url: str,
    entity: str,
    project: str,
    server_sweep_id: str,
    path: str = "sweep",
) -> SyncTarget:
    """Record the server's sweep for a local sweep. If that local sweep already has a
    target at the same server, entity and project, that one is kept and returned."""
    key = (
        (_targets.c.sweep_id == sweep_id)
        & (_targets.c.base_url == base_url)
        & (_targets.c.entity == entity)
        & (_targets.c.project == project)
    )
    try:
        with _write(engine) as conn:
            existing = conn.execute(select(_targets).where(key)).mappings().first()
            if existing is None:
                conn.execute(
                    insert(_targets).values(
                        sweep_id=sweep_id,
                        base_url=base_url,
                        entity=entity,
                        project=project,
                        server_sweep_id=server_sweep_id,
                        path=path,
                        finished=False,
                        created_at=now(),
                    )
                )
    except IntegrityError:
        pass  # another sync saved it first; theirs is the one to use
    with engine.connect() as conn:
        row = conn.execute(select(_targets).where(key)).mappings().one()
    return _target(row)


def set_target_path(engine: Engine, target_id: int, path: str) -> None:
    """Record which way runs reach the target's sweep (``sweep`` or ``prior_runs``)."""
    with _write(engine) as conn:
        conn.execute(update(_targets).where(_targets.c.id == target_id).values(path=path))


def mark_target_finished(engine: Engine, target_id: int) -> None:
    """Record that the server's sweep was marked finished."""
    with _write(engine) as conn:
        conn.execute(update(_targets).where(_targets.c.id == target_id).values(finished=True))


def run_outcomes(engine: Engine, target_id: int) -> dict[str, SyncRunOutcome]:
    """Each run's last outcome at the target, by run id."""
    with engine.connect() as conn:
        rows = (
            conn.execute(select(_sync_runs).where(_sync_runs.c.target_id == target_id))
            .mappings()
            .all()
        )
    return {
        r["run_id"]: SyncRunOutcome(
            run_id=r["run_id"],
            outcome=r["outcome"],
            attempts=r["attempts"],
            message=r["message"],
            updated_at=r["updated_at"],
        )
        for r in rows
    }


def synced_elsewhere(
    engine: Engine,
    base_url: str,
    entity: str | None,
    project: str,
    run_ids: Sequence[str],
    prior_outcomes: Sequence[str] = (),
) -> dict[str, tuple[str, bool, str]]:
    """Which of ``run_ids`` (W&B run ids) a sync of any local sweep of this database
    uploaded to ``entity/project`` (any entity when ``None``) at ``base_url``: each with
    the server sweep it went to, whether it went as one of that sweep's prior runs, and
    the entity. A prior run's record is under its row id with its W&B id as the message;
    ``prior_outcomes`` are the outcomes that say it is on the server."""
    if not run_ids:
        return {}
    ids = list(run_ids)
    on_server = (_sync_runs.c.outcome == "synced") & _sync_runs.c.run_id.in_(ids)
    if prior_outcomes:
        on_server = on_server | (
            _sync_runs.c.outcome.in_(list(prior_outcomes)) & _sync_runs.c.message.in_(ids)
        )
    query = (
        select(
            _sync_runs.c.run_id,
            _sync_runs.c.message,
            _sync_runs.c.outcome,
            _targets.c.server_sweep_id,
            _targets.c.entity,
        )
        .join(_targets, _targets.c.id == _sync_runs.c.target_id)
        .where(_targets.c.base_url == base_url, _targets.c.project == project, on_server)
    )
    if entity is not None:
        query = query.where(_targets.c.entity == entity)
    found: dict[str, tuple[str, bool, str]] = {}
    with engine.connect() as conn:
        for run_id, message, outcome, sweep, where in conn.execute(query).all():
            if outcome == "synced":
                found[run_id] = (sweep, False, where)
            else:
                found.setdefault(message, (sweep, True, where))
    return found


def record_run_outcome(
    engine: Engine,
    target_id: int,
    run_id: str,
    outcome: str,
    *,
    message: str | None = None,
    attempted: bool = False,
) -> None:
    """Record a run's outcome at the target; ``attempted`` counts one more upload."""
    record_run_outcomes(engine, target_id, [(run_id, outcome, message, attempted)])


def record_run_outcomes(
    engine: Engine, target_id: int, outcomes: Sequence[tuple[str, str, str | None, bool]]
) -> None:
    """Record many runs' outcomes at the target in one transaction: each is ``(run_id,
    outcome, message, attempted)``, as :func:`record_run_outcome` takes them."""
    with _write(engine) as conn:
        existing: dict[str, int] = dict(
            conn.execute(
                select(_sync_runs.c.run_id, _sync_runs.c.attempts).where(
                    _sync_runs.c.target_id == target_id
                )
            ).all()
        )
        stamp = now()
        fresh: dict[str, dict[str, Any]] = {}
        for run_id, outcome, message, attempted in outcomes:
            values = {"outcome": outcome, "message": message, "updated_at": stamp}
            if run_id in existing:
                existing[run_id] += int(attempted)
                key = (_sync_runs.c.target_id == target_id) & (_sync_runs.c.run_id == run_id)
                conn.execute(
                    update(_sync_runs).where(key).values(attempts=existing[run_id], **values)
                )
            else:
                before = fresh[run_id]["attempts"] if run_id in fresh else 0
                fresh[run_id] = {
                    "target_id": target_id,
                    "run_id": run_id,
                    "attempts": before + int(attempted),
                    **values,
                }
        if fresh:
            conn.execute(insert(_sync_runs), list(fresh.values()))
