"""Runs and their history: the end of a run, its rows, and how search and stopping see
the sweep's runs. Every write of a running run is conditional on its lease (the claim's
fencing token): an agent whose run was reaped or resumed elsewhere can change nothing
that counts. Functions take the caller's connection."""

from __future__ import annotations

import dataclasses
import functools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Update, bindparam, func, insert, or_, select, update
from sqlalchemy.sql.elements import ColumnElement

from localsweep.config import Method, SweepConfig
from localsweep.errors import LeaseLostError, NotFoundError
from localsweep.records import RunState, RunView
from localsweep.store._clock import SERVER_NOW_ONCE, server_clock
from localsweep.store._records import RunRecord
from localsweep.store._tables import (
    HistoryRow,
    dumps,
    float_or_none,
    history,
    run_record,
    runs,
)

__all__ = [
    "REQUEST_STOP",
    "RunViews",
    "append_history",
    "end_run",
    "histories_of",
    "history_of",
    "insert_history",
    "lost_lease",
    "prior_runs_of",
    "runs_of",
    "runs_since",
]

_INSERT_HISTORY = insert(history)
#: Ask a running run to stop at its next flush (hyperband judging it beside another run).
REQUEST_STOP = (
    update(runs)
    .where(
        runs.c.id == bindparam("b_run_id"),
        runs.c.state == RunState.RUNNING.value,
        runs.c.stop_requested_band.is_(None),
    )
    .values(stop_requested_band=bindparam("b_band"))
)
_SELECT_STOP_REQUEST = select(runs.c.stop_requested_band).where(runs.c.id == bindparam("b_run_id"))
_CHUNK = 500  # keep IN lists within every backend's limit
# Built once: building a statement costs more than SQLite takes to run it (every run's
# end reads the runs since the last one, for the progress line).
_SELECT_RUNS_SINCE = select(runs).where(
    runs.c.sweep_id == bindparam("b_sweep_id"), runs.c.number >= bindparam("b_min_number")
)


def held(run: RunRecord) -> ColumnElement[bool]:
    """The condition that ``run`` is still running under the lease it was claimed with."""
    lease = runs.c.lease.is_(None) if run.lease is None else runs.c.lease == run.lease
    return (runs.c.id == run.id) & (runs.c.state == RunState.RUNNING.value) & lease


def lost_lease(conn: Connection, run: RunRecord, where: str) -> LeaseLostError:
    """The error for a write of ``run`` that found it no longer held (NotFoundError if the
    run does not exist)."""
    row = conn.execute(
        select(runs.c.state, runs.c.attempt, runs.c.agent_id).where(runs.c.id == run.id)
    ).first()
    if row is None:
        raise NotFoundError(f"no run {run.id!r} in {where}")
    state, attempt, agent_id = row
    if state == RunState.CRASHED.value:
        why = "another agent took this agent for dead (its heartbeat stopped) and marked it crashed"
    elif (attempt or 1) != run.attempt or state == RunState.RUNNING.value:
        why = f"it was resumed by another agent ({agent_id}) as attempt {attempt}"
    else:
        why = f"it already ended as {state}"
    return LeaseLostError(f"run {run.id} is no longer held by this agent: {why}")


def insert_history(
    conn: Connection, run_id: str, first_seq: int, rows: Sequence[HistoryRow]
) -> None:
    """Insert ``rows`` as the run's rows ``first_seq``, ``first_seq + 1``, ..."""
    if not rows:
        return
    conn.execute(
        _INSERT_HISTORY,
        [
            {
                "run_id": run_id,
                "step": r.step,
                "data_json": dumps(dict(r.data)),
                "metric": float_or_none(r.metric),
                "has_metric": r.has_metric,
                "seq": first_seq + i,
            }
            for i, r in enumerate(rows)
        ],
    )


def keep_late_rows(
    conn: Connection, run: RunRecord, rows: Sequence[HistoryRow], batch: str
) -> None:
    """Keep the rows of a run we held but lost (reaped as crashed) for the record, in a
    way that never counts: without their metric, so search and stopping ignore them."""
    if not rows:
        return
    result = conn.execute(
        update(runs)
        .where(
            runs.c.id == run.id,
            runs.c.state == RunState.CRASHED.value,
            runs.c.lease.is_(None) if run.lease is None else runs.c.lease == run.lease,
            or_(runs.c.history_batch.is_(None), runs.c.history_batch != batch),
        )
        .values(history_seq=runs.c.history_seq + len(rows), history_batch=batch)
        .returning(runs.c.history_seq)
    ).first()
    if result is not None:
        plain = [dataclasses.replace(r, metric=None, has_metric=False) for r in rows]
        insert_history(conn, run.id, result[0] - len(rows), plain)


