"""Each run's logged values of the sweep metric with their wandb steps, for pruners."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import cast

from sqlalchemy import Connection, Table, select

from localsweep.store._models import HistoryModel
from localsweep.store._store import Store

__all__ = ["metric_steps"]

_history = cast(Table, HistoryModel.__table__)


def metric_steps(
    store: Store, run_ids: Sequence[str], after: int = 0
) -> dict[str, list[tuple[int, int, float]]]:
    """``(row id, step, value)`` of each logged value of the sweep metric of these runs,
    in order, from rows past ``after`` (a row id); NaN for a logged NaN."""

    def work(conn: Connection) -> dict[str, list[tuple[int, int, float]]]:
        out: dict[str, list[tuple[int, int, float]]] = {}
        for start in range(0, len(run_ids), 500):
            rows = conn.execute(
                select(_history.c.id, _history.c.run_id, _history.c.step, _history.c.metric)
                .where(
                    _history.c.run_id.in_(list(run_ids[start : start + 500])),
                    _history.c.has_metric.is_(True),
                    _history.c.id > after,
                )
                .order_by(_history.c.id)
            ).all()
            for row_id, run_id, step, value in rows:
                out.setdefault(run_id, []).append(
                    (row_id, step, math.nan if value is None else value)
                )
        return out

    return store._session.read(work, "read the metric's steps")
