"""What a file that is not (or no longer) a whole localsweep database says: damaged, missing
tables, another program's tables, an I/O error's likely cause, and a look at a SQLite file's
tables that writes nothing."""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import stat
from collections.abc import Iterable
from pathlib import Path

from localsweep._shell import shell_quote
from localsweep.errors import NotFoundError, SchemaVersionError
from localsweep.store._models import Base

__all__ = [
    "CHECK_DB_SETTING",
    "check_sqlite_file",
    "damaged_message",
    "foreign_file_error",
    "io_error_hint",
    "is_localsweep_schema",
    "missing_tables_message",
    "named_tables",
    "read_only_connection",
    "read_only_hint",
    "sqlite_head",
    "sqlite_tables",
]

#: How a message about the store's own database says where it came from; a prior-runs
#: source (``-R DB#ID``) names its database itself, and replaces this.
CHECK_DB_SETTING = "check --db, db= or LOCALSWEEP_DB"

#: Tables SQLite keeps for itself (``sqlite_sequence``, ``sqlite_stat1``...): no program's own.
_SQLITE_INTERNAL = "sqlite_"


def damaged_message(where: str, detail: str) -> str:
    """What to say about a damaged SQLite file, with the two ways to repair it."""
    detail = " ".join(detail.replace("*** in database main ***", "").split())
    return (
        f"the database file {where} is damaged ({detail}); localsweep will not write to it. "
        f"Repair it with `sqlite3 {where} .recover | sqlite3 recovered.db` and use "
        "recovered.db, or start a fresh database file (--db / LOCALSWEEP_DB) after copying "
        f"out what you need (`sqlite3 {where} .dump`)"
    )


def missing_tables_message(where: str, missing: Iterable[str], *, sqlite: bool) -> str:
    """What to say about a localsweep database some of whose tables are gone (dropped, or a
    partial copy): every command would fail on them one by one with "no such table", and a
    sweep created there could never run. ``.recover`` does not bring a dropped table back,
    so the way out is a backup or a fresh database."""
    copy_out = f" (`sqlite3 {where} .dump`)" if sqlite else ""
    return (
        f"the database {where} is damaged: localsweep's {named_tables(missing, verb=True)} "
        "missing (dropped, or a partial copy of the file); localsweep will not use it. "
        "Restore it from a backup, or start a fresh database (--db / LOCALSWEEP_DB) after "
        f"copying out what you need{copy_out}"
    )


def named_tables(tables: Iterable[str], *, verb: bool = False) -> str:
    """``table foo`` or ``tables foo, bar`` (at most eight names), with ``is``/``are`` after
    them when ``verb``."""
    names = sorted(tables)
    shown = ", ".join(names[:8]) + (f" and {len(names) - 8} more" if len(names) > 8 else "")
    said = f"table {shown}" if len(names) == 1 else f"tables {shown}"
    if verb:
        said += " is" if len(names) == 1 else " are"
    return said


#: The first 16 bytes of every SQLite database file.
SQLITE_HEADER = b"SQLite format 3\x00"


def sqlite_head(path: Path) -> bool | None:
    """Whether the file at ``path`` begins as a SQLite database does; an empty file is
    ``False``. ``None`` when it cannot be read (missing, a folder, not allowed)."""
    try:
        with path.open("rb") as f:
            return f.read(16) == SQLITE_HEADER
    except OSError:
        return None


def sqlite_tables(path: Path) -> list[str] | None:
    """The tables of the SQLite file at ``path`` (SQLite's own left out), read without
    writing anything: an empty file stays empty (the store's engine would stamp WAL mode
    into it on connecting). ``None`` when the file cannot be read so (not SQLite, locked,
    unreadable): opening it for real then says why."""
    try:
        conn = read_only_connection(path.resolve(), timeout=1.0)
    except sqlite3.Error:
        return None
    with contextlib.closing(conn):
        try:
            rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
        except sqlite3.Error:
            return None
    return [str(name) for (name,) in rows if not str(name).startswith(_SQLITE_INTERNAL)]


