"""A SQLite database shared on one machine by users who may only read it: a look at it
leaves nothing beside it that its owner's agents cannot write, and each refusal says whose
file it is and what to do.

A user without the right to write files they may not (root minus CAP_DAC_OVERRIDE, through
util-linux's ``setpriv``, when the tests run as root) runs the real CLI."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import localsweep

GRID = {"method": "grid", "metric": {"name": "loss"}, "parameters": {"x": {"values": [1, 2]}}}


def as_reader(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``localsweep ARGS`` as a user whom file modes bind."""
    command = [sys.executable, "-m", "localsweep", *args]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("util-linux's setpriv is needed to drop root's override of file modes")
        command = [setpriv, "--bounding-set=-dac_override,-dac_read_search", *command]
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def sides(db: Path) -> list[str]:
    return sorted(p.name for p in db.parent.iterdir() if p.name.startswith(db.name + "-"))


def test_a_user_who_may_only_read_the_database_leaves_nothing_beside_it(tmp_path: Path) -> None:
    # Before, SQLite made -wal and -shm files of the reader's own, which it never removed:
    # the owner's agents then failed with "attempt to write a readonly database".
    db = tmp_path / "sweeps.db"
    sweep_id = localsweep.sweep(GRID, db=str(db))
    assert sides(db) == []
    db.chmod(0o444)
    try:
        for args in (["ls"], ["show", sweep_id], ["export", sweep_id]):
            done = as_reader(*args, "--db", str(db), cwd=tmp_path)
            assert done.returncode == 0, done.stderr
            assert sweep_id in done.stdout + done.stderr, (done.stdout, done.stderr)
            assert sides(db) == [], args
        # A write is refused with whose file it is and the fix, and leaves nothing either.
        (tmp_path / "g.yaml").write_text("method: grid\nparameters:\n  x: {values: [1]}\n")
        done = as_reader("sweep", "g.yaml", "--db", str(db), cwd=tmp_path)
        assert done.returncode != 0, done.stdout
        said = " ".join(done.stderr.split())
        assert f"The file {db} is read-only to this user (owner " in said, said
        assert sides(db) == []
    finally:
        db.chmod(0o644)
    assert sides(db) == []
    localsweep.sweep(GRID, db=str(db))  # the owner writes on


def test_a_reader_sees_a_writers_runs_while_the_writer_is_at_work(tmp_path: Path) -> None:
    # With a writer at work (its -wal exists) the reader shares its log: the runs the
    # writer has not yet copied into the file are seen too.
    from localsweep.store import Store

    db = tmp_path / "sweeps.db"
    sweep_id = localsweep.sweep(GRID, db=str(db))
    writer = Store(str(db))  # keeps the database open: its -wal stays
    try:
        later = writer.create_sweep(writer.get_sweep(sweep_id).config).id
        assert "sweeps.db-wal" in sides(db)
        db.chmod(0o444)
        done = as_reader("ls", "--db", str(db), cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        assert sweep_id in done.stdout and later in done.stdout, done.stdout
    finally:
        db.chmod(0o644)
        writer.close()


def test_files_left_beside_the_database_by_another_user_are_named_with_the_fix(
    tmp_path: Path,
) -> None:
    import sqlite3

    db = tmp_path / "sweeps.db"
    localsweep.sweep(GRID, db=str(db))
    # What a reader with an older localsweep (or sqlite3 itself) leaves: -wal and -shm
    # that the next writer cannot write.
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    conn.execute("SELECT 1 FROM sweeps").fetchall()
    conn.close()
    shm = tmp_path / "sweeps.db-shm"
    shm.chmod(0o444)
    (tmp_path / "g.yaml").write_text(
        "method: grid\nparameters:\n  x: {values: [1]}\n", encoding="utf-8"
    )
    done = as_reader("sweep", "g.yaml", "--db", str(db), cwd=tmp_path)
    assert done.returncode != 0, done.stdout
    said = " ".join(done.stderr.split())
    assert f"{shm} cannot be written by this user (owner " in said, said
    assert f"delete it (rm {shm})" in said, said
    assert "Traceback" not in done.stderr


def test_a_database_the_user_cannot_read_is_named_as_such(tmp_path: Path) -> None:
    db = tmp_path / "sweeps.db"
    localsweep.sweep(GRID, db=str(db))
    db.chmod(0o000)
    try:
        done = as_reader("ls", "--db", str(db), cwd=tmp_path)
    finally:
        db.chmod(0o644)
    assert done.returncode != 0
    said = " ".join(done.stderr.split())
    assert f"This user cannot read the file {db} (owner " in said, said
    assert "mode 000" in said and "chmod g+rw sweeps.db" in said, said
    assert "chmod u+w" not in said  # the old advice, which only the owner could follow
