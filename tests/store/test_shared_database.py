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
import time
from pathlib import Path

import pytest

import localsweep

#: Root without the capabilities that let it write, read or take over others' files.
READER_CAPS = "--bounding-set=-dac_override,-dac_read_search,-chown,-fowner"

GRID = {"method": "grid", "metric": {"name": "loss"}, "parameters": {"x": {"values": [1, 2]}}}


def as_reader(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``localsweep ARGS`` as a user whom file modes bind."""
    command = [sys.executable, "-m", "localsweep", *args]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("util-linux's setpriv is needed to drop root's override of file modes")
        command = [setpriv, READER_CAPS, *command]
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

    # In a sticky folder (a shared /tmp-like one) only their owner or root can delete them.
    for side in (tmp_path / "sweeps.db-wal", shm):
        os.chown(side, 65534, 65534)
    tmp_path.chmod(0o1777)
    try:
        done = as_reader("sweep", "g.yaml", "--db", str(db), cwd=tmp_path)
    finally:
        tmp_path.chmod(0o755)
    said = " ".join(done.stderr.split())
    assert "(their owner) or root must delete" in said and "the folder is sticky" in said, said


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
    assert "mode 000" in said and "chmod g+r sweeps.db;" in said, said  # its group is ours
    assert "chmod u+w" not in said  # the old advice, which only the owner could follow


def test_a_reader_that_meets_the_writer_closing_leaves_nothing_beside_it(tmp_path: Path) -> None:
    # The race a busy reader (`localsweep ui`) met: the writer's -wal is there when the
    # reader looks, gone (the writer closed) when it opens, and SQLite makes files of the
    # reader's own. They are removed again and the file read as it is. The reader waits
    # between its look and its open until the writer has closed.
    import sqlite3

    db = tmp_path / "sweeps.db"
    localsweep.sweep(GRID, db=str(db))
    writer = sqlite3.connect(db)
    writer.execute("SELECT count(*) FROM sweeps").fetchall()
    assert sides(db) == ["sweeps.db-shm", "sweeps.db-wal"]
    looked, closed = tmp_path / "looked", tmp_path / "closed"
    script = (
        "import os, sys, time\n"
        "from pathlib import Path\n"
        "from localsweep.store import _damage\n"
        "db, looked, closed = map(Path, sys.argv[1:])\n"
        "look = _damage._identity\n"
        "def look_then_wait(path):\n"
        "    seen = look(path)\n"
        "    looked.touch()\n"
        "    while not closed.exists():\n"
        "        time.sleep(0.01)\n"
        "    return seen\n"
        "_damage._identity = look_then_wait\n"
        "conn = _damage.read_only_connection(db)\n"
        "print(conn.execute('SELECT count(*) FROM sweeps').fetchone()[0])\n"
        "print(sorted(p.name for p in db.parent.iterdir() if p.name.startswith('sweeps.db-')))\n"
        "conn.close()\n"
    )
    command = [sys.executable, "-c", script, str(db), str(looked), str(closed)]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("util-linux's setpriv is needed to drop root's override of file modes")
        command = [setpriv, READER_CAPS, *command]
    db.chmod(0o444)
    try:
        reader = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            while not looked.exists() and reader.poll() is None:
                time.sleep(0.01)
            writer.close()  # its last connection: SQLite removes its -wal and -shm
            closed.touch()
            out, err = reader.communicate(timeout=120)
        finally:
            reader.kill()
    finally:
        db.chmod(0o644)
    assert reader.returncode == 0, err
    assert out.split("\n", 1) == ["1", "[]\n"], (out, err)
    assert sides(db) == []


def test_a_readers_apis_hold_no_file_open_while_a_writer_is_at_work(tmp_path: Path) -> None:
    # A dashboard polling with a new localsweep.Api(db) each time: each used to keep the
    # database open, until the process ran out of files.
    from localsweep.store import Store

    db = tmp_path / "sweeps.db"
    sweep_id = localsweep.sweep(GRID, db=str(db))
    writer = Store(str(db))
    try:
        writer.get_sweep(sweep_id)
        assert "sweeps.db-wal" in sides(db)
        db.chmod(0o444)
        script = (
            "import os, sys, localsweep\n"
            "db, sweep_id = sys.argv[1:]\n"
            "for _ in range(50):\n"
            "    assert localsweep.Api(db).sweep(sweep_id).id == sweep_id\n"
            "held = 0\n"
            "for fd in os.listdir('/proc/self/fd'):\n"
            "    try:\n"
            "        held += os.readlink(f'/proc/self/fd/{fd}').startswith(db)\n"
            "    except OSError:\n"
            "        pass  # the listing's own descriptor, closed\n"
            "print(held)\n"
        )
        command = [sys.executable, "-c", script, str(db), sweep_id]
        if os.geteuid() == 0:
            setpriv = shutil.which("setpriv")
            if setpriv is None:
                pytest.skip("util-linux's setpriv is needed to drop root's override")
            command = [setpriv, READER_CAPS, *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    finally:
        db.chmod(0o644)
        writer.close()
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == 0, done.stdout


def test_a_process_out_of_files_is_told_so_not_that_the_file_is_read_only(
    tmp_path: Path,
) -> None:
    db = tmp_path / "sweeps.db"
    localsweep.sweep(GRID, db=str(db))
    db.chmod(0o444)
    script = (
        "import os, resource, sys, localsweep\n"
        "from localsweep.errors import StoreError\n"
        "localsweep.Api(sys.argv[1]).sweeps()  # every module it needs, imported\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))\n"
        "held = []\n"
        "try:\n"
        "    while True:\n"
        "        held.append(os.open(os.devnull, os.O_RDONLY))\n"
        "except OSError:\n"
        "    pass\n"
        "try:\n"
        "    localsweep.Api(sys.argv[1]).sweeps()\n"
        "except StoreError as exc:\n"
        "    print(exc)\n"
    )
    command = [sys.executable, "-c", script, str(db)]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("util-linux's setpriv is needed to drop root's override")
        command = [setpriv, READER_CAPS, *command]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    finally:
        db.chmod(0o644)
    said = " ".join(done.stdout.split())
    assert "This process has too many open files" in said, (done.stdout, done.stderr)
    assert "read-only" not in said
