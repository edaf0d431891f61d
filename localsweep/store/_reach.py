"""Whether a database server answers, before a command writes to it (``export --to``)."""

from __future__ import annotations

from localsweep.store._damage import is_localsweep_schema
from localsweep.store._session import Session
from localsweep.store._urls import shown_url

__all__ = ["reach"]


def reach(url: str, option: str) -> bool:
    """Connect to the database server of ``url`` as the store opens ``--db``: the same
    retries of a server that does not answer (``LOCALSWEEP_STORE_TIMEOUT``, else 10 s),
    the same message when it does not come up or turns the login away, naming
    ``option``. Returns whether it is a localsweep database (however its URL spells the
    server)."""
    from sqlalchemy import inspect

    session = Session(url)
    session.retry_timeout = session.open_timeout()
    try:
        tables: list[str] = session.read(
            lambda conn: inspect(conn).get_table_names(),
            what=f"open the database {shown_url(url)} ({option})",
        )
    finally:
        session.close()
    return is_localsweep_schema(tables)
