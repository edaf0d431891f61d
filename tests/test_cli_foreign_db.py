"""A ``--db`` that is not a whole localsweep database: another program's SQLite file, an
empty file, a database missing one of localsweep's tables, and ``--db ""`` (an unset
variable). Nothing is written to a file that is not localsweep's, and each case says what
it is. Every CLI test starts real ``localsweep`` processes."""

from __future__ import annotations

import hashlib
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import localsweep
from localsweep.errors import NotFoundError, SchemaVersionError, StoreError
from localsweep.store import Store

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
from cli_process import cli_at

GRID = "method: grid\nmetric: {name: loss}\nparameters:\n  x: {values: [1, 2]}\n"
CONFIG = {"method": "grid", "metric": {"name": "loss"}, "parameters": {"x": {"values": [1, 2]}}}

READ_COMMANDS = [
    ["ls"],
    ["show", "ls-nosuchid"],
    ["export", "ls-nosuchid"],
    ["report", "ls-nosuchid"],
    ["agent", "ls-nosuchid", "-f", "train:train"],
]


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "grid.yaml").write_text(GRID)
    return tmp_path


def _other_program(path: Path) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE foo (a)")
        conn.execute("INSERT INTO foo VALUES (1)")
    return path


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _failed(proc: subprocess.CompletedProcess[str], code: int) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr


# ------------------------------------------------------------ another program's file


@pytest.mark.parametrize("command", READ_COMMANDS, ids=lambda c: c[0])
def test_a_read_command_on_another_programs_sqlite_file_refuses_and_writes_nothing(
    work: Path, command: list[str]
) -> None:
    other = _other_program(work / "other.db")
    before, files = _digest(other), sorted(p.name for p in work.iterdir())
    proc = cli_at(work, *command, "--db", "other.db")
    _failed(proc, 1)
    assert "other.db is not a localsweep database (it has table foo" in proc.stderr
    assert _digest(other) == before
    assert sorted(p.name for p in work.iterdir()) == files  # no -wal, -shm, localsweep.db


def test_api_on_another_programs_sqlite_file_refuses_and_writes_nothing(work: Path) -> None:
    other = _other_program(work / "other.db")
    before = _digest(other)
    with pytest.raises(SchemaVersionError, match=r"not a localsweep database \(it has table foo"):
        localsweep.Api(other).sweeps()
    assert _digest(other) == before


def test_sweep_into_another_programs_sqlite_file_is_refused_with_the_fix(work: Path) -> None:
    other = _other_program(work / "other.db")
    before = _digest(other)
    proc = cli_at(work, "sweep", "grid.yaml", "--db", "other.db")
    _failed(proc, 1)
    assert "is not a localsweep database (it has table foo" in proc.stderr
    assert "give --db (or db=, LOCALSWEEP_DB) a new file" in proc.stderr
    assert f"localsweep db upgrade --db {other}" in proc.stderr
    assert "Creating sweep" not in proc.stdout
    assert _digest(other) == before
    with pytest.raises(SchemaVersionError, match="table foo"):
        localsweep.sweep(CONFIG, db=other)
    assert _digest(other) == before
    # The way out it names works: localsweep's tables beside foo, then the sweep.
    assert cli_at(work, "db", "upgrade", "--db", "other.db").returncode == 0
    assert cli_at(work, "sweep", "grid.yaml", "--db", "other.db").returncode == 0
    assert [s.id for s in localsweep.Api(other).sweeps()]


# ---------------------------------------------------------------------- empty file


@pytest.mark.parametrize("command", READ_COMMANDS, ids=lambda c: c[0])
def test_a_read_command_on_an_empty_file_says_no_database_is_there(
    work: Path, command: list[str]
) -> None:
    (work / "zero.db").touch()
    files = sorted(p.name for p in work.iterdir())
    proc = cli_at(work, *command, "--db", "zero.db")
    _failed(proc, 2)
    assert "no localsweep database at" in proc.stderr
    assert "zero.db (the file is empty)" in proc.stderr
    assert (work / "zero.db").stat().st_size == 0
    assert sorted(p.name for p in work.iterdir()) == files


def test_api_on_an_empty_file_says_no_database_is_there(work: Path) -> None:
    (work / "zero.db").touch()
    with pytest.raises(NotFoundError, match="no localsweep database"):
        localsweep.Api(work / "zero.db").sweeps()
    assert (work / "zero.db").stat().st_size == 0


def test_sweep_may_still_create_its_database_in_an_empty_file(work: Path) -> None:
    (work / "zero.db").touch()
    proc = cli_at(work, "sweep", "grid.yaml", "--db", "zero.db")
    assert proc.returncode == 0, proc.stderr
    assert [s.id for s in localsweep.Api(work / "zero.db").sweeps()] == [proc.stdout.strip()]


# ------------------------------------------------------------ a table of ours missing


def _without(work: Path, table: str) -> Path:
    path = work / "damaged.db"
    localsweep.sweep(CONFIG, db=path)
    with sqlite3.connect(path) as conn:
        conn.execute(f"DROP TABLE {table}")
    return path


def test_sweep_refuses_a_database_missing_its_runs_table_and_says_it_is_damaged(
    work: Path,
) -> None:
    path = _without(work, "runs")
    proc = cli_at(work, "sweep", "grid.yaml", "--db", "damaged.db")
    _failed(proc, 1)
    assert f"the database {path} is damaged: localsweep's table runs is missing" in proc.stderr
    assert "start a fresh database" in proc.stderr
    assert "Creating sweep" not in proc.stdout
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM sweeps").fetchone() == (1,)
    proc = cli_at(work, "ls", "--db", "damaged.db")
    _failed(proc, 1)
    assert "is damaged: localsweep's table runs is missing" in proc.stderr


def test_a_table_dropped_while_the_store_is_open_is_said_to_be_damage(work: Path) -> None:
    path = work / "db.db"
    localsweep.sweep(CONFIG, db=path)
    store = Store(path)
    try:
        with sqlite3.connect(path) as conn:
            conn.execute("DROP TABLE history")
        with pytest.raises(StoreError) as info:
            store.history("some-run")
    finally:
        store.close()
    assert "is damaged: localsweep's table history is missing" in str(info.value)


# --------------------------------------------------------------------------- --db ""


@pytest.mark.parametrize(
    "command",
    [
        ["sweep", "grid.yaml"],
        ["run", "grid.yaml", "-f", "train:train", "--count", "1"],
        ["ls"],
        ["agent", "ls-nosuchid"],
        ["sync", "ls-nosuchid", "--dry-run"],
        ["ui", "--port", "0"],
        ["slurm", "ls-nosuchid", "--agents", "1"],
        ["report", "ls-nosuchid"],
        ["export", "ls-nosuchid"],
    ],
    ids=lambda c: c[0],
)
def test_an_empty_db_is_refused_as_an_unset_variable(work: Path, command: list[str]) -> None:
    proc = cli_at(work, *command, "--db", "")
    _failed(proc, 2)
    assert "an empty --db names no database (an unset variable, most likely)" in proc.stderr
    assert not (work / "localsweep.db").exists()


def test_an_empty_localsweep_db_variable_means_the_default_file(work: Path) -> None:
    made = cli_at(work, "sweep", "grid.yaml", env={"LOCALSWEEP_DB": ""})
    assert made.returncode == 0, made.stderr
    assert (work / "localsweep.db").is_file()
    proc = cli_at(work, "ls", env={"LOCALSWEEP_DB": ""})
    assert proc.returncode == 0, proc.stderr
    assert made.stdout.strip() in proc.stdout
