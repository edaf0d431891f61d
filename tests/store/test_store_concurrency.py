"""Claims are atomic: agents racing on one sweep never get the same grid point, never see
a database error, and a claim waits for another's lock instead of reading stale state."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import create_engine, text

from localsweep.config import SweepConfig
from localsweep.records import RunState, SweepState
from localsweep.store import Claim, ClaimOutcome, HistoryRow, Store

THREADS = 8


def _work_until_done(store: Store, sweep_id: str, claim: Callable[..., Claim]) -> list[int]:
    """An agent's loop without the training: claim, finish at once, until nothing is left."""
    done = []
    while True:
        got = claim(store, sweep_id)
        if got.outcome is ClaimOutcome.WAIT:
            time.sleep(0.01)
            continue
        if got.run is None:
            return done
        x = got.run.config["x"]
        store.finish_run(
            got.run,
            RunState.FINISHED,
            history=[HistoryRow(step=0, data={"loss": x}, metric=x, has_metric=True)],
            summary={"loss": x},
            metric=x,
            exit_code=0,
        )
        done.append(x)


def _race(workers: list[Callable[[], list[int]]]) -> list[int]:
    with ThreadPoolExecutor(len(workers)) as pool:
        futures = [pool.submit(w) for w in workers]
        # .result() re-raises anything a thread hit (an IntegrityError, "database is locked").
        return [x for f in futures for x in f.result()]


def test_threads_sharing_one_store_claim_every_grid_point_exactly_once(
    store: Store, claim: Callable[..., Claim], grid: Callable[..., SweepConfig]
) -> None:
    sweep = store.create_sweep(grid(40))
    ran = _race([lambda: _work_until_done(store, sweep.id, claim)] * THREADS)
    assert sorted(ran) == list(range(40))
    runs = store.list_runs(sweep.id)
    assert len(runs) == 40
    assert len({r.grid_key for r in runs}) == 40
    assert sorted(r.number for r in runs) == list(range(40))
    record = store.get_sweep(sweep.id)
    assert record.state is SweepState.FINISHED
    assert record.finished_reason == "exhausted"


def test_threads_with_their_own_stores_claim_every_grid_point_exactly_once(
    store: Store, claim: Callable[..., Claim], grid: Callable[..., SweepConfig]
) -> None:
    sweep = store.create_sweep(grid(40))
    stores = [Store(store.url) for _ in range(THREADS)]
    try:
        ran = _race([lambda s=s: _work_until_done(s, sweep.id, claim) for s in stores])
    finally:
        for s in stores:
            s.close()
    assert sorted(ran) == list(range(40))
    assert len(store.list_runs(sweep.id)) == 40


def test_racing_threads_respect_run_cap(
    store: Store, claim: Callable[..., Claim], random_sweep: Callable[..., SweepConfig]
) -> None:
    sweep = store.create_sweep(random_sweep(run_cap=13))
    ran = _race([lambda: _work_until_done(store, sweep.id, claim)] * THREADS)
    assert len(ran) == 13
    assert len(store.list_runs(sweep.id)) == 13
    assert store.get_sweep(sweep.id).finished_reason == "run_cap"


@pytest.mark.postgres
@pytest.mark.slow
def test_a_postgres_claim_waits_for_the_lock_on_the_sweep_row(
    postgres_db: str, claim: Callable[..., Claim], grid: Callable[..., SweepConfig]
) -> None:
    store = Store(postgres_db)
    sweep = store.create_sweep(grid(3))
    engine = create_engine(postgres_db)
    holder = engine.connect()
    watcher = engine.connect()
    try:
        tx = holder.begin()
        holder.execute(text("SELECT id FROM sweeps WHERE id = :id FOR UPDATE"), {"id": sweep.id})
        result: list[Claim] = []
        claimer = threading.Thread(target=lambda: result.append(claim(store, sweep.id)))
        claimer.start()
        # Wait until the server itself reports the claim blocked on a lock.
        deadline = time.monotonic() + 60
        while True:
            waiting = watcher.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()
            watcher.rollback()
            assert result == [], "the claim went ahead while another held the sweep row"
            if waiting:
                break
            assert time.monotonic() < deadline, "the claim never waited for the sweep row"
            time.sleep(0.05)
        assert result == []
        assert store.list_runs(sweep.id) == []
        tx.rollback()
        claimer.join(timeout=60)
        assert [c.outcome for c in result] == [ClaimOutcome.CLAIMED]
        assert len(store.list_runs(sweep.id)) == 1
    finally:
        holder.close()
        watcher.close()
        engine.dispose()
        store.close()
