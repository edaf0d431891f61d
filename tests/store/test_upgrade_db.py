"""``localsweep db upgrade`` on what is not a localsweep database, and two upgrades at once
(on SQLite and on a real PostgreSQL server)."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event
from test_upgrade_counters import make_0003

from localsweep.errors import SchemaVersionError
from localsweep.store import Store, _migrate
from localsweep.store._engine import make_engine, resolve_url
from localsweep.store._models import SCHEMA_VERSION


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "localsweep", *args], capture_output=True,
                          text=True, timeout=180, check=False)  # fmt: skip


def test_upgrade_of_an_optuna_database_says_it_is_not_localsweep_s(tmp_path: Path) -> None:
    optuna = pytest.importorskip("optuna")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    path = tmp_path / "optuna.db"
    study = optuna.create_study(storage=f"sqlite:///{path}")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    proc = _cli("db", "upgrade", "--db", str(path))
    assert proc.returncode == 1, proc.stdout
    assert "is not a localsweep database" in proc.stderr
    assert "another program's" in proc.stderr
    assert "newer localsweep" not in proc.stderr


def test_upgrade_of_a_database_with_other_tables_says_it_had_no_localsweep_schema(
    tmp_path: Path,
) -> None:
    path = tmp_path / "foreign.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x)")
    proc = _cli("db", "upgrade", "--db", str(path))
    assert proc.returncode == 0, proc.stderr
    assert f"schema no localsweep schema -> {SCHEMA_VERSION}" in proc.stdout
    assert "empty" not in proc.stdout


def test_upgrade_of_localsweep_tables_without_a_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "db.db"
    Store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("DROP TABLE alembic_version")
    engine = make_engine(resolve_url(path))
    with pytest.raises(SchemaVersionError, match="has localsweep tables but no schema version"):
        _migrate.upgrade(engine)
    engine.dispose()


def _takes_a_lock(statement: str) -> bool:
    """A statement of an upgrade that waits for another upgrade's lock: SQLite's BEGIN
    IMMEDIATE, PostgreSQL's advisory lock, or (without them) the first schema change."""
    words = statement.lstrip().upper()
    return words.startswith(("BEGIN IMMEDIATE", "ALTER", "CREATE", "UPDATE", "INSERT")) or (
        "PG_ADVISORY" in words
    )


def test_a_second_upgrade_at_the_same_time_waits_then_finds_the_schema_current(
    url: str,
) -> None:
    Store(url).close()
    make_0003(url)
    first_engine, second_engine = make_engine(url), make_engine(url)
    first_commits, second_waits = threading.Event(), threading.Event()
    results: dict[str, Any] = {}

    # The first upgrade stops just before it commits until the second is at its lock (or,
    # before the fix, at its first change of the schema): the two overlap for sure.
    @event.listens_for(first_engine, "commit")
    def hold(_conn: Any) -> None:
        if not first_commits.is_set():
            first_commits.set()
            second_waits.wait(120)

    @event.listens_for(second_engine, "before_cursor_execute")
    def at_lock(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if _takes_a_lock(statement):
            second_waits.set()

    def run(name: str, engine: Engine) -> None:
        try:
            results[name] = tuple(_migrate.upgrade(engine))
        except Exception as exc:
            results[name] = exc

    first = threading.Thread(target=run, args=("first", first_engine))
    first.start()
    assert first_commits.wait(120)  # it holds the lock, its work done
    second = threading.Thread(target=run, args=("second", second_engine))
    second.start()
    first.join(180)
    second.join(180)
    first_engine.dispose()
    second_engine.dispose()
    assert results == {
        "first": ("0003", SCHEMA_VERSION),
        "second": (SCHEMA_VERSION, SCHEMA_VERSION),
    }
