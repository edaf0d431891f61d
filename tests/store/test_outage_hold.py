"""While the database cannot be reached (a PostgreSQL restart, a SQLite file another
writer holds), no agent's heartbeat lands. The first claim after it answered again used to
take every other agent's live run for dead (``lease_lost``), their heartbeats as old as the
outage, though each agent beats again within seconds: their work was thrown away and their
points run twice. A store whose call waited a beat interval or more now takes no run for
dead by its heartbeat until the others have had an interval to beat again; a run whose
agent does not come back is reaped after that, as before."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from test_store_heartbeat_timeouts import HOLDER

from localsweep.config import SweepConfig
from localsweep.records import RunState
from localsweep.store import AgentInfo, Claim, ClaimOutcome, Store, _reaper

if TYPE_CHECKING:
    from tests.store.conftest import PrivatePostgres

Claimer = Callable[..., Claim]
LOOKER = AgentInfo(id="looker-agent", host="this-machine.invalid", pid=2)
#: The agents' heartbeat timeout here (their beat interval is a quarter of it).
TIMEOUT = 2.0


@pytest.fixture(autouse=True)
def _short_heartbeats(monkeypatch: pytest.MonkeyPatch) -> None:
    """Agents with a heartbeat timeout of TIMEOUT; every claim looks for dead agents."""
    monkeypatch.setenv("LOCALSWEEP_HEARTBEAT_TIMEOUT", str(TIMEOUT))
    monkeypatch.setattr(_reaper, "REAP_INTERVAL", 0.0)


def _hold_write_lock(path: Path, seconds: float, taken: threading.Event) -> None:
    """Another writer holds the SQLite file's write lock for ``seconds``."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        taken.set()
        time.sleep(seconds)
        conn.execute("COMMIT")
    finally:
        conn.close()


def _reaped_within(looker: Store, sweep_id: str, run_id: str, claim: Claimer) -> bool:
    """Whether the looker's claims reap ``run_id`` once its hold is over."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if run_id in claim(looker, sweep_id, LOOKER).reaped:
            return True
        time.sleep(0.2)
    return False


def test_a_claim_after_a_locked_file_leaves_live_runs_alone(
    tmp_path: Path,
    claim: Claimer,
    random_sweep: Callable[..., SweepConfig],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = tmp_path / "sweeps.db"
    store = Store(db)
    looker = Store(db)
    try:
        sweep = store.create_sweep(random_sweep())
        held = claim(store, sweep.id, HOLDER).run
        assert held is not None
        taken = threading.Event()
        writer = threading.Thread(target=_hold_write_lock, args=(db, TIMEOUT + 1.5, taken))
        writer.start()
        taken.wait(10)

        after = claim(looker, sweep.id, LOOKER)  # waits out the lock: no beat lands meanwhile
        writer.join()

        assert after.outcome is ClaimOutcome.CLAIMED
        assert held.id not in after.reaped
        assert store.get_run(held.id).state is RunState.RUNNING
        assert store.heartbeat([held]) == set()  # its agent beats again: still its own
        # An agent that does not beat again is reaped once the hold is over.
        assert _reaped_within(looker, sweep.id, held.id, claim)
        assert store.get_run(held.id).end_reason == "lease_lost"
    finally:
        looker.close()
        store.close()


def test_only_a_wait_of_a_beat_interval_holds_reaping() -> None:
    """Waits shorter than a run's beat interval (the lock of a busy sweep, many times a
    minute with many agents) change nothing: a dead agent's run is not left waiting for
    them. Each run is judged by its own agent's interval."""
    reaper = _reaper.Reaper()
    reaper.note_wait(_reaper.interval_of(TIMEOUT) / 2)
    assert not reaper.waited_out(TIMEOUT)
    reaper.note_wait(_reaper.interval_of(TIMEOUT))
    assert reaper.waited_out(TIMEOUT)
    assert not reaper.waited_out(120.0)  # an agent that beats every 30 s missed no beat


