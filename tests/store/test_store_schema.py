"""Schema versions: a new database is stamped; one of another version is refused, saying
what to do; ``upgrade`` brings an empty database to the current schema."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import pytest

from localsweep.config import parse_config
from localsweep.errors import SchemaVersionError, StoreError
from localsweep.records import Proposal, RunState
from localsweep.store import AgentInfo, ClaimOutcome, Store, _migrate
from localsweep.store._engine import make_engine, resolve_url
from localsweep.store._models import SCHEMA_VERSION


def _stamp(path: Path, version: str) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = ?", (version,))


def test_a_new_database_gets_the_current_schema_version(tmp_path: Path) -> None:
    Store(tmp_path / "new.db").close()
    with sqlite3.connect(tmp_path / "new.db") as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (SCHEMA_VERSION,)
        ]


def test_a_database_of_the_current_version_opens(tmp_path: Path) -> None:
    Store(tmp_path / "db.db").close()
    Store(tmp_path / "db.db").close()


def test_a_database_from_a_newer_localsweep_says_to_upgrade_localsweep(tmp_path: Path) -> None:
    Store(tmp_path / "db.db").close()
    _stamp(tmp_path / "db.db", "9999")
    with pytest.raises(SchemaVersionError) as info:
        Store(tmp_path / "db.db")
    message = str(info.value)
    assert "9999" in message
    assert "Upgrade localsweep" in message
    assert "pip install -U localsweep" in message


def _make_0001_database(path: Path) -> None:
    """A database as localsweep wrote it at schema 0001 (before runs had stop requests)."""
    Store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE runs DROP COLUMN stop_requested_band")
    _stamp(path, "0001")


def test_a_database_from_an_older_localsweep_says_to_run_db_upgrade(tmp_path: Path) -> None:
    _make_0001_database(tmp_path / "db.db")
    with pytest.raises(SchemaVersionError) as info:
        Store(tmp_path / "db.db")
    message = str(info.value)
    assert "schema version 0001" in message
    assert "localsweep db upgrade" in message
    assert str(tmp_path / "db.db") in message


def test_db_upgrade_brings_a_0001_database_to_the_current_schema(tmp_path: Path) -> None:
    path = tmp_path / "db.db"
    _make_0001_database(path)
    engine = make_engine(resolve_url(path))
    assert _migrate.upgrade(engine) == ("0001", SCHEMA_VERSION)
    engine.dispose()
    store = Store(path)
    sweep = store.create_sweep(
        parse_config({"method": "random", "parameters": {"x": {"values": [1]}}})
    )
    assert store.get_sweep(sweep.id).id == sweep.id
    store.close()
    with sqlite3.connect(path) as conn:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(runs)")}
    assert "stop_requested_band" in columns


def test_db_upgrade_of_a_0003_database_keeps_its_runs_counting_once(tmp_path: Path) -> None:
    # Schema 0004 adds leases and run counters on sweeps; they are computed from the runs.
    path = tmp_path / "db.db"
    store = Store(path)
    config = parse_config(
        {"method": "random", "run_cap": 3, "parameters": {"x": {"min": 0.0, "max": 1.0}}}
    )
    sweep = store.create_sweep(config)
    agent = AgentInfo.current()
    claims = [
        store.claim_run(sweep.id, agent, lambda _runs, _n: Proposal({("x",): 0.5}))
        for _ in range(3)
    ]
    runs = [c.run for c in claims if c.run is not None]
    store.finish_run(runs[0], RunState.FINISHED, metric=1.0)
    store.finish_run(runs[1], RunState.KILLED)
    store.close()
    with sqlite3.connect(path) as conn:
        # SQLite cannot drop a column of a UNIQUE constraint: rebuild history as it was.
        conn.executescript(
            "CREATE TABLE old_history AS SELECT id, run_id, step, data_json, metric, "
            "has_metric FROM history; DROP TABLE history; "
            "ALTER TABLE old_history RENAME TO history; "
            "CREATE INDEX ix_history_run_step ON history (run_id, step);"
        )
        for table, column in [
            ("runs", "lease"),
            ("runs", "attempt"),
            ("runs", "history_seq"),
            ("runs", "history_batch"),
            ("sweeps", "live_count"),
            ("sweeps", "running_count"),
        ]:
            conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    _stamp(path, "0003")
    engine = make_engine(resolve_url(path))
    # force: the running run's agent is this process, alive (test_upgrade_counters.py).
    assert _migrate.upgrade(engine, force=True) == ("0003", SCHEMA_VERSION)
    engine.dispose()

    store = Store(path)
    # The run still running from before the upgrade (no lease) can still end.
    still_running = store.get_run(runs[2].id)
    assert still_running.lease is None
    store.finish_run(still_running, RunState.FINISHED, metric=0.5)
    # run_cap 3: the finished runs count, the killed one does not: one more run, then none.
    assert store.claim_run(sweep.id, agent, lambda _r, _n: Proposal({("x",): 0.1})).run
    capped = store.claim_run(sweep.id, agent, lambda _r, _n: Proposal({("x",): 0.1}))
    assert capped.outcome is ClaimOutcome.RUN_CAP
    store.close()


def test_a_database_with_our_tables_but_no_version_is_refused(tmp_path: Path) -> None:
    Store(tmp_path / "db.db").close()
    with sqlite3.connect(tmp_path / "db.db") as conn:
        conn.execute("DROP TABLE alembic_version")
    with pytest.raises(SchemaVersionError, match="no schema version"):
        Store(tmp_path / "db.db")


def test_a_file_that_is_not_a_database_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "notes.db").write_text("these are my notes, not a database\n" * 200)
    with pytest.raises(StoreError, match="cannot open the database"):
        Store(tmp_path / "notes.db")


def test_a_file_made_read_only_says_what_could_not_be_written(tmp_path: Path) -> None:
    # As when an admin freezes the file mid-sweep: the store opened it fine before, so the
    # message names the write that failed and the fix, not "cannot open". `chattr +i` holds
    # for root too, where chmod does not (the tests may run as root).
    path = tmp_path / "db.db"
    config = parse_config({"method": "random", "metric": {"name": "x"},
                           "parameters": {"x": {"min": 0.0, "max": 1.0}}})  # fmt: skip
    Store(path).create_sweep(config)
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not available here (not root, or the file system lacks it)")
    try:
        with pytest.raises(StoreError) as caught:
            Store(path).create_sweep(config)
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)
    message = str(caught.value)
    assert message.startswith("could not create a sweep in the database"), message
    assert "readonly" in message and "make it writable" in message


def test_upgrade_creates_the_schema_in_an_empty_database(tmp_path: Path) -> None:
    engine = make_engine(resolve_url(tmp_path / "empty.db"))
    assert _migrate.upgrade(engine) == (None, SCHEMA_VERSION)
    assert _migrate.current_version(engine) == SCHEMA_VERSION
    engine.dispose()
    store = Store(tmp_path / "empty.db")
    assert store.list_sweeps() == []
    store.close()


def test_upgrade_leaves_a_current_database_as_it_is(tmp_path: Path) -> None:
    Store(tmp_path / "db.db").close()
    engine = make_engine(resolve_url(tmp_path / "db.db"))
    assert _migrate.upgrade(engine) == (SCHEMA_VERSION, SCHEMA_VERSION)
    engine.dispose()
