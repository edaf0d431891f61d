"""Schema versions: create a new database, refuse one of another version with a clear message.

The version lives in Alembic's ``alembic_version`` table, so ``localsweep db upgrade``
can bring an older database forward with the migrations bundled in ``migrations/``.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, inspect, text

from localsweep.errors import SchemaVersionError
from localsweep.store._models import SCHEMA_VERSION, Base
from localsweep.store._urls import PASSWORD_HINT, has_password, url_without_password

__all__ = ["current_version", "ensure_schema", "upgrade"]

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
                Base.metadata.create_all(conn)
                conn.execute(
                    text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
                )
                conn.execute(text("INSERT INTO alembic_version VALUES (:v)"), {"v": SCHEMA_VERSION})
                return
    if version == SCHEMA_VERSION:
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


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Apply the bundled migrations; returns (version before, version after)."""
    from alembic import command
    from alembic.config import Config

    before = current_version(engine)
    if before is not None and before != SCHEMA_VERSION and before not in KNOWN_VERSIONS:
        # Alembic would fail with a long traceback on a revision it does not know.
        raise SchemaVersionError(
            f"{engine.url} has schema version {before}, which this localsweep "
            f"({SCHEMA_VERSION}) does not know: it was written by a newer localsweep. "
            "Upgrade localsweep (pip install -U localsweep); the database needs no upgrade."
        )
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    return before, SCHEMA_VERSION


def _upgrade_command(engine: Engine) -> str:
    """The command line that upgrades ``engine``'s database, its password left out."""
    url = engine.url.render_as_string(hide_password=False)
    command = f"localsweep db upgrade --db {shlex.quote(url_without_password(url))}"
    if has_password(url):
        command += f" (the password is left out here: {PASSWORD_HINT})"
    return command
