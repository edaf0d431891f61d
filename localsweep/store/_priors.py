"""Prior runs in the store: runs done before a sweep, written into it to learn from.

A prior run is a row of ``runs`` with ``prior`` set, a negative ``number`` (so the sweep's
own runs keep theirs, 0, 1, ..., and every reader that orders by number sees the priors
first, as the runs that came before), and its logged rows in ``history``. The search and
hyperband read it like any run; ``run_cap`` does not count it; a grid point it holds is
held by ``grid_key`` like any other, so no agent claims it again.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Connection, Table, func, insert, select

from localsweep.records import RunState
from localsweep.store._models import HistoryModel, RunModel

if TYPE_CHECKING:
    from localsweep.store._records import RunRecord
    from localsweep.store._store import Store
    from localsweep.store._tables import HistoryRow

__all__ = ["PriorRunRow", "add_prior_runs", "insert_prior_runs", "prior_points"]

logger = logging.getLogger(__name__)

_runs = cast(Table, RunModel.__table__)
_history = cast(Table, HistoryModel.__table__)


@dataclass(frozen=True)
class PriorRunRow:
    """One prior run as the store writes it.

    ``config`` is nested as the sweep delivers it; ``metric`` the sweep metric's summary
    value; ``grid_key`` the grid point it holds (``None`` for other methods); ``source``
    where it came from and ``run_id`` its own id there.
    """

    source: str
    state: RunState
    config: Mapping[str, Any]
    run_id: str | None = None
    name: str | None = None
    summary: Mapping[str, Any] = field(default_factory=dict)
    metric: float | None = None
    history: Sequence[HistoryRow] = ()
    grid_key: str | None = None
    created_at: datetime | None = None
    finished_at: datetime | None = None
    stopped_at_band: int | None = None
    #: The wandb offline run folder, when the prior is one.
    dir: str | None = None


def prior_points(conn: Connection, sweep_id: str) -> int:
    """How many grid points the sweep's prior runs hold."""
    return int(
        conn.execute(
            select(func.count())
            .select_from(_runs)
            .where(
                _runs.c.sweep_id == sweep_id,
                _runs.c.prior.is_(True),
                _runs.c.grid_key.is_not(None),
            )
        ).scalar_one()
    )


def insert_prior_runs(conn: Connection, sweep_id: str, priors: Sequence[PriorRunRow]) -> list[str]:
    """Write ``priors`` into the sweep, in order, below every number it uses; returns the
    new rows' ids. Of several priors at one grid point only the first holds it (the
    others keep it as their ``point_key``), as of a point a run of the sweep holds."""
    from localsweep.store._tables import dumps, now

    lowest = conn.execute(
        select(func.min(_runs.c.number)).where(_runs.c.sweep_id == sweep_id)
    ).scalar()
    start = min(0, lowest if lowest is not None else 0) - len(priors)
    held = {
        key
        for (key,) in conn.execute(
            select(_runs.c.grid_key).where(
                _runs.c.sweep_id == sweep_id, _runs.c.grid_key.is_not(None)
            )
        )
    }
    ids: list[str] = []
    created = now()
    for offset, prior in enumerate(priors):
        row_id = _run_id_free(conn, prior.run_id)
        grid_key = prior.grid_key if prior.grid_key not in held else None
        if grid_key is not None:
            held.add(grid_key)
        conn.execute(
            insert(_runs).values(
                id=row_id,
                sweep_id=sweep_id,
                number=start + offset,
                name=prior.name or prior.run_id,
                state=prior.state.value,
                config_json=dumps(dict(prior.config)),
                grid_key=grid_key,
                point_key=prior.grid_key,
                created_at=prior.created_at or created,
                finished_at=prior.finished_at or prior.created_at or created,
                summary_json=dumps(dict(prior.summary)),
                metric=_finite(prior.metric),
                exit_code=0 if prior.state is RunState.FINISHED else None,
                stopped_at_band=prior.stopped_at_band,
                end_reason="hyperband" if prior.stopped_at_band is not None else None,
                prior=True,
                prior_source=prior.source,
                prior_run_id=prior.run_id,
                dir=prior.dir,
                history_seq=len(prior.history),
            )
        )
        if prior.history:
            conn.execute(
                insert(_history),
                [
                    {
                        "run_id": row_id,
                        "step": r.step,
                        "data_json": dumps(dict(r.data)),
                        "metric": _finite(r.metric),
                        "has_metric": r.has_metric,
                        "seq": i,
                    }
                    for i, r in enumerate(prior.history)
                ],
            )
        ids.append(row_id)
    logger.info("added %d prior run(s) to sweep %s", len(ids), sweep_id)
    return ids


def add_prior_runs(store: Store, sweep_id: str, priors: Sequence[PriorRunRow]) -> list[RunRecord]:
    """Write ``priors`` into sweep ``sweep_id`` in one transaction; returns them as recorded."""
    ids = store._session.write(
        lambda conn: insert_prior_runs(conn, sweep_id, priors), "add prior runs"
    )
    return [store.get_run(run_id) for run_id in ids]


def _run_id_free(conn: Connection, wanted: str | None) -> str:
    """The run's own id as its row id when no row has it yet (so ``Api().run(id)`` finds
    it), else a new one; the own id stays in ``prior_run_id`` either way."""
    from localsweep.store._tables import new_run_id

    if wanted and len(wanted) <= 64:
        taken = conn.execute(select(_runs.c.id).where(_runs.c.id == wanted)).first()
        if taken is None:
            return wanted
    while True:
        fresh = new_run_id()
        if conn.execute(select(_runs.c.id).where(_runs.c.id == fresh)).first() is None:
            return fresh


def _finite(value: float | None) -> float | None:
    return value if value is not None and not math.isnan(value) else None
