"""A running run's summary written alone, without rows (a value its code set by hand in a
long epoch): the same on SQLite and on a real PostgreSQL server. It is fenced like rows:
a run this agent no longer holds gets nothing written."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from localsweep.config import SweepConfig
from localsweep.errors import LeaseLostError
from localsweep.store import Claim, ClaimOutcome, HistoryRow, RunRecord, Store

Claimer = Callable[..., Claim]


def _claimed(claim: Claimer, store: Store, sweep_id: str) -> RunRecord:
    result = claim(store, sweep_id)
    assert result.outcome is ClaimOutcome.CLAIMED and result.run is not None, result
    return result.run


def test_a_summary_without_rows_is_written_and_adds_no_row(
    store: Store, claim: Claimer, grid: Callable[..., SweepConfig]
) -> None:
    sweep = store.create_sweep(grid(2))
    run = _claimed(claim, store, sweep.id)
    row = HistoryRow(step=0, data={"loss": 2.0}, metric=2.0, has_metric=True)
    store.append_history(run, [row], summary={"loss": 2.0}, metric=2.0)
    assert store.append_history(run, [], summary={"loss": 2.0, "best": 1}, metric=2.0) is None
    stored = store.get_run(run.id)
    assert (stored.summary, stored.metric) == ({"loss": 2.0, "best": 1}, 2.0)
    assert store.history(run.id) == [{"loss": 2.0, "_step": 0}]


def test_a_summary_without_rows_of_a_run_no_longer_held_is_refused(
    store: Store, claim: Claimer, grid: Callable[..., SweepConfig]
) -> None:
    sweep = store.create_sweep(grid(2))
    run = _claimed(claim, store, sweep.id)
    store.requeue_run(run, history=[], summary={"loss": 3.0}, metric=3.0)
    resumed = _claimed(claim, store, sweep.id)
    assert resumed.id == run.id and resumed.attempt == 2
    with pytest.raises(LeaseLostError):
        store.append_history(run, [], summary={"loss": 0.0}, metric=0.0)
    stored = store.get_run(run.id)
    assert (stored.summary, stored.metric) == ({"loss": 3.0}, 3.0)