def append_history(
    conn: Connection,
    run: RunRecord,
    rows: Sequence[HistoryRow],
    batch: str,
    where: str,
    live: Mapping[str, Any] | None = None,
) -> int | LeaseLostError | None:
    """Write rows of a run we hold; returns the band of a stop requested for it, if any.

    ``live`` holds the run's summary so far (``summary_json``) and its metric's value in
    it (``metric``), written with the rows (alone when there are none), as W&B shows a
    running run's summary; the run's end replaces them. ``batch`` is a token made once per
    call: a replay of a committed write finds it on the run and writes nothing again. A
    run no longer held gets its rows kept without their metric (:func:`keep_late_rows`)
    and the error is *returned*, so the caller commits them and then raises it."""
    if rows:
        result = conn.execute(
            update(runs)
            .where(held(run), or_(runs.c.history_batch.is_(None), runs.c.history_batch != batch))
            .values(history_seq=runs.c.history_seq + len(rows), history_batch=batch, **(live or {}))
            .returning(runs.c.history_seq, runs.c.stop_requested_band)
        ).first()
        if result is None:
            replay = conn.execute(
                select(runs.c.stop_requested_band).where(held(run), runs.c.history_batch == batch)
            ).first()
            if replay is None:
                error = lost_lease(conn, run, where)
                keep_late_rows(conn, run, rows, batch)
                return error
            return replay[0]
        seq, band = result
        insert_history(conn, run.id, seq - len(rows), rows)
        return band
    if live:
        # Only the summary changed (a value the run's code set by hand, in a long epoch).
        row = conn.execute(
            update(runs).where(held(run)).values(**live).returning(runs.c.stop_requested_band)
        ).first()
    else:
        row = conn.execute(select(runs.c.stop_requested_band).where(held(run))).first()
    if row is None:
        return lost_lease(conn, run, where)
    return row[0]


#: Columns an end leaves as they are when given ``None`` (the run's name, folder, logs).
KEPT_WHEN_NONE = frozenset({"name", "dir", "stdout_path", "stderr_path"})


@functools.lru_cache(maxsize=32)
def _end_statement(keys: tuple[str, ...], leased: bool, server_time: bool = False) -> Update:
    """The UPDATE that ends a held run, setting ``keys`` from ``b_<key>`` parameters:
    built once per set of columns, as building it costs more than running it. With
    ``server_time``, ``finished_at`` is the database server's now instead (no
    ``b_finished_at``): agents' clocks need not agree, and the run's start is the
    server's (``_clock.py``)."""
    lease = runs.c.lease == bindparam("b_lease") if leased else runs.c.lease.is_(None)
    sets: dict[str, Any] = {}
    for key in keys:
        value = bindparam(f"b_{key}", type_=runs.c[key].type)
        sets[key] = func.coalesce(value, runs.c[key]) if key in KEPT_WHEN_NONE else value
    if "finished_at" in keys:
        end = SERVER_NOW_ONCE if server_time else sets["finished_at"]
        sets["finished_at"] = end
        # The end is the run's last sign of life (wandb's heartbeatAt, W&B's "Latest
        # Timestamp"): a run shorter than a heartbeat interval kept its claim time. Set
        # here, so only the write that wins the run's end moves it; from the same value
        # (the server's clock is read once per statement).
        sets["heartbeat_at"] = end
    return (
        update(runs)
        .where(runs.c.id == bindparam("b_id"), runs.c.state == RunState.RUNNING.value, lease)
        .values(**sets, history_seq=runs.c.history_seq + bindparam("b_rows"))
        .returning(runs.c.history_seq)
    )