def read_only_connection(path: Path, timeout: float = 60.0) -> sqlite3.Connection:
    """A connection that reads the SQLite file at ``path`` and leaves nothing beside it:
    shared with a writer at work (its ``-wal`` and ``-shm`` exist), else immutable. Opened
    read-only in WAL mode with no writer, SQLite makes ``-wal`` and ``-shm`` files and,
    read-only, never removes them: files of this user's, which the database's owner cannot
    write when this user may only read it. The writer may close (and remove its files)
    between the look and the open: files then made anew by this connection are removed
    again (a read-only connection writes nothing into them), and the file is read
    immutable. A write through it says the file is read-only."""
    wal, shm = _wal_and_shm(path)
    seen = _identity(wal)
    if seen is not None:
        conn = sqlite3.connect(
            f"{path.as_uri()}?mode=ro", uri=True, check_same_thread=False, timeout=timeout
        )
        try:
            conn.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()  # opens -wal/-shm
        except sqlite3.Error:
            conn.close()
            raise
        # Only a user who cannot write the database can have made them so: a writer's
        # own files are never taken for a reader's (root's SQLite changes their owner and
        # time as it opens them, a writer's too).
        if os.access(path, os.W_OK) or not _made_anew(wal, shm, seen):
            return conn
        conn.close()
        for side in (wal, shm):
            with contextlib.suppress(OSError):
                side.unlink()
    uri = f"{path.as_uri()}?mode=ro&immutable=1"
    return sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=timeout)


def _wal_and_shm(path: Path) -> tuple[Path, Path]:
    """The ``-wal`` and ``-shm`` files SQLite's WAL mode keeps beside the database ``path``."""
    return path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")


def _identity(path: Path) -> tuple[int, int] | None:
    """The file at ``path`` as one file, not another of its name: inode and change time."""
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_ino, info.st_ctime_ns


def _made_anew(wal: Path, shm: Path, seen: tuple[int, int]) -> bool:
    """Whether ``wal`` is no longer the writer's file seen before opening (``seen``) but an
    empty one of this user's, made with ``shm`` by the read-only connection: the writer
    closed in between and removed its own. A writer's file that stayed is never taken."""
    try:
        info = wal.stat()
        shm_uid = shm.stat().st_uid
    except OSError:
        return False
    mine = os.geteuid()
    return (
        (info.st_ino, info.st_ctime_ns) != seen
        and info.st_size == 0
        and info.st_uid == mine
        and shm_uid == mine
    )


def holds_localsweep_tables(path: Path) -> bool:
    """Whether the SQLite file at ``path`` is a localsweep database
    (:func:`is_localsweep_schema`), read without writing anything."""
    tables = sqlite_tables(path) if path.is_file() else None
    return tables is not None and is_localsweep_schema(tables)


def is_localsweep_schema(tables: Iterable[str]) -> bool:
    """Whether a database with these tables is localsweep's: its ``sweeps`` and ``runs``
    are there (a table named ``runs`` alone, as MLflow's database has, is not enough)."""
    return {"sweeps", "runs"} <= set(tables)


def check_sqlite_file(path: Path, *, create: bool) -> None:
    """Refuse, before the store's engine touches it, a SQLite file that holds only another
    program's tables, and (unless ``create``) one with no tables at all (an empty file): the
    engine's first connection alone switches the file to WAL mode, and opening it as a store
    would add localsweep's schema to it. A file with tables of localsweep's, whole or not,
    or one that cannot be read here, is the store's to judge."""
    tables = sqlite_tables(path)
    if tables is None or "alembic_version" in tables or set(tables) & set(Base.metadata.tables):
        return
    if tables:
        raise foreign_file_error(path, tables, create=create)
    if not create:
        empty = "the file is empty" if path.stat().st_size == 0 else "the file has no tables"
        raise NotFoundError(f"no localsweep database at {path} ({empty}): {CHECK_DB_SETTING}")


def foreign_file_error(
    path: str | Path, tables: Iterable[str], *, create: bool
) -> SchemaVersionError:
    """A SQLite file of another program (a mistyped ``--db``, most likely): localsweep's
    tables go into it only on purpose, by ``localsweep db upgrade``."""
    said = f"{path} is not a localsweep database (it has {named_tables(tables)}, another program's)"
    if not create:
        return SchemaVersionError(f"{said}: {CHECK_DB_SETTING}")
    return SchemaVersionError(
        f"{said}: give --db (or db=, LOCALSWEEP_DB) a new file. To keep localsweep's tables "
        f"beside them in this file on purpose, run `localsweep db upgrade --db "
        f"{shell_quote(str(path))}` first"
    )


