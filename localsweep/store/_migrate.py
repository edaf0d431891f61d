"""Schema versions: create a new database, refuse one of another version with a clear message.

The version lives in Alembic's ``alembic_version`` table, so ``localsweep db upgrade``
can bring an older database forward with the migrations bundled in ``migrations/``.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, inspect, text

from localsweep.errors import SchemaVersionError
from localsweep.store._models import SCHEMA_VERSION, Base

__all__ = ["current_version", "ensure_schema", "upgrade"]

_MIGRATIONS = Path(__file__).parent / "migrations"
#: Every revision this code knows, oldest first.
KNOWN_VERSIONS = ("0001", "0002", "0003")


def current_version(engine: Engine) -> str | None:
    """The database's schema revision, or ``None`` for a database localsweep never wrote."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def ensure_schema(engine: Engine) -> None:
    """Create the tables in an empty database; check the version of an existing one."""
    version = current_version(engine)
    if version == SCHEMA_VERSION:
        return
    if version is None:
        with engine.connect() as conn:
            existing = set(inspect(conn).get_table_names())
        ours = set(Base.metadata.tables)
        if existing & ours:
            raise SchemaVersionError(
                f"{engine.url} has localsweep tables but no schema version; it was not "
                "written by localsweep, or it is damaged"
            )
        with engine.begin() as conn:
            Base.metadata.create_all(conn)
            conn.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)"))
            conn.execute(text("INSERT INTO alembic_version VALUES (:v)"), {"v": SCHEMA_VERSION})
        return
    if version in KNOWN_VERSIONS:
        raise SchemaVersionError(
            f"{engine.url} has schema version {version}, older than this localsweep "
            f"({SCHEMA_VERSION}). Upgrade it with: localsweep db upgrade --db '{engine.url}'"
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
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    return before, SCHEMA_VERSION
