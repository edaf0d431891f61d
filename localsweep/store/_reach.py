"""Whether a database server answers, before a command writes to it (``export --to``)."""

from __future__ import annotations

from localsweep.store._session import Session
from localsweep.store._urls import shown_url

__all__ = ["reach"]


def reach(url: str, option: str) -> None:
    """Connect to the database server of ``url`` as the store opens ``--db``: the same
    retries of a server that does not answer (``LOCALSWEEP_STORE_TIMEOUT``, else 10 s),
    the same message when it does not come up or turns the login away, naming
    ``option``."""
    session = Session(url)
    session.retry_timeout = session.open_timeout()
    try:
        session.read(
            lambda conn: conn.exec_driver_sql("SELECT 1"),
            what=f"open the database {shown_url(url)} ({option})",
        )
    finally:
        session.close()