def io_error_hint(path: Path | None) -> str:
    """What to do about SQLite's I/O error on the file at ``path``: a write-ahead log
    deleted under open connections (a cleanup of ``*-wal`` files, say) and a file-size
    limit are the causes seen that are no disk fault."""
    if path is None or not path.exists():
        return ""
    wal, shm = _wal_and_shm(path)
    # Deleted, or made anew (empty) by a later connection while the -shm index still
    # describes the old one's frames.
    gone = not wal.exists() or (wal.stat().st_size == 0 and shm.exists())
    if gone:
        return (
            f". Its write-ahead log {wal} is gone (deleted while agents had the database "
            "open): stop every agent and command using this database, start them again "
            "(SQLite makes a new log), and check the sweep with `localsweep show`"
        )
    limit = _file_size_limit()
    if limit is not None:
        # A write past the limit fails as SQLite's I/O error too (Python ignores SIGXFSZ):
        # a job script's or scheduler's `ulimit -f`, not the disk.
        return (
            f"; this process may write files of at most {limit} bytes (`ulimit -f`): "
            "raise that limit, else check the disk (`dmesg`), then try again"
        )
    return "; check the disk (`dmesg`), then try again"


def _file_size_limit() -> int | None:
    """The largest file this process may write, in bytes, when a limit is set."""
    try:
        import resource

        soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    except (ImportError, OSError, ValueError):  # not on every platform
        return None
    return None if soft == resource.RLIM_INFINITY else soft


def read_only_hint(path: Path) -> str:
    """Why SQLite cannot open or write the database at ``path``, and the fix: this process
    out of open files, its folder or file read-only to this user (SQLite's WAL mode writes
    ``-wal`` and ``-shm`` files beside the database), the file unreadable to them, or those
    files left by another user who could only read it."""
    try:
        os.close(os.open(path, os.O_RDONLY))
    except OSError as exc:
        if exc.errno in (errno.EMFILE, errno.ENFILE):
            return (
                f". This process has too many open files ({exc.strerror}; `ulimit -n` "
                "raises the limit): an Api made again and again keeps none open, so look "
                "for what else holds files"
            )
    folder = path.parent
    if folder.is_dir() and not os.access(folder, os.W_OK):
        return (
            f". The folder {folder} is read-only, and SQLite must write its "
            f"{path.name}-wal and -shm files beside the database to change it: "
            "copy the database to a writable folder and pass that path with --db"
        )
    if not path.is_file():
        return ""
    if not os.access(path, os.R_OK):
        info = path.stat()
        group = (
            f"chmod g+r {path.name}"
            if info.st_gid in os.getgroups() or info.st_gid == os.getegid()
            else f"chgrp GROUP {path.name} and chmod g+r {path.name}, GROUP one of this user's"
        )
        return (
            f". This user cannot read the file {path} ({_owner_and_mode(path)}): its owner "
            f"can let the group read it ({group}; g+rw to run agents on it too)"
        )
    if not os.access(path, os.W_OK):
        mine = path.stat().st_uid == os.geteuid()
        fix = (
            "make it writable (chmod u+w)"
            if mine
            else f"its owner can let the group write it (chmod g+w {path.name})"
        )
        return (
            f". The file {path} is read-only to this user ({_owner_and_mode(path)}): {fix}, "
            "or copy it to a writable folder and pass that path with --db"
        )
    stuck = [side for side in _wal_and_shm(path) if side.exists() and not os.access(side, os.W_OK)]
    if not stuck:
        return ""
    names = " and ".join(str(side) for side in stuck)
    owner = _owner(stuck[0].stat().st_uid)
    them = "them" if len(stuck) > 1 else "it"
    remove = f"rm {' '.join(map(str, stuck))}"
    sticky = folder.stat().st_mode & stat.S_ISVTX and stuck[0].stat().st_uid != os.geteuid()
    action = (
        f"{owner} (their owner) or root must delete {them} ({remove}; the folder is sticky)"
        if sticky
        else f"delete {them} ({remove})"
    )
    return (
        f". {names} cannot be written by this user ({_owner_and_mode(stuck[0])}): most "
        f"likely left by a process of {owner}'s that could only read the database. Once no "
        f"process has the database open (ask {owner} to close any localsweep ui, notebook "
        f"or sqlite3 on it), {action}; to share a database, give it and its folder group "
        "write access (chmod g+w on both; a database made under umask 002 has it)"
    )


def _owner(uid: int) -> str:
    try:
        import pwd

        return pwd.getpwuid(uid).pw_name
    except (ImportError, KeyError):
        return str(uid)


def _owner_and_mode(path: Path) -> str:
    info = path.stat()
    return f"owner {_owner(info.st_uid)}, mode {stat.S_IMODE(info.st_mode):03o}"
