"""Schema versions: create a new database, refuse one of another version with a clear message.

The version lives in Alembic's ``alembic_version`` table, so ``localsweep db upgrade``
can bring an older database forward with the migrations bundled in ``migrations/``.
"""

from __future__ import annotations

import contextlib
import logging
import shlex
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Connection, Engine, func, inspect, select, text

from localsweep.errors import SchemaVersionError, StoreError
from localsweep.records import RunState
from localsweep.store._damage import foreign_file_error, missing_tables_message
from localsweep.store._models import SCHEMA_VERSION, Base
from localsweep.store._reaper import _pid_alive
from localsweep.store._sweeps import recount, wrong_counters
from localsweep.store._tables import now, runs
from localsweep.store._urls import (
    PASSWORD_HINT,
    has_password,
    shown_url,
    url_without_password,
)

__all__ = ["Upgrade", "current_version", "ensure_schema", "upgrade"]

logger = logging.getLogger(__name__)

_MIGRATIONS = Path(__file__).parent / "migrations"
#: Every revision this code knows, oldest first: one migration file each, named after it
#: (a list written by hand forgot one revision twice).
KNOWN_VERSIONS = tuple(
    sorted(path.name.split("_", 1)[0] for path in (_MIGRATIONS / "versions").glob("[0-9]*.py"))
)


def current_version(engine: Engine) -> str | None:
    """The database's schema revision, or ``None`` for a database localsweep never wrote."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


#: The PostgreSQL advisory lock that serialises schema creation ("lswp").
_SCHEMA_LOCK = 0x6C737770


@contextmanager
def _schema_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that alone may create the schema: SQLite's write lock taken at BEGIN
    (a deferred transaction that has read the schema cannot become a writer once another
    process created it: "database is locked" at once, whatever the busy timeout), an
    advisory lock on PostgreSQL."""
    with engine.connect() as conn:
        conn.execution_options(localsweep_immediate=True)
        with conn.begin():
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SCHEMA_LOCK})
            yield conn


def _not_ours(engine: Engine, why: str) -> SchemaVersionError:
    return SchemaVersionError(f"{engine.url} is not a localsweep database ({why})")


def ensure_schema(engine: Engine, *, create: bool = True) -> None:
    """Create the tables in an empty database; check the version of an existing one.

    Safe when many processes open a fresh database at once: creation happens under a lock,
    and whoever comes second finds the schema there and only checks its version. With
    ``create=False`` (a database only read, such as a source of prior runs) nothing is
    written: a database without localsweep's schema is refused."""
    version = current_version(engine)
    if version is None and not create:
        raise _not_ours(engine, "it has no localsweep tables")
    if version is None:
        with _schema_transaction(engine) as conn:
            inspector = inspect(conn)
            if inspector.has_table("alembic_version"):
                version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            else:
                existing = set(inspector.get_table_names())
                if existing & set(Base.metadata.tables):
                    raise SchemaVersionError(
                        f"{engine.url} has localsweep tables but no schema version; it was "
                        "not written by localsweep, or it is damaged"
                    )
                if existing and engine.dialect.name == "sqlite":
                    # Made since the session's look at the file (a PostgreSQL database
                    # shared with other programs' tables is common, and not refused).
                    raise foreign_file_error(engine.url.database or "", existing, create=True)
                Base.metadata.create_all(conn)
                conn.execute(
                    text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
                )
                conn.execute(text("INSERT INTO alembic_version VALUES (:v)"), {"v": SCHEMA_VERSION})
                return
    if version == SCHEMA_VERSION:
        _require_every_table(engine)
        return
    if version not in KNOWN_VERSIONS:
        with engine.connect() as conn:
            if not inspect(conn).has_table("sweeps"):
                # Another program that keeps an alembic_version table (Optuna does).
                raise _not_ours(engine, f"its schema version {version} is another program's")
    if version in KNOWN_VERSIONS:
        raise SchemaVersionError(
            f"{engine.url} has schema version {version}, older than this localsweep "
            f"({SCHEMA_VERSION}). Upgrade it with: {_upgrade_command(engine)}"
        )
    raise SchemaVersionError(
        f"{engine.url} has schema version {version}, which this localsweep "
        f"({SCHEMA_VERSION}) does not know: it was written by a newer localsweep. "
        "Upgrade localsweep (pip install -U localsweep) to open it."
    )


