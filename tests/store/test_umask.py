"""A database made under ``umask 002`` (how a group shares files) is writable by the group,
as every other file the user makes: SQLite creates its files ``0644`` whatever the umask,
so the group's other agents found the sweep's database read-only. Its ``-wal`` and ``-shm``
files follow the database's mode."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

import pytest

MAKE = """
import os, sys
os.umask(int(sys.argv[2], 8))
from localsweep.store import Store
from localsweep.config import parse_config
store = Store(sys.argv[1])
config = parse_config({"method": "random", "parameters": {"x": {"min": 0.0, "max": 1.0}}})
store.create_sweep(config)
for name in ("", "-wal", "-shm"):
    print(oct(os.stat(sys.argv[1] + name).st_mode & 0o777))
store.close()
"""


@pytest.mark.parametrize(
    ("umask", "modes"),
    [("002", ["0o664"] * 3), ("022", ["0o644"] * 3), ("077", ["0o600"] * 3)],
)
def test_a_new_database_takes_the_users_umask(tmp_path: Path, umask: str, modes: list[str]) -> None:
    made = subprocess.run(
        [sys.executable, "-c", MAKE, str(tmp_path / "s.db"), umask],
        capture_output=True,
        text=True,
        check=True,
    )
    assert made.stdout.split() == modes


def test_an_existing_database_keeps_its_mode(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    subprocess.run([sys.executable, "-c", MAKE, str(db), "022"], capture_output=True, check=True)
    db.chmod(0o640)
    subprocess.run([sys.executable, "-c", MAKE, str(db), "000"], capture_output=True, check=True)
    assert stat.S_IMODE(db.stat().st_mode) == 0o640
