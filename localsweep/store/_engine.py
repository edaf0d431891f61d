"""Where the database is, and an engine configured for many small, safe transactions."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool, StaticPool

from localsweep._writable import unwritable
from localsweep.errors import DatabasePathError, NotFoundError
from localsweep.store._damage import check_sqlite_file, read_only_connection
from localsweep.store._netfs import check_sqlite_location
from localsweep.store._urls import create_engine_for

__all__ = ["DEFAULT_DB_FILENAME", "make_engine", "require_database", "resolve_url"]

#: The SQLite file used when neither ``db=``, ``--db`` nor ``LOCALSWEEP_DB`` says otherwise,
#: created in the current working directory.
DEFAULT_DB_FILENAME = "localsweep.db"

#: How long a writer waits for SQLite's lock before giving up (many agents may share a file).
BUSY_TIMEOUT_MS = 60_000


def resolve_url(db: str | os.PathLike[str] | None = None) -> str:
    """The SQLAlchemy URL for ``db``: an explicit value, else ``LOCALSWEEP_DB``, else
    ``./localsweep.db``. A plain path means a SQLite file. An empty ``db`` is refused
    (:class:`~localsweep.errors.DatabasePathError`), as the CLI refuses ``--db ""``."""
    if db is not None and not os.fspath(db).strip():
        # db=os.environ.get("SWEEP_DB", "") with the variable unset would otherwise mean
        # ./localsweep.db: each job of a cluster script its own database in its own folder.
        # An empty LOCALSWEEP_DB is unset, as for the CLI.
        raise DatabasePathError(
            "an empty db names no database (an unset variable, most likely): give the "
            "database's path or URL, or leave db out (db=None) for LOCALSWEEP_DB or "
            "./localsweep.db"
        )
    value = os.fspath(db) if db is not None else os.environ.get("LOCALSWEEP_DB")
    if not value:
        value = DEFAULT_DB_FILENAME
    if "://" in value:
        return value
    if value == ":memory:":
        return "sqlite:///:memory:"
    return f"sqlite:///{Path(value).expanduser().resolve()}"


def _sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL, or ``None`` for another backend or an in-memory database."""
    if not url.startswith("sqlite"):
        return None  # parsed (and its driver checked) when the engine is made
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database or "")


def is_new_database(db: str | os.PathLike[str] | None = None) -> bool:
    """Whether ``db`` (as :func:`resolve_url`) is a SQLite file that does not exist yet."""
    path = _sqlite_path(resolve_url(db))
    return path is not None and not path.exists()


def require_database(db: str | os.PathLike[str] | None = None) -> str:
    """The URL of ``db`` (as :func:`resolve_url`), checking that a SQLite file is there:
    commands that only read must not create a database (or its folders) on a mistyped path.
    Raises :class:`~localsweep.errors.NotFoundError` naming the path otherwise."""
    url = resolve_url(db)
    path = _sqlite_path(url)
    if path is not None and path.is_dir():
        found = path / DEFAULT_DB_FILENAME
        hint = f" (it holds {found})" if found.is_file() else ""
        raise NotFoundError(
            f"{path} is a folder{hint}: give --db (or db=) the database file, such as {found}"
        )
    if path is not None and not path.is_file():
        raise NotFoundError(
            f"no localsweep database at {path}: check --db, db= or LOCALSWEEP_DB "
            f"(the default is ./{DEFAULT_DB_FILENAME} in the current folder)"
        )
    if path is not None:
        # Neither an empty file nor another program's: the store would write its schema.
        check_sqlite_file(path, create=False)
    return url


def _prepare_folder(path: Path) -> None:
    """Create the folder of a SQLite file, or say in one sentence why it cannot be there."""
    if path.is_dir():
        raise DatabasePathError(
            f"{path} is a folder: give --db (or db=) the database file, such as "
            f"{path / DEFAULT_DB_FILENAME}"
        )
    if path.exists():
        return  # an existing file is left alone (a read-only one is said elsewhere)
    # No file of ours is made here: a read (Api, a prior-runs source) must leave none
    # behind, and another process may be creating the database at this moment.
    problem = unwritable(path)
    if problem is not None:
        raise DatabasePathError(
            f"cannot create the database {path}: {problem.why}; give --db (or db=) {problem.fix}"
        )
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabasePathError(
            f"cannot create the database {path}: cannot create the folder {parent} "
            f"({exc.strerror or exc}); give --db (or db=) a path in a writable folder"
        ) from exc


def _reads_only(path: Path) -> bool:
    """Whether the SQLite file at ``path`` is one this process cannot write."""
    return path.is_file() and not os.access(path, os.W_OK)


def make_engine(url: str) -> Engine:
    """An engine for ``url``: SQLite in WAL mode with our own ``BEGIN``, or another backend
    with connections checked before use. Raises
    :class:`~localsweep.errors.DatabaseURLError` for a URL whose dialect or driver cannot
    be loaded."""
    if not url.startswith("sqlite"):
        engine: Engine = create_engine_for(url, pool_pre_ping=True, future=True)
        if engine.dialect.name == "postgresql":
            event.listen(engine, "connect", _end_frozen_transactions)
        return engine
    parsed = make_url(url)

    database = parsed.database or ""
    if database and database != ":memory:":
        check_sqlite_location(database)
        _prepare_folder(Path(database))
    # A connection per thread, reused: SQLite connections are cheap but the pragmas are
    # not free, and NullPool would redo them for every transaction.
    kwargs: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 60}}
    if database and database != ":memory:" and _reads_only(Path(database)):
        # A database this process can only read (a teammate's, shared with the group for
        # reading). Opened as usual, with no writer at work, SQLite would leave -wal and
        # -shm files of this user's beside it, which its owner's agents then cannot write.
        # Each connection looks again (read_only_connection), and none is kept: a long
        # reader (`localsweep ui`, a notebook's Api) sees new runs and holds no file open.
        kwargs["creator"] = functools.partial(read_only_connection, Path(database).resolve())
        kwargs["poolclass"] = NullPool
    if database in ("", ":memory:"):
        # Every connection to ":memory:" opens a new, empty database: keep one connection
        # for the engine's life so the tables created at open are the ones used after.
        kwargs["poolclass"] = StaticPool
    engine = create_engine_for(url, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let us issue BEGIN ourselves: pysqlite's implicit BEGIN is DEFERRED, which lets
        # two claimers read the same state before either writes.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        # With WAL, NORMAL keeps the database consistent after a power loss and loses at
        # most the last commits; FULL would fsync every commit (25 ms or more here).
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get("localsweep_immediate", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _end_frozen_transactions(dbapi_connection: Any, _record: Any) -> None:
    """Have PostgreSQL end a transaction of ours left idle longer than the heartbeat
    timeout (its session is closed, and the client retries).

    Claims, run ends and sweep controls hold the sweep's row lock for milliseconds (a
    proposal's seconds at most); an agent frozen inside one (SIGSTOP, a suspended VM, a
    network partition) would otherwise hold every other agent of the sweep, and `pause`,
    until it woke. An agent silent that long is taken for dead anyway (its runs are
    reaped). Set per session, so it works behind a pgbouncer in session mode too."""
    from localsweep.store._tables import heartbeat_timeout

    ms = int(heartbeat_timeout().total_seconds() * 1000)
    autocommit = dbapi_connection.autocommit
    dbapi_connection.autocommit = True  # a SET outside any transaction of ours
    try:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"SET idle_in_transaction_session_timeout = {ms}")
        cursor.close()
    finally:
        dbapi_connection.autocommit = autocommit