def test_a_default_agent_after_a_wait_leaves_a_fast_beating_agents_run_alone(
    tmp_path: Path,
    claim: Claimer,
    random_sweep: Callable[..., SweepConfig],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Agents of one sweep may beat at different rates. A looker with the default timeout
    (it beats every 30 s) that waited a few seconds held nothing by its own interval, and
    reaped the live run of an agent with a 2 s timeout, whose beats could not land."""
    db = tmp_path / "sweeps.db"
    store = Store(db)
    looker = Store(db)
    try:
        sweep = store.create_sweep(random_sweep())
        held = claim(store, sweep.id, HOLDER).run  # claimed with the 2 s timeout
        assert held is not None
        monkeypatch.delenv("LOCALSWEEP_HEARTBEAT_TIMEOUT")  # the looker's: the default
        taken = threading.Event()
        writer = threading.Thread(target=_hold_write_lock, args=(db, TIMEOUT + 1.5, taken))
        writer.start()
        taken.wait(10)

        after = claim(looker, sweep.id, LOOKER)
        writer.join()

        assert held.id not in after.reaped
        assert store.get_run(held.id).state is RunState.RUNNING
        assert _reaped_within(looker, sweep.id, held.id, claim)  # once its agent had time
    finally:
        looker.close()
        store.close()


@pytest.mark.postgres
@pytest.mark.slow
def test_a_claim_after_a_database_restart_leaves_live_runs_alone(
    private_postgres: PrivatePostgres,
    claim: Claimer,
    random_sweep: Callable[..., SweepConfig],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    store = Store(private_postgres.url)
    looker = Store(private_postgres.url)
    try:
        sweep = store.create_sweep(random_sweep())
        held = claim(store, sweep.id, HOLDER).run
        assert held is not None
        private_postgres.stop()
        result: dict[str, object] = {}

        def look() -> None:
            try:
                result["claim"] = claim(looker, sweep.id, LOOKER)
            except BaseException as exc:
                result["error"] = exc

        thread = threading.Thread(target=look)
        thread.start()
        time.sleep(TIMEOUT + 1.5)  # the outage: longer than the holder's timeout
        private_postgres.start()
        thread.join(120)

        assert "error" not in result, result.get("error")
        after = result["claim"]
        assert isinstance(after, Claim) and after.outcome is ClaimOutcome.CLAIMED
        assert held.id not in after.reaped
        assert store.get_run(held.id).state is RunState.RUNNING
        assert store.heartbeat([held]) == set()
        assert _reaped_within(looker, sweep.id, held.id, claim)
    finally:
        looker.close()
        store.close()


def _open_during_an_outage(server: PrivatePostgres, down: float) -> Store:
    """A store opened while the server is down for ``down`` seconds (it waits in its open)."""
    server.stop()
    opened: dict[str, object] = {}

    def open_late() -> None:
        try:
            opened["store"] = Store(server.url)
        except BaseException as exc:
            opened["error"] = exc

    thread = threading.Thread(target=open_late)
    thread.start()
    time.sleep(down)
    server.start()
    thread.join(120)
    assert "error" not in opened, opened.get("error")
    store = opened["store"]
    assert isinstance(store, Store)
    return store


@pytest.mark.postgres
@pytest.mark.slow
def test_an_agent_that_opened_the_database_during_an_outage_leaves_live_runs_alone(
    private_postgres: PrivatePostgres,
    claim: Claimer,
    random_sweep: Callable[..., SweepConfig],
) -> None:
    # An agent started while the server restarted waited in its open, which did not
    # count as a wait: its first claim reaped the runs whose beats could not land.
    store = Store(private_postgres.url)
    try:
        sweep = store.create_sweep(random_sweep())
        held = claim(store, sweep.id, HOLDER).run
        assert held is not None
        late = _open_during_an_outage(private_postgres, TIMEOUT + 1.5)
        try:
            after = claim(late, sweep.id, LOOKER)
            assert held.id not in after.reaped
            assert store.get_run(held.id).state is RunState.RUNNING
        finally:
            late.close()
    finally:
        store.close()


@pytest.mark.postgres
@pytest.mark.slow
def test_an_agent_given_a_store_timeout_waits_that_long_to_open_the_database(
    private_postgres: PrivatePostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Opening waited at most 10 s whatever --store-timeout said (it sets the variable),
    # and the message then said to raise --store-timeout. Scaled: 1 s for the 10 s.
    from localsweep.store import _session

    monkeypatch.setattr(_session, "OPEN_RETRY_TIMEOUT", 1.0)
    monkeypatch.setenv("LOCALSWEEP_STORE_TIMEOUT", "60")
    _open_during_an_outage(private_postgres, 3.0).close()


def test_an_agent_started_as_the_database_came_back_leaves_live_runs_alone(
    tmp_path: Path,
    claim: Claimer,
    random_sweep: Callable[..., SweepConfig],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A job script that starts ``localsweep agent`` again until it can connect starts it
    the moment the database is back, while the other agents' beats are still in their
    retries' backoff: it saw no wait of its own, and its first claim reaped their live
    runs. A store just opened judges no heartbeat for the backoff's cap."""
    monkeypatch.setattr(_reaper, "START_HOLD", _reaper.OUTAGE_MARGIN)
    db = tmp_path / "sweeps.db"
    store = Store(db)
    try:
        sweep = store.create_sweep(random_sweep())
        held = claim(store, sweep.id, HOLDER).run
        assert held is not None
        time.sleep(TIMEOUT + 0.5)  # the outage: no beat of its agent landed

        looker = Store(db)  # started as the database came back
        try:
            after = claim(looker, sweep.id, LOOKER)
            assert after.outcome is ClaimOutcome.CLAIMED
            assert held.id not in after.reaped
            assert store.heartbeat([held]) == set()  # its retried beat lands: still its own
            # An agent that does not beat again is reaped once the hold is over.
            assert _reaped_within(looker, sweep.id, held.id, claim)
        finally:
            looker.close()
    finally:
        store.close()