def _require_every_table(engine: Engine, conn: Connection | None = None) -> None:
    """Refuse a database of this schema version with some of localsweep's tables gone (a
    ``DROP TABLE``, a partial copy): each command would fail on them with no more than "no
    such table", and a sweep created there could never be run."""
    with contextlib.ExitStack() as stack:
        c = conn if conn is not None else stack.enter_context(engine.connect())
        missing = set(Base.metadata.tables) - set(inspect(c).get_table_names())
    if missing:
        sqlite = engine.dialect.name == "sqlite"
        where = (engine.url.database or "") if sqlite else shown_url(str(engine.url))
        raise SchemaVersionError(missing_tables_message(where, missing, sqlite=sqlite))


class Upgrade(tuple[str | None, str]):
    """What ``localsweep db upgrade`` did: the pair (version before, version after), and
    what it found on the way."""

    #: The database had tables of another program and no localsweep schema (``before`` is
    #: ``None``); localsweep's tables were added beside them.
    other_tables: bool
    #: Sweeps whose run counters were wrong and were recounted from their runs.
    recounted: tuple[str, ...]

    def __new__(
        cls,
        before: str | None,
        after: str,
        *,
        other_tables: bool = False,
        recounted: tuple[str, ...] = (),
    ) -> Upgrade:
        self = super().__new__(cls, (before, after))
        self.other_tables = other_tables
        self.recounted = recounted
        return self

    @property
    def before(self) -> str | None:
        """The schema version before, ``None`` for a database without localsweep's schema."""
        return self[0]

    @property
    def after(self) -> str:
        """The schema version now."""
        return self[1]


def upgrade(engine: Engine, *, force: bool = False) -> Upgrade:
    """Apply the bundled migrations and recount every sweep's run counters from its runs.

    Takes the lock schema creation takes (SQLite's write lock, an advisory lock on
    PostgreSQL) for the whole upgrade: a second upgrade at the same time waits, then finds
    the schema current. From a schema before 0004 it refuses while runs are running whose
    agent may be alive, unless ``force``: such an agent, too old to know the run counters,
    would leave them wrong (see :func:`_live_legacy_runs`)."""
    before = current_version(engine)
    if before is not None:
        _check_known(engine, before)
    if before == SCHEMA_VERSION:
        # A dropped table is not the upgrade's to bring back: it would fail in the recount
        # on "no such table", or (a table the recount never reads) report success on a
        # database every other command refuses. Say what they say.
        _require_every_table(engine)
        with engine.connect() as conn:
            if not _counters_wrong(conn):
                return Upgrade(before, SCHEMA_VERSION)
    with _schema_transaction(engine) as conn:
        # Read again under the lock: another upgrade may have finished meanwhile.
        inspector = inspect(conn)
        other_tables = False
        if inspector.has_table("alembic_version"):
            before = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            if before is not None:
                _check_known(engine, before, conn)
        else:
            before = None
            existing = set(inspector.get_table_names())
            if existing & set(Base.metadata.tables):
                raise SchemaVersionError(
                    f"{engine.url} has localsweep tables but no schema version; it was "
                    "not written by localsweep, or it is damaged: it cannot be upgraded"
                )
            other_tables = bool(existing)
        if before is not None and before < _COUNTERS_VERSION and not force:
            live = _live_legacy_runs(conn)
            if live:
                raise StoreError(_legacy_agents_message(engine, before, live))
        if before != SCHEMA_VERSION:
            from alembic import command
            from alembic.config import Config

            cfg = Config()
            cfg.set_main_option("script_location", str(_MIGRATIONS))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
        _require_every_table(engine, conn)  # one dropped before, that no migration touched
        recounted = tuple(recount(conn))
    if recounted:
        logger.info("recounted the run counters of sweep(s) %s", ", ".join(recounted))
    return Upgrade(before, SCHEMA_VERSION, other_tables=other_tables, recounted=recounted)


