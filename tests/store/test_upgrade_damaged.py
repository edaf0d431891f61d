"""``localsweep db upgrade`` on a database with one of localsweep's tables dropped says what
every other command says (damaged, the way out) and exits 1: not a bare "no such table",
nor "schema 0009 -> 0009" with exit 0 on a database the other commands then refuse."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import localsweep

CONFIG = {"method": "grid", "metric": {"name": "loss"}, "parameters": {"x": {"values": [1, 2]}}}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "localsweep", *args], capture_output=True,
                          text=True, timeout=180, check=False)  # fmt: skip


@pytest.mark.parametrize("table", ["runs", "sync_runs"])
def test_upgrade_of_a_database_missing_a_table_says_it_is_damaged(
    table: str, tmp_path: Path
) -> None:
    path = tmp_path / "sweeps.db"
    localsweep.sweep(CONFIG, db=str(path))
    with sqlite3.connect(path) as conn:
        conn.execute(f"DROP TABLE {table}")
    said = f"the database {path} is damaged: localsweep's table {table} is missing"
    refused = _cli("ls", "--db", str(path))
    assert refused.returncode == 1
    assert said in refused.stderr
    for force in ([], ["--force"]):
        proc = _cli("db", "upgrade", "--db", str(path), *force)
        assert proc.returncode == 1, proc.stdout
        assert said in proc.stderr
        assert "Restore it from a backup" in proc.stderr
        assert "no such table" not in proc.stderr
        assert "->" not in proc.stdout
    with sqlite3.connect(path) as conn:  # nothing was added back or changed
        names = {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert table not in names
