"""What ``localsweep sync`` keeps in the store: one server sweep per local sweep and target,
each run's outcome, and the schema revision that adds them to an older database."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from localsweep.config import parse_config
from localsweep.store import AgentInfo, Store, _migrate
from localsweep.store import _sync_state as state
from localsweep.store._engine import make_engine, resolve_url
from localsweep.store._models import SCHEMA_VERSION

CONFIG = {"method": "grid", "parameters": {"x": {"values": [1, 2]}}}


def _sweep_with_a_run(store: Store) -> tuple[str, str]:
    sweep = store.create_sweep(parse_config(CONFIG))
    claim = store.claim_run(
        sweep.id, AgentInfo.current(), lambda _runs, _n: _proposal(), needs_runs=False
    )
    assert claim.run is not None
    return sweep.id, claim.run.id


def _proposal() -> object:
    from localsweep.records import Proposal

    return Proposal(params={("x",): 1})


def test_a_saved_target_is_found_again_and_never_duplicated(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.db")
    sweep_id, _run = _sweep_with_a_run(store)
    first = state.save_target(
        store.engine,
        sweep_id=sweep_id,
        base_url="https://api.wandb.ai",
        entity="team",
        project="p",
        server_sweep_id="abc12345",
    )
    # A second save for the same place keeps the first server sweep.
    again = state.save_target(
        store.engine,
        sweep_id=sweep_id,
        base_url="https://api.wandb.ai",
        entity="team",
        project="p",
        server_sweep_id="zzz99999",
    )

    assert again == first
    assert state.find_targets(store.engine, sweep_id) == [first]
    assert state.find_targets(store.engine, sweep_id, "https://other") == []
    store.close()


def test_run_outcomes_count_attempts_and_keep_the_last_outcome(tmp_path: Path) -> None:
    store = Store(tmp_path / "db.db")
    sweep_id, run_id = _sweep_with_a_run(store)
    target = state.save_target(
        store.engine,
        sweep_id=sweep_id,
        base_url="u",
        entity="e",
        project="p",
        server_sweep_id="s",
    )

    state.record_run_outcome(
        store.engine, target.id, run_id, "failed", message="404", attempted=True
    )
    state.record_run_outcome(store.engine, target.id, run_id, "synced", attempted=True)

    outcome = state.run_outcomes(store.engine, target.id)[run_id]
    assert (outcome.outcome, outcome.attempts, outcome.message) == ("synced", 2, None)
    state.set_target_path(store.engine, target.id, "prior_runs")
    state.mark_target_finished(store.engine, target.id)
    [saved] = state.find_targets(store.engine, sweep_id)
    assert (saved.path, saved.finished) == ("prior_runs", True)
    store.close()


def test_db_upgrade_adds_the_sync_tables_to_a_0003_database(tmp_path: Path) -> None:
    path = tmp_path / "db.db"
    Store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE sync_runs")
        conn.execute("DROP TABLE sync_targets")
        conn.execute("UPDATE alembic_version SET version_num = '0003'")

    engine = make_engine(resolve_url(path))
    assert _migrate.upgrade(engine) == ("0003", SCHEMA_VERSION)
    engine.dispose()

    store = Store(path)
    sweep_id, run_id = _sweep_with_a_run(store)
    target = state.save_target(
        store.engine,
        sweep_id=sweep_id,
        base_url="u",
        entity="e",
        project="p",
        server_sweep_id="s",
    )
    state.record_run_outcome(store.engine, target.id, run_id, "synced")
    assert state.run_outcomes(store.engine, target.id)[run_id].outcome == "synced"
    store.close()