def end_run(
    conn: Connection,
    run: RunRecord,
    values: Mapping[str, Any],
    rows: Sequence[HistoryRow],
    where: str,
    batch: str,
) -> bool | LeaseLostError:
    """End a run we hold with ``values`` (its new state among them) and its last rows.

    Returns ``False`` for a replay of our own committed end (nothing written again);
    returns a :class:`LeaseLostError` when the run is no longer ours, after keeping its
    rows in a way that does not count (the caller commits, then raises it)."""
    params = {f"b_{k}": v for k, v in values.items()}
    params.update(b_id=run.id, b_lease=run.lease, b_rows=len(rows))
    server_time = server_clock(conn) and "finished_at" in values
    if server_time:
        del params["b_finished_at"]  # this host's clock: the server's is written
    statement = _end_statement(tuple(sorted(values)), run.lease is not None, server_time)
    result = conn.execute(statement, params).first()
    if result is None:
        row = conn.execute(
            select(runs.c.state, runs.c.lease, runs.c.attempt).where(runs.c.id == run.id)
        ).first()
        if row is not None:
            state, lease, attempt = row
            ours = lease == run.lease and (attempt or 1) == run.attempt
            if ours and state == values["state"]:
                return False
            if values["state"] == RunState.PREEMPTED.value and (attempt or 1) > run.attempt:
                return False  # our requeue committed, and another agent resumed it since
        error = lost_lease(conn, run, where)
        keep_late_rows(conn, run, rows, batch)
        return error
    insert_history(conn, run.id, result[0] - len(rows), rows)
    return True


def runs_of(conn: Connection, sweep_id: str) -> list[RunRecord]:
    """Every run of the sweep, by number."""
    rows = conn.execute(
        select(runs).where(runs.c.sweep_id == sweep_id).order_by(runs.c.number)
    ).mappings()
    return [run_record(r) for r in rows]


def prior_runs_of(conn: Connection, sweep_id: str) -> list[RunRecord]:
    """The sweep's prior runs, by number (without reading its own runs)."""
    rows = conn.execute(
        select(runs)
        .where(runs.c.sweep_id == sweep_id, runs.c.prior.is_(True))
        .order_by(runs.c.number)
    ).mappings()
    return [run_record(r) for r in rows]


def runs_since(
    conn: Connection, sweep_id: str, min_number: int, open_ids: Sequence[str]
) -> list[RunRecord]:
    """The sweep's runs numbered ``min_number`` or higher and the runs of ``open_ids``."""
    found = {
        r["id"]: r
        for r in conn.execute(
            _SELECT_RUNS_SINCE, {"b_sweep_id": sweep_id, "b_min_number": min_number}
        ).mappings()
    }
    ids = [i for i in open_ids if i not in found]
    for start in range(0, len(ids), _CHUNK):
        for r in conn.execute(
            select(runs).where(runs.c.id.in_(ids[start : start + _CHUNK]))
        ).mappings():
            found[r["id"]] = r
    return sorted((run_record(r) for r in found.values()), key=lambda r: r.number)


def history_of(conn: Connection, run_id: str) -> list[dict[str, Any]]:
    """Every logged row of a run, in order, each with its ``_step``."""
    rows = conn.execute(
        select(history.c.step, history.c.data_json)
        .where(history.c.run_id == run_id)
        .order_by(history.c.id)
    ).all()
    return [_decoded_row(step, data_json) for step, data_json in rows]


def history_ids_of(
    conn: Connection, run_id: str, min_step: int | None, stop_step: int | None
) -> list[int]:
    """The ids of a run's rows from ``min_step`` to before ``stop_step``, in order."""
    query = select(history.c.id).where(history.c.run_id == run_id)
    if min_step is not None:
        query = query.where(history.c.step >= min_step)
    if stop_step is not None:
        query = query.where(history.c.step < stop_step)
    return list(conn.execute(query.order_by(history.c.id)).scalars())


def history_rows_of_ids(conn: Connection, ids: Sequence[int]) -> list[dict[str, Any]]:
    """The rows of ``ids`` (of one run, ascending), in order, each with its ``_step``:
    looked up by primary key (a range of ids with the run's id made SQLite go through
    the run's every row in its index, for each page)."""
    found: dict[int, tuple[int, str]] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        query = select(history.c.id, history.c.step, history.c.data_json)
        for row_id, step, data_json in conn.execute(query.where(history.c.id.in_(chunk))):
            found[row_id] = (step, data_json)
    # an id not found: its sweep was removed since the ids were read
    return [_decoded_row(*found[row_id]) for row_id in ids if row_id in found]


def _decoded_row(step: int, data_json: str) -> dict[str, Any]:
    """A stored row as it was logged, with its ``_step``."""
    row: dict[str, Any] = json.loads(data_json)
    row.setdefault("_step", step)
    return row


def history_extent_of(conn: Connection, run_id: str) -> tuple[int, int]:
    """How many rows the run logged and the last ``_step`` among them (-1 for none): two
    aggregates, where reading the rows decoded every one (2-3 s at 200,000 rows). The
    ``step`` column is each row's ``_step``: the user's own ``_step`` never reaches a row,
    and a prior run's rows are stored at the ``_step`` they logged."""
    count, last = conn.execute(
        select(func.count(), func.max(history.c.step)).where(history.c.run_id == run_id)
    ).one()
    return int(count), -1 if last is None else int(last)


