"""Agents of one sweep may each have their own ``LOCALSWEEP_HEARTBEAT_TIMEOUT``: a run is
taken for dead by the timeout of the agent that holds it (kept with its claim), never by
the timeout of the agent that looks. An agent with a short timeout used to reap the live
runs of an agent with the default one, which beats only every 30 s. Runs claimed before the
timeout was kept (schema 0009) are judged by the looker's own timeout, as before. The same
on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from localsweep.config import SweepConfig
from localsweep.errors import SchemaVersionError
from localsweep.records import RunState
from localsweep.store import AgentInfo, Claim, ClaimOutcome, RunRecord, Store, _migrate
from localsweep.store._engine import make_engine, resolve_url
from localsweep.store._models import SCHEMA_VERSION

Claimer = Callable[..., Claim]
#: The agents holding the runs, on another machine (only the heartbeat tells if it lives).
HOLDER = AgentInfo(id="holder-agent", host="another-machine.invalid", pid=1)
VARIABLE = "LOCALSWEEP_HEARTBEAT_TIMEOUT"


def _silent_for(store: Store, run_id: str, seconds: float) -> None:
    """The run's last heartbeat ``seconds`` ago (SQL: agents only ever beat "now")."""
    old = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(seconds=seconds)
    engine = create_engine(store.url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE runs SET heartbeat_at = :t WHERE id = :id"), {"t": old, "id": run_id}
            )
    finally:
        engine.dispose()


def _claimed_with_timeout(
    claim: Claimer,
    store: Store,
    sweep_id: str,
    timeout: str,
    monkeypatch: pytest.MonkeyPatch,
    agent: AgentInfo | None = None,
) -> Claim:
    """A claim by an agent whose ``LOCALSWEEP_HEARTBEAT_TIMEOUT`` is ``timeout``."""
    monkeypatch.setenv(VARIABLE, timeout)
    result = claim(store, sweep_id, agent)
    assert result.outcome is ClaimOutcome.CLAIMED, result
    return result


def _held(
    claim: Claimer, store: Store, sweep_id: str, timeout: str, mp: pytest.MonkeyPatch
) -> RunRecord:
    run = _claimed_with_timeout(claim, store, sweep_id, timeout, mp, HOLDER).run
    assert run is not None
    return run


def test_an_agent_with_a_short_timeout_leaves_a_patient_agents_live_run_alone(
    store: Store, claim: Claimer, grid: Callable[..., SweepConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    sweep = store.create_sweep(grid(4))
    patient = _held(claim, store, sweep.id, "600", monkeypatch)
    _silent_for(store, patient.id, 60)  # between two of its beats (every 30 s at most)
    looked = _claimed_with_timeout(claim, store, sweep.id, "8", monkeypatch)
    assert patient.id not in looked.reaped
    assert store.get_run(patient.id).state is RunState.RUNNING
    # Past its own timeout it is dead, whoever looks.
    _silent_for(store, patient.id, 700)
    looked = _claimed_with_timeout(claim, store, sweep.id, "8", monkeypatch)
    assert looked.reaped == (patient.id,)
    reaped = store.get_run(patient.id)
    assert (reaped.state, reaped.end_reason) == (RunState.CRASHED, "lease_lost")
    assert "no heartbeat for 600 s" in (reaped.error or "")


def test_an_agent_with_a_long_timeout_reaps_a_quick_agents_dead_run_by_its_timeout(
    store: Store, claim: Claimer, grid: Callable[..., SweepConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    sweep = store.create_sweep(grid(4))
    quick = _held(claim, store, sweep.id, "8", monkeypatch)
    _silent_for(store, quick.id, 60)
    looked = _claimed_with_timeout(claim, store, sweep.id, "600", monkeypatch)
    assert looked.reaped == (quick.id,)


def test_a_resumed_run_is_judged_by_the_timeout_of_the_agent_that_resumed_it(
    store: Store, claim: Claimer, grid: Callable[..., SweepConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    sweep = store.create_sweep(grid(4))
    first = _held(claim, store, sweep.id, "8", monkeypatch)
    store.requeue_run(first, history=[], summary={})
    resumed = _held(claim, store, sweep.id, "600", monkeypatch)
    assert (resumed.id, resumed.attempt) == (first.id, 2)
    _silent_for(store, resumed.id, 60)
    looked = _claimed_with_timeout(claim, store, sweep.id, "8", monkeypatch)
    assert resumed.id not in looked.reaped
    assert store.get_run(resumed.id).state is RunState.RUNNING


def test_a_run_claimed_before_the_timeout_was_kept_is_judged_by_the_lookers_timeout(
    store: Store, claim: Claimer, grid: Callable[..., SweepConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    sweep = store.create_sweep(grid(4))
    old = _held(claim, store, sweep.id, "600", monkeypatch)
    engine = create_engine(store.url)
    try:
        with engine.begin() as conn:  # as schema 0009's migration leaves earlier runs
            conn.execute(
                text("UPDATE runs SET heartbeat_timeout = NULL WHERE id = :id"), {"id": old.id}
            )
    finally:
        engine.dispose()
    _silent_for(store, old.id, 60)
    assert old.id not in _claimed_with_timeout(claim, store, sweep.id, "600", monkeypatch).reaped
    assert _claimed_with_timeout(claim, store, sweep.id, "8", monkeypatch).reaped == (old.id,)


def test_db_upgrade_gives_a_0008_database_the_column_and_keeps_its_runs(
    tmp_path: Path, claim: Claimer, grid: Callable[..., SweepConfig]
) -> None:
    path = tmp_path / "old.db"
    store = Store(path)
    sweep = store.create_sweep(grid(2))
    run = claim(store, sweep.id, HOLDER).run
    assert run is not None
    store.close()
    with sqlite3.connect(path) as conn:  # the database as schema 0008 left it
        conn.execute("ALTER TABLE runs DROP COLUMN heartbeat_timeout")
        conn.execute("UPDATE alembic_version SET version_num = '0008'")
    with pytest.raises(SchemaVersionError, match="localsweep db upgrade"):
        Store(path)
    engine = make_engine(resolve_url(path))
    try:
        assert _migrate.upgrade(engine) == ("0008", SCHEMA_VERSION)
    finally:
        engine.dispose()
    store = Store(path)
    try:
        assert store.get_run(run.id).state is RunState.RUNNING
    finally:
        store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT heartbeat_timeout FROM runs").fetchall() == [(None,)]


@pytest.mark.parametrize("value", ["inf", "1e300", "nan", "-5", "soon"])
def test_a_timeout_that_is_no_duration_counts_as_unset(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `inf` (meant as "never reap") raised OverflowError at the agent's first claim.
    from localsweep.agent._control import heartbeat_interval, heartbeat_timeout
    from localsweep.store import heartbeat_timeout as store_timeout

    monkeypatch.setenv(VARIABLE, value)
    assert store_timeout() == timedelta(seconds=120)
    assert heartbeat_timeout() == 120.0
    assert heartbeat_interval() == 30.0
