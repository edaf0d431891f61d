"""Whose clock a run's times are written by: the database server's on PostgreSQL, this
host's on SQLite.

Agents on several machines share a PostgreSQL database, and their clocks need not agree:
a run claimed by one agent and reaped by another whose clock is an hour behind ended, by
their own clocks, before it started (a negative runtime), and a viewer whose clock is
five minutes fast took every running run for silent. So every time of a run (its claim,
its heartbeats, its end, whoever writes it) comes from the server's clock there, and a
viewer judges heartbeats against that clock too (:func:`read_db_now`). SQLite has one
host, whose clock is the database's.

:func:`db_now` is SQL on PostgreSQL and a plain value elsewhere, so a statement built
with it is the same on both; the ``SERVER_*`` expressions are PostgreSQL's alone.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, DateTime, Engine, func, select
from sqlalchemy.sql.elements import ColumnElement

from localsweep.store._tables import now

__all__ = [
    "SERVER_NOW",
    "SERVER_NOW_ONCE",
    "SERVER_STATEMENT_TIME",
    "db_now",
    "read_db_now",
    "server_clock",
]

#: Now by the server's clock (UTC, naive, as stored): ``clock_timestamp()``, not
#: ``now()``, which is when the transaction began (see :func:`db_now`).
SERVER_NOW = func.timezone("UTC", func.clock_timestamp(), type_=DateTime)
#: When the statement began by the server's clock: one value wherever one statement uses
#: it, so a new run's ``created_at`` and first heartbeat are the same time.
SERVER_STATEMENT_TIME = func.timezone("UTC", func.statement_timestamp(), type_=DateTime)
#: :data:`SERVER_NOW` read once per statement, however often the statement uses it: from a
#: ``WITH`` query, which PostgreSQL evaluates once when it calls a volatile function. A
#: run's end sets ``finished_at`` and ``heartbeat_at`` from it, where ``clock_timestamp()``
#: written twice would give two values (microseconds apart).
SERVER_NOW_ONCE = select(
    select(SERVER_NOW.label("now")).cte("server_clock").c.now
).scalar_subquery()


def server_clock(conn: Connection | Engine) -> bool:
    """Whether run times are written by the database server's clock on ``conn`` (not
    this host's)."""
    return conn.dialect.name == "postgresql"


def db_now(conn: Connection) -> datetime | ColumnElement[Any]:
    """Now by the database's clock on servers (UTC, naive, as stored); this host's clock
    on SQLite, which has only one host. PostgreSQL's ``clock_timestamp()``, not
    ``now()``: that is when the transaction began, which for a claim that waited on the
    sweep's lock may be longer ago than the heartbeat timeout, and the run would be born
    looking dead."""
    return SERVER_NOW if server_clock(conn) else now()


def read_db_now(conn: Connection) -> datetime:
    """Now by the database's clock, as a value (one query on servers, none on SQLite):
    what a viewer judges heartbeats against, whatever its own clock says."""
    if not server_clock(conn):
        return now()
    value: datetime = conn.execute(select(SERVER_NOW)).scalar_one()
    return value
