"""What a run taken for dead by its late heartbeat is recorded with, and what the reaping
agent says: not only that its agent died or was suspended. A live agent whose in-process
run holds Python's GIL in one long C call (``sum(range(N))``) past the heartbeat timeout
beats no heartbeat either (its heartbeat is a thread of that process)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, text

from localsweep.config import SweepConfig
from localsweep.records import RunState
from localsweep.store import AgentInfo, Claim, ClaimOutcome, Store

REMOTE = AgentInfo(id="remote-agent", host="another-machine.invalid", pid=1)


def _backdate_heartbeat(store: Store, run_id: str, seconds: float) -> None:
    # SQL, not the Store API: agents only ever beat "now".
    old = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(seconds=seconds)
    engine = create_engine(store.url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE runs SET heartbeat_at = :t WHERE id = :id"), {"t": old, "id": run_id}
            )
    finally:
        engine.dispose()


def test_a_run_reaped_for_its_late_heartbeat_names_a_held_gil_among_the_causes(
    store: Store,
    claim: Callable[..., Claim],
    grid: Callable[..., SweepConfig],
    caplog: pytest.LogCaptureFixture,
) -> None:
    sweep = store.create_sweep(grid(3))
    taken = claim(store, sweep.id, REMOTE)
    assert taken.outcome is ClaimOutcome.CLAIMED and taken.run is not None
    _backdate_heartbeat(store, taken.run.id, seconds=1000)

    with caplog.at_level(logging.WARNING, logger="localsweep"):
        assert taken.run.id in claim(store, sweep.id).reaped

    run = store.get_run(taken.run.id)
    assert run.state is RunState.CRASHED
    assert run.end_reason == "lease_lost"
    assert "held Python's GIL in one long C call past the timeout" in (run.error or "")
    said = " ".join(caplog.messages)
    assert "holding Python's GIL in one long C call" in said, said
    assert taken.run.id in said
