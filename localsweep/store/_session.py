"""The one helper that owns every transaction of the store.

A unit of work is a function of a :class:`~sqlalchemy.Connection`; :meth:`Session.write`
runs it in one transaction that holds the write lock from its first statement (``BEGIN
IMMEDIATE`` on SQLite; on PostgreSQL the work locks the sweep row first, always, so two
transactions never take the same locks in opposite orders). Transient errors re-run the
whole unit of work, not one statement, with exponential backoff and full jitter, for at
most ``retry_timeout`` seconds: a deadlock (40P01), a serialization failure (40001), SQLite
busy or locked, a dropped or refused connection (a database restart), a transaction the
server ended because this process stood still inside it (25P03), a statement the server
cancelled (55P03: a lock wait past ``lock_timeout``; 57014: ``statement_timeout``,
``pg_cancel_backend``), a server whose connection slots are all taken (too many connections).
A server that answers but turns the login away (a wrong password or user, no such
database, a role that may not log in or lacks the CONNECT privilege) is not transient:
:class:`~localsweep.errors.DatabaseURLError` at once, with the fix. Everything else is
mapped to a :class:`~localsweep.errors.StoreError` that names the cause in plain words
(disk full, file deleted or replaced, damaged file), with the driver's error chained.

Units of work must be safe to re-run: a commit whose acknowledgement was lost is replayed,
so each write recognises its own earlier commit (a pre-made run id or lease, a history
batch token) and does not apply it twice.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError

from localsweep.errors import (
    DatabasePathError,
    DatabaseURLError,
    LocalsweepError,
    StoreError,
    StoreUnavailableError,
)
from localsweep.store._damage import (
    check_sqlite_file,
    damaged_message,
    io_error_hint,
    missing_tables_message,
    read_only_hint,
)
from localsweep.store._engine import BUSY_TIMEOUT_MS, make_engine
from localsweep.store._migrate import ensure_schema
from localsweep.store._retry_bound import (
    DEFAULT_RETRY_TIMEOUT,
    checked_retry_timeout,
    chosen_timeout,
    retry_timeout_from_env,
)
from localsweep.store._server_errors import TOO_MANY_CONNECTIONS, refused_login
from localsweep.store._urls import shown_url

__all__ = ["DEFAULT_RETRY_TIMEOUT", "Session", "retry_timeout_from_env"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Backoff: ``BASE * 2**attempt`` seconds, capped, each sleep drawn uniformly below it.
_BACKOFF_BASE = 0.05
_BACKOFF_CAP = 2.0
#: A claim that collides on a unique key (grid point, number) retries this often.
_INTEGRITY_ATTEMPTS = 8
# What a transient cause says, so the message when it does not recover gives the right fix.
_LOCKED_FILE = "the database file is locked by another process"
_CANCELLED = "the server cancelled this agent's statement"
_FULL = "the database server is up but refuses new connections"

#: How long the check of a SQLite file at open may take before it is cut short.
QUICK_CHECK_SECONDS = 2.0
#: The retry bound when opening a database.
OPEN_RETRY_TIMEOUT = 10.0

# SQLite's primary result codes (https://sqlite.org/rescode.html).
_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_IOERR, _SQLITE_CORRUPT = 5, 6, 10, 11
_SQLITE_READONLY, _SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_NOTADB = 8, 13, 14, 26


def _bound_busy_wait(conn: Connection, bound: float) -> None:
    """Let SQLite wait on a locked file no longer than the retry bound (its own wait is
    one attempt: a 60 s wait would outlast a ``--store-timeout 5``). Set once per
    connection and bound, on the connections the pool keeps."""
    ms = BUSY_TIMEOUT_MS if bound * 1000 >= BUSY_TIMEOUT_MS else max(int(bound * 1000), 1)
    info = conn.connection.info
    if info.get("localsweep_busy_ms") != ms:
        conn.exec_driver_sql(f"PRAGMA busy_timeout={ms}")
        conn.commit()  # ends SQLAlchemy's autobegun transaction (a pragma writes nothing)
        info["localsweep_busy_ms"] = ms


class _Transient(Exception):
    def __init__(self, cause: str):
        super().__init__(cause)
        self.cause = cause


class Session:
    """The engine of one store and the transactions on it (see the module docstring)."""

    def __init__(self, url: str, retry_timeout: float | None = None):
        if retry_timeout is not None:
            checked_retry_timeout(retry_timeout)  # before the engine is made
        self.url = url
        self.engine: Engine = make_engine(url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self.retry_timeout = retry_timeout_from_env() if retry_timeout is None else retry_timeout
        #: The user chose the bound (``--store-timeout``, or the caller): opening waits it too.
        self._bound_chosen = retry_timeout is not None or chosen_timeout() is not None
        database = make_url(url).database if self.is_sqlite else None
        self.path: Path | None = Path(database) if database and database != ":memory:" else None
        self._identity: tuple[int, int] | None = None
        #: The database was there and opened: a database missing later was dropped.
        self._opened = False
        # ":memory:" is one connection for the engine's life (StaticPool), shared by the
        # agent's threads (its heartbeat, a proposal): one transaction at a time on it.
        self._one_at_a_time = threading.RLock() if self.is_sqlite and self.path is None else None
        #: Told how long each transaction waited for the database before its work began
        #: (retries of an outage, a file locked by another writer), in seconds: heartbeats
        #: could not land meanwhile, which the reaper must allow for.
        self.on_wait: Callable[[float], None] | None = None

    # ----------------------------------------------------------------------- opening

    def open(self, *, check: bool = True, create: bool = True) -> None:
        """Create (unless ``create=False``) or check the schema (safe with many processes
        at once), remember which file this is, and check a SQLite file for damage (bounded
        in time)."""

        if not create and self.path is not None and not self.path.exists():
            # SQLite would make an empty file: a database only read is never created.
            raise DatabasePathError(f"no database file {self.path}")
        if create and self.path is not None:
            _make_file(self.path)
        if self.path is not None and self.path.is_file():
            check_sqlite_file(self.path, create=create)  # before the engine writes WAL mode

        def schema(_conn: Connection | None) -> None:
            ensure_schema(self.engine, create=create)

        bound = self.open_timeout()
        self._retrying(
            schema,
            immediate=False,
            what=f"open the database {self._where()}",
            bare=True,
            timeout=bound,
        )
        if self.path is not None:
            st = os.stat(self.path)
            self._identity = (st.st_dev, st.st_ino)
            if check:
                self.quick_check()
        self._opened = True

    def open_timeout(self) -> float:
        """How long opening the database retries: a shorter bound than for later calls,
        unless the user chose one. A wrong URL should not hang a command, but an agent
        told --store-timeout 600 that starts while the server restarts waits for it."""
        if self._bound_chosen:
            return self.retry_timeout
        return min(self.retry_timeout, OPEN_RETRY_TIMEOUT)

    def quick_check(self, seconds: float = QUICK_CHECK_SECONDS) -> str:
        """Run SQLite's ``quick_check`` for at most ``seconds``; raise a StoreError naming
        the repair when the file is damaged. Returns ``ok``, or ``unchecked`` when cut short
        (a big file: what was read so far was sound)."""
        if not self.is_sqlite:
            return "ok"
        raw = self.engine.raw_connection()
        try:
            dbapi = raw.driver_connection
            assert isinstance(dbapi, sqlite3.Connection)
            deadline = time.monotonic() + seconds
            dbapi.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
            try:
                rows = dbapi.execute("PRAGMA quick_check(5)").fetchall()
            except sqlite3.OperationalError as exc:
                if "interrupted" in str(exc):
                    logger.info("quick_check of %s cut short after %.1f s", self.path, seconds)
                    return "unchecked"
                raise
            except sqlite3.DatabaseError as exc:
                raise StoreError(damaged_message(str(self.path), str(exc))) from exc
            finally:
                dbapi.set_progress_handler(None, 0)
        finally:
            raw.close()
        answer = "; ".join(str(r[0]) for r in rows)
        if answer != "ok":
            raise StoreError(damaged_message(str(self.path), answer))
        return answer

    def check_file(self) -> None:
        """Raise if the SQLite file at the path is no longer the one this store opened
        (deleted, or replaced by another file): writing on would lose every result."""
        if self.path is None or self._identity is None:
            return
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise StoreError(
                f"the database file {self.path} was deleted while localsweep was using it; "
                "results written from now on would be lost, so localsweep stops. Restore the "
                "file or start again with a new one"
            ) from None
        if (st.st_dev, st.st_ino) != self._identity:
            raise StoreError(
                f"the database file {self.path} was replaced by another file while "
                "localsweep was using it; localsweep stops rather than write to the wrong "
                "database. Start again to use the new file"
            )

    def close(self) -> None:
        """Close every connection."""
        self.engine.dispose()

    # ------------------------------------------------------------------ transactions

    def read(
        self,
        work: Callable[[Connection], T],
        what: str,
        *,
        on_rollback: Callable[[], None] | None = None,
    ) -> T:
        """Run ``work`` in a read transaction, retrying transient errors."""
        with self._serialized():
            return self._retrying(work, immediate=False, what=what, on_rollback=on_rollback)

    def write(
        self,
        work: Callable[[Connection], T],
        what: str,
        *,
        retry_integrity: bool = False,
        on_rollback: Callable[[], None] | None = None,
    ) -> T:
        """Run ``work`` in a write transaction, retrying transient errors (and, with
        ``retry_integrity``, unique-key collisions: the work reads fresh state each time).
        ``on_rollback`` runs after every attempt that failed, to drop what it learnt."""
        with self._serialized():
            return self._retrying(
                work,
                immediate=True,
                what=what,
                retry_integrity=retry_integrity,
                on_rollback=on_rollback,
            )

    def _serialized(self) -> contextlib.AbstractContextManager[object]:
        """The in-memory database's lock (see ``__init__``); nothing for a real one."""
        return self._one_at_a_time if self._one_at_a_time is not None else contextlib.nullcontext()

    def _retrying(
        self,
        work: Callable[[Connection], T] | Callable[[Connection | None], T],
        *,
        immediate: bool,
        what: str,
        retry_integrity: bool = False,
        bare: bool = False,
        timeout: float | None = None,
        on_rollback: Callable[[], None] | None = None,
    ) -> T:
        bound = self.retry_timeout if timeout is None else timeout
        started = time.monotonic()
        deadline = started + bound
        attempt = 0
        collisions = 0
        first_failure: float | None = None
        while True:
            try:
                self.check_file()
                if bare:
                    began = time.monotonic()
                    result = work(None)  # type: ignore[arg-type]
                    if self.on_wait is not None:
                        self.on_wait(began - started)  # opened after an outage: say so too
                    return result
                with self.engine.connect() as conn:
                    if self.is_sqlite:
                        _bound_busy_wait(conn, bound)
                    if immediate:
                        conn.execution_options(localsweep_immediate=True)
                    with conn.begin():
                        if self.on_wait is not None:
                            self.on_wait(time.monotonic() - started)
                        return work(conn)
            except BaseException as exc:
                if on_rollback is not None:
                    on_rollback()
                if isinstance(exc, IntegrityError) and retry_integrity:
                    collisions += 1
                    if collisions < _INTEGRITY_ATTEMPTS:
                        logger.debug("could not %s: collided with another writer, retrying", what)
                        continue
                cause = self._transient_cause(exc, what)  # raises unless transient
                last = exc
            attempt += 1
            now = time.monotonic()
            if first_failure is None:
                first_failure = now
            delay = random.uniform(0.0, min(_BACKOFF_CAP, _BACKOFF_BASE * 2**attempt))
            if now + delay > deadline:
                # One attempt may have waited longer than the bound (a connect timeout):
                # then the time it took is said too.
                late = now - started > bound + 1.0
                took = f", {now - started:.0f} s in all" if late else ""
                raise StoreUnavailableError(
                    f"could not {what}: {cause}, and it did not recover within "
                    f"{bound:.0f} s ({attempt} attempts{took}). {self._fix_for(cause)}, "
                    "then try again; the bound is LOCALSWEEP_STORE_TIMEOUT in seconds (and "
                    "the agent's --store-timeout)"
                ) from last
            # An outage is worth saying (now and then), and so are statements cancelled
            # again and again; a deadlock or a busy file retried is business as usual with
            # many agents.
            outage = any(words in cause for words in ("unreachable", "lost", _CANCELLED, _FULL))
            loud = outage and (attempt in (3, 10) or attempt % 50 == 0)
            log = logger.warning if loud else logger.debug
            log(
                "could not %s: %s; retrying (attempt %d, %.1f s so far)",
                what,
                cause,
                attempt,
                now - first_failure,
            )
            time.sleep(delay)

    def _fix_for(self, cause: str) -> str:
        """What to check when a transient ``cause`` lasted past the retry bound."""
        where = self._where()
        if cause.startswith(_LOCKED_FILE):
            return (
                f"Check that the database {where} is not held by a stuck process (`fuser` "
                "on the file shows who has it open)"
            )
        if cause.startswith(_CANCELLED):
            return (
                f"Check that no session holds the sweep's rows locked for long on {where} "
                "(pg_locks and pg_stat_activity show who), and that lock_timeout and "
                "statement_timeout of this user are not set too short (`SHOW lock_timeout`)"
            )
        if cause.startswith(_FULL):
            return (
                f"The server of {where} is up, but every connection slot it allows is taken: "
                "raise its max_connections (postgresql.conf, then restart it) or the "
                "CONNECTION LIMIT of the user or database, or run fewer agents at once"
            )
        return f"Check that the database {where} is up and reachable"

    def _transient_cause(self, exc: BaseException, what: str) -> str:
        """Why ``exc`` is worth retrying; re-raise it (mapped to StoreError) otherwise."""
        if isinstance(exc, LocalsweepError) or not isinstance(exc, SQLAlchemyError):
            raise exc
        if isinstance(exc, IntegrityError):
            raise StoreError(f"could not {what}: {_orig(exc)}") from exc
        if isinstance(exc, DBAPIError):
            return self._classify(exc, what)
        raise StoreError(f"could not {what}: {exc}") from exc

    def _read_only_hint(self) -> str:
        """Why SQLite cannot write here, and the fix (:func:`read_only_hint`)."""
        return read_only_hint(self.path) if self.path is not None else ""

    def _where(self) -> str:
        return str(self.path) if self.path else shown_url(self.url)

    def _classify(self, exc: DBAPIError, what: str) -> str:
        """The cause of a transient error in plain words; raise StoreError for the rest."""
        orig = exc.orig
        sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
        refused = (
            None
            if self.is_sqlite
            else refused_login(self.url, _orig(exc), sqlstate, opened=self._opened)
        )
        if refused is not None:
            # Said as the store's error wherever it happens (at open, or mid-sweep after a
            # password was changed): retrying cannot fix it.
            where = "" if self._where() in what else f" in {self._where()}"
            raise DatabaseURLError(f"could not {what}{where}: {refused}") from exc
        if sqlstate in ("57014", "55P03"):
            # statement_timeout or pg_cancel_backend (57014), a lock wait past lock_timeout
            # (55P03): the transaction is rolled back, so the work replays (a short lock
            # wait is normal with many agents, or with one suspended inside a claim).
            return f"{_CANCELLED} ({_orig(exc)})"
        too_many = any(words in _orig(exc) for words in TOO_MANY_CONNECTIONS)
        if not self.is_sqlite and (sqlstate == "53300" or too_many):
            return f"{_FULL} ({_orig(exc)})"
        if exc.connection_invalidated:
            return "the connection to the database was lost"
        if sqlstate == "40P01":
            return "a deadlock with another agent"
        if sqlstate == "40001":
            return "a serialization failure"
        if sqlstate == "25P03":
            # idle_in_transaction_session_timeout (see _engine): this process stood still
            # inside a transaction (suspended, frozen) and the server ended it.
            return "this agent's transaction stood idle too long and the server ended it"
        if sqlstate == "53100":
            raise StoreError(
                f"disk full: the database server {self._where()} has no space left, so "
                f"localsweep could not {what}. Free space on its disk, then start again"
            ) from exc
        if sqlstate and (sqlstate.startswith("08") or sqlstate in ("57P01", "57P02", "57P03")):
            return f"the database server is unreachable or restarting ({_orig(exc)})"
        if isinstance(orig, sqlite3.Error):
            code = (getattr(orig, "sqlite_errorcode", None) or 0) & 0xFF
            if not code:  # Python 3.10 has no error codes on exceptions: read the message
                code = _code_from_message(str(orig))
            if code in (_SQLITE_BUSY, _SQLITE_LOCKED):
                return _LOCKED_FILE
            if code == _SQLITE_FULL or "disk is full" in str(orig):
                raise StoreError(
                    f"disk full: no space left for the database file {self._where()}, so "
                    f"localsweep could not {what}. Free space on that disk, then start again"
                ) from exc
            if code in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
                if code == _SQLITE_NOTADB or self._identity is None:
                    raise StoreError(
                        f"cannot open the database {shown_url(self.url)}: {orig} (is it a SQLite "
                        "file written by localsweep?)"
                    ) from exc
                raise StoreError(damaged_message(self._where(), str(orig))) from exc
            if code in (_SQLITE_CANTOPEN, _SQLITE_READONLY):
                # Read-only is met on a write (the file may have been open for hours);
                # cannot-open, on opening it.
                doing = f"could not {what} in" if code == _SQLITE_READONLY else "cannot open"
                raise StoreError(
                    f"{doing} the database {shown_url(self.url)}: {orig}{self._read_only_hint()}"
                ) from exc
            if code == _SQLITE_IOERR:
                raise StoreError(
                    f"could not {what}: the disk reported an I/O error on {self._where()} "
                    f"({orig}){io_error_hint(self.path)}"
                ) from exc
            if str(orig).startswith("no such table: "):
                # Dropped while in use (at open a missing table is said already).
                missing = str(orig).split(": ", 1)[1].rsplit(".", 1)[-1]
                said = missing_tables_message(self._where(), [missing], sqlite=True)
                raise StoreError(f"could not {what}: {said}") from exc
            raise StoreError(f"could not {what} in {shown_url(self.url)}: {orig}") from exc
        if sqlstate is None and type(orig).__name__ in ("OperationalError", "InterfaceError"):
            # psycopg: no SQLSTATE means the connection itself failed (refused, reset,
            # closed under us); a server that answered and said no was handled above.
            return f"the database server is unreachable ({_orig(exc)})"
        raise StoreError(f"could not {what} in {self._where()}: {_orig(exc)}") from exc


def _make_file(path: Path) -> None:
    """Create the empty SQLite file ``path`` with the user's umask, if it is not there.
    SQLite creates a database ``0644`` whatever the umask, so ``umask 002`` (the usual way
    to share files with a group) left it read-only to the group's other agents; its
    ``-wal`` and ``-shm`` files take the database's mode. An empty file is an empty
    database to SQLite; a folder that is missing or not writable is SQLite's to report."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except OSError:
        return
    os.close(fd)


def _code_from_message(message: str) -> int:
    """The result code of a SQLite error from its text, where Python (3.10) does not give
    the code: SQLite's own text for each code that :meth:`Session._classify` tells apart."""
    for words, code in (
        ("database is locked", _SQLITE_BUSY),
        ("database table is locked", _SQLITE_LOCKED),
        ("disk is full", _SQLITE_FULL),
        ("malformed", _SQLITE_CORRUPT),
        ("not a database", _SQLITE_NOTADB),
        ("unable to open", _SQLITE_CANTOPEN),
        ("readonly database", _SQLITE_READONLY),
        ("disk I/O error", _SQLITE_IOERR),
    ):
        if words in message:
            return code
    return 0


def _orig(exc: DBAPIError) -> str:
    return " ".join(str(exc.orig).split())
