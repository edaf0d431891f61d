"""A run's ``heartbeat_at`` (wandb's ``heartbeatAt``, W&B's "Latest Timestamp") is its last
sign of life: the write that ends a run moves it to the end, and only that write, so a run
another agent took for dead keeps the heartbeat it died with (every result counts once)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, text

from localsweep.config import SweepConfig
from localsweep.errors import LeaseLostError
from localsweep.records import RunState
from localsweep.store import AgentInfo, Claim, ClaimOutcome, RunRecord, Store

Claimer = Callable[..., Claim]
REMOTE = AgentInfo(id="remote-agent", host="another-machine.invalid", pid=1)


def _claimed(
    claim: Claimer, store: Store, sweep_id: str, agent: AgentInfo | None = None
) -> RunRecord:
    result = claim(store, sweep_id, agent)
    assert result.outcome is ClaimOutcome.CLAIMED and result.run is not None, result
    return result.run


def _set_heartbeat(store: Store, run_id: str, when: datetime) -> None:
    # SQL, not the Store API: agents only ever beat "now".
    engine = create_engine(store.url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE runs SET heartbeat_at = :t WHERE id = :id"), {"t": when, "id": run_id}
            )
    finally:
        engine.dispose()


def _an_hour_ago() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(hours=1)


@pytest.mark.parametrize("state", [RunState.FINISHED, RunState.FAILED, RunState.PREEMPTED])
def test_the_end_of_a_run_is_its_last_heartbeat(
    store: Store, claim: Claimer, grid: Callable[..., SweepConfig], state: RunState
) -> None:
    sweep = store.create_sweep(grid(2))
    run = _claimed(claim, store, sweep.id)
    _set_heartbeat(store, run.id, _an_hour_ago())  # a run shorter than a beat interval
    ended = store.finish_run(run, state, summary={"loss": 1.0}, metric=1.0, exit_code=0)
    stored = store.get_run(run.id)
    assert stored.finished_at is not None
    assert stored.heartbeat_at == stored.finished_at
    assert ended.heartbeat_at == ended.finished_at


def test_a_lost_end_leaves_the_heartbeat_its_run_died_with(
    store: Store, claim: Claimer, grid: Callable[..., SweepConfig]
) -> None:
    sweep = store.create_sweep(grid(3))
    run = _claimed(claim, store, sweep.id, REMOTE)
    died = _an_hour_ago()
    _set_heartbeat(store, run.id, died)
    assert run.id in claim(store, sweep.id).reaped  # marked crashed by another agent
    with pytest.raises(LeaseLostError):
        store.finish_run(run, RunState.FINISHED, summary={"loss": 1.0}, metric=1.0, exit_code=0)
    stored = store.get_run(run.id)
    assert stored.state is RunState.CRASHED
    assert stored.heartbeat_at == died
