"""Python 3.10's sqlite3 errors carry no result code, so the store reads the code from
SQLite's text: each failure it explains (read-only, locked, full, not a database, cannot
open) must be told apart from the text alone, as from the code on Python 3.11+."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from localsweep.store import _session
from localsweep.store._session import _code_from_message


def _database(path: Path) -> Path:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (x)")
    return path


def _read_only(tmp_path: Path) -> None:
    # The same error as a file made read-only (chattr +i) or a read-only folder without WAL.
    conn = sqlite3.connect(f"file:{_database(tmp_path / 'db.db')}?mode=ro", uri=True)
    conn.execute("INSERT INTO t VALUES (1)")


def _locked(tmp_path: Path) -> None:
    path = _database(tmp_path / "db.db")
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        sqlite3.connect(path, timeout=0).execute("INSERT INTO t VALUES (1)")
    finally:
        holder.close()


def _full(tmp_path: Path) -> None:
    conn = sqlite3.connect(_database(tmp_path / "db.db"))
    conn.execute("PRAGMA max_page_count = 3")
    conn.execute("INSERT INTO t VALUES (zeroblob(100000))")


def _not_a_database(tmp_path: Path) -> None:
    (tmp_path / "notes.db").write_text("these are my notes\n" * 200)
    sqlite3.connect(tmp_path / "notes.db").execute("SELECT * FROM sqlite_master")


def _cannot_open(tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / "no such folder" / "db.db")


@pytest.mark.parametrize(
    ("fail", "code"),
    [
        (_read_only, _session._SQLITE_READONLY),
        (_locked, _session._SQLITE_BUSY),
        (_full, _session._SQLITE_FULL),
        (_not_a_database, _session._SQLITE_NOTADB),
        (_cannot_open, _session._SQLITE_CANTOPEN),
    ],
    ids=["read-only", "locked", "full", "not-a-database", "cannot-open"],
)
def test_the_result_code_is_read_from_sqlites_text_as_python_311_gives_it(
    tmp_path: Path, fail: Callable[[Path], None], code: int
) -> None:
    with pytest.raises(sqlite3.Error) as caught:
        fail(tmp_path)
    if sys.version_info >= (3, 11):  # the code SQLite gave: the text must say the same
        assert caught.value.sqlite_errorcode & 0xFF == code
    assert _code_from_message(str(caught.value)) == code, str(caught.value)