def histories_of(conn: Connection, run_ids: Sequence[str]) -> dict[str, list[float]]:
    """The logged values of the sweep metric of these runs, in order (NaN for a NaN)."""
    out: dict[str, list[float]] = {}
    for start in range(0, len(run_ids), _CHUNK):
        rows = conn.execute(
            select(history.c.run_id, history.c.metric)
            .where(
                history.c.run_id.in_(run_ids[start : start + _CHUNK]),
                history.c.has_metric.is_(True),
            )
            .order_by(history.c.id)
        ).all()
        for run_id, value in rows:
            out.setdefault(run_id, []).append(math.nan if value is None else value)
    return out


@dataclass
class _SweepViews:
    #: Views in run number order.
    views: list[RunView] = field(default_factory=list)
    #: Where each run number sits in ``views``.
    index: dict[int, int] = field(default_factory=dict)
    #: Runs not ended at the last read (running, preempted): read again next time.
    open: dict[str, int] = field(default_factory=dict)
    #: The lowest run number not read yet (prior runs have negative numbers).
    watermark: int = -(2**31)


class RunViews:
    """Every run of a sweep as search and stopping see it, kept up to date incrementally.

    A run that ended stays as it ended (ends are fenced by leases), so each refresh reads
    only runs numbered at or above the watermark and runs that were still open, and updates
    its list in place: the store's part of a claim stays O(log n + open runs), not
    O(runs in the sweep). The list returned is the cache itself, valid until the next
    refresh of the same sweep: claims use it under the sweep's write lock; other callers
    copy it.
    """

    def __init__(self) -> None:
        self._sweeps: dict[tuple[str, str], _SweepViews] = {}

    def is_cold(self, sweep_id: str, mode: str) -> bool:
        """Whether nothing of this sweep was read yet in this mode."""
        return (sweep_id, mode) not in self._sweeps

    def forget(self, sweep_id: str) -> None:
        """Drop what is known of a sweep (after a rolled-back transaction read it)."""
        for key in [k for k in self._sweeps if k[0] == sweep_id]:
            del self._sweeps[key]

    def refresh(
        self, conn: Connection, sweep_id: str, config: SweepConfig | None, mode: str
    ) -> list[RunView]:
        """The sweep's runs in number order. ``mode``: ``params`` (no history),
        ``full`` (params and metric history) or ``metric`` (state and history only)."""
        known = self._sweeps.setdefault((sweep_id, mode), _SweepViews())
        cols = [runs.c.id, runs.c.number, runs.c.state]
        if mode != "metric":
            cols += [
                runs.c.config_json,
                runs.c.point_key,
                runs.c.metric,
                runs.c.summary_json,
                runs.c.search_info_json,
            ]
        fresh: list[Any] = list(
            conn.execute(
                select(*cols)
                .where(runs.c.sweep_id == sweep_id, runs.c.number >= known.watermark)
                .order_by(runs.c.number)
            ).all()
        )
        open_ids = list(known.open)
        for start in range(0, len(open_ids), _CHUNK):
            fresh += conn.execute(
                select(*cols).where(runs.c.id.in_(open_ids[start : start + _CHUNK]))
            ).all()
        with_history = mode != "params"
        histories = histories_of(conn, [r[0] for r in fresh]) if with_history else {}
        for row in fresh:
            run_id, number, state = row[0], row[1], RunState(row[2])
            if mode == "metric":
                view = RunView(id=run_id, state=state, history=tuple(histories.get(run_id, ())))
            else:
                assert config is not None
                summary, info = row[6], row[7]
                view = RunView(
                    id=run_id,
                    state=state,
                    params=config.flatten(json.loads(row[3])),
                    history=tuple(histories.get(run_id, ())),
                    summary=row[5],
                    grid_key=row[4],
                    # Only multi-objective and custom searches read these.
                    summary_data=json.loads(summary) if config.metrics and summary else {},
                    search_info=(
                        json.loads(info) if config.method is Method.CUSTOM and info else {}
                    ),
                )
            at = known.index.get(number)
            if at is None:
                known.index[number] = len(known.views)
                known.views.append(view)
            else:
                known.views[at] = view
            if state is RunState.RUNNING or state is RunState.PREEMPTED:
                known.open[run_id] = number
            else:
                known.open.pop(run_id, None)
            known.watermark = max(known.watermark, number + 1)
        return known.views
