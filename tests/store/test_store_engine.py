"""Where the database is, and how SQLite connections are set up for many agents."""

from __future__ import annotations

from pathlib import Path

import pytest

from localsweep.config import parse_config
from localsweep.store import DEFAULT_DB_FILENAME, Store, resolve_url

CONFIG = parse_config({"method": "grid", "parameters": {"x": {"values": [1, 2]}}})


def test_without_db_or_env_the_database_is_localsweep_db_in_the_working_directory(
    tmp_path: Path,
) -> None:
    assert DEFAULT_DB_FILENAME == "localsweep.db"
    store = Store()
    store.create_sweep(CONFIG)
    store.close()
    assert store.url == f"sqlite:///{tmp_path / 'localsweep.db'}"
    assert (tmp_path / "localsweep.db").is_file()


def test_localsweep_db_names_the_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCALSWEEP_DB", str(tmp_path / "from-env.db"))
    assert resolve_url() == f"sqlite:///{tmp_path / 'from-env.db'}"


def test_an_explicit_db_wins_over_localsweep_db(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCALSWEEP_DB", str(tmp_path / "from-env.db"))
    assert resolve_url(tmp_path / "explicit.db") == f"sqlite:///{tmp_path / 'explicit.db'}"


def test_a_relative_path_is_a_sqlite_file_relative_to_the_working_directory(
    tmp_path: Path,
) -> None:
    assert resolve_url("sub/sweeps.db") == f"sqlite:///{tmp_path / 'sub' / 'sweeps.db'}"


def test_a_url_is_kept_as_given() -> None:
    url = "postgresql+psycopg://user@db.example:5432/sweeps"
    assert resolve_url(url) == url


def test_a_missing_parent_directory_is_created(tmp_path: Path) -> None:
    store = Store(tmp_path / "a" / "b" / "sweeps.db")
    store.close()
    assert (tmp_path / "a" / "b" / "sweeps.db").is_file()


@pytest.mark.parametrize("db", [":memory:", "sqlite:///:memory:"])
def test_an_in_memory_database_keeps_what_is_written(db: str, tmp_path: Path) -> None:
    store = Store(db)
    sweep = store.create_sweep(CONFIG)
    assert store.get_sweep(sweep.id).id == sweep.id
    store.close()
    # ":memory:" is not a file name.
    assert list(tmp_path.iterdir()) == []


def test_an_in_memory_database_takes_threads_one_transaction_at_a_time() -> None:
    # The agent's heartbeat thread polls the sweep while the main thread records a run or
    # asks the GP for a proposal; ":memory:" is a single connection they share, and two
    # transactions on it at once failed ("cannot start a transaction within a transaction").
    import threading

    store = Store(":memory:")
    sweep = store.create_sweep(CONFIG)
    errors: list[BaseException] = []

    def hammer() -> None:
        try:
            for _ in range(300):
                store.get_sweep(sweep.id)
                store.list_runs(sweep.id)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    store.close()
    assert errors == []


def test_a_bayes_sweep_runs_to_its_cap_in_an_in_memory_database() -> None:
    import localsweep

    config = {
        "method": "bayes",
        "metric": {"name": "loss"},
        "run_cap": 14,
        "parameters": {f"p{i}": {"min": 0.0, "max": 1.0} for i in range(4)},
    }
    sweep = localsweep.run(
        config,
        lambda c: sum((v - 0.3) ** 2 for v in c.values()),
        count=None,
        quiet=True,
        db=":memory:",
    )
    assert len(sweep.runs) == 14
    assert all(run.state == "finished" for run in sweep.runs)


def test_sqlite_connections_use_wal_and_a_busy_timeout(tmp_path: Path) -> None:
    store = Store(tmp_path / "sweeps.db")
    with store._session.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    store.close()


def test_the_file_stays_in_wal_mode_for_other_programs(tmp_path: Path) -> None:
    import sqlite3

    store = Store(tmp_path / "sweeps.db")
    store.create_sweep(CONFIG)
    store.close()
    with sqlite3.connect(tmp_path / "sweeps.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