def _check_known(engine: Engine, version: str, conn: Connection | None = None) -> None:
    """Refuse a version this code has no migration for, saying whose it is (as
    :func:`ensure_schema` does): Alembic would fail with a long traceback."""
    if version == SCHEMA_VERSION or version in KNOWN_VERSIONS:
        return
    with contextlib.ExitStack() as stack:
        c = conn if conn is not None else stack.enter_context(engine.connect())
        if not inspect(c).has_table("sweeps"):
            # Another program that keeps an alembic_version table (Optuna does).
            raise _not_ours(engine, f"its schema version {version} is another program's")
    raise SchemaVersionError(
        f"{engine.url} has schema version {version}, which this localsweep "
        f"({SCHEMA_VERSION}) does not know: it was written by a newer localsweep. "
        "Upgrade localsweep (pip install -U localsweep); the database needs no upgrade."
    )


def _counters_wrong(conn: Connection) -> bool:
    """Whether some sweep's run counters differ from its runs (read only)."""
    return bool(wrong_counters(conn))


#: The schema that brought run counters on sweeps: agents before it do not keep them.
_COUNTERS_VERSION = "0004"
#: The heartbeat timeout of localsweep before schema 0004 (fixed; they beat every 30 s).
_LEGACY_HEARTBEAT_TIMEOUT = timedelta(seconds=120)


def _live_legacy_runs(conn: Connection) -> list[tuple[str, str, str]]:
    """The running runs (id, sweep id, agent) whose agent may be alive: its heartbeat is
    recent, and it is not on this machine with its process gone. Such an agent predates
    schema 0004: it would go on claiming and ending runs after the upgrade without moving
    the run counters, and the sweep would wait forever or run past its run_cap."""
    rows = conn.execute(
        select(runs.c.id, runs.c.sweep_id, runs.c.agent_host, runs.c.agent_pid, runs.c.heartbeat_at)
        .where(runs.c.state == RunState.RUNNING.value)
        .order_by(runs.c.sweep_id, runs.c.number)
    ).all()
    if not rows:
        return []
    here = socket.gethostname()
    if conn.dialect.name == "postgresql":
        # Agents of several machines: the database's clock (as the reaper judges them).
        clock: datetime = conn.execute(
            select(func.timezone("UTC", func.clock_timestamp()))
        ).scalar_one()
    else:
        clock = now()
    live = []
    for run_id, sweep_id, host, pid, heartbeat in rows:
        if host == here and pid is not None and not _pid_alive(pid):
            continue  # its process is gone: dead for sure
        if heartbeat is None or heartbeat < clock - _LEGACY_HEARTBEAT_TIMEOUT:
            continue  # silent past the timeout: the next agent reaps the run
        live.append((str(run_id), str(sweep_id), f"{host or '?'} pid {pid or '?'}"))
    return live


def _legacy_agents_message(engine: Engine, before: str, live: list[tuple[str, str, str]]) -> str:
    shown = [f"run {r} of sweep {s} (agent on {a})" for r, s, a in live[:10]]
    if len(live) > 10:
        shown.append(f"and {len(live) - 10} more")
    timeout = int(_LEGACY_HEARTBEAT_TIMEOUT.total_seconds())
    return (
        f"{engine.url} has schema version {before}, whose agents do not keep the run "
        f"counters of schema {_COUNTERS_VERSION}, and runs are running: "
        f"{'; '.join(shown)}. Stop those agents (Ctrl-C, or kill PID on their machine) "
        "before upgrading: an agent that went on after the upgrade would leave its sweep "
        "waiting forever or running past its run_cap. If they are dead already, run the "
        f"upgrade again once their heartbeat is {timeout} s old, or now with --force "
        "(the next agent marks their runs crashed)."
    )


def _upgrade_command(engine: Engine) -> str:
    """The command line that upgrades ``engine``'s database, its password left out."""
    url = engine.url.render_as_string(hide_password=False)
    command = f"localsweep db upgrade --db {shlex.quote(url_without_password(url))}"
    if has_password(url):
        command += f" (the password is left out here: {PASSWORD_HINT})"
    return command
