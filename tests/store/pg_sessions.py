"""Other PostgreSQL sessions for the tests of lock waits and cancelled statements: one that
holds a sweep's row as a slow or suspended agent would, settings for localsweep's role, and
a watch on who waits for a lock (shared by tests/store and tests/agent)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
import pytest
from sqlalchemy.engine import make_url

__all__ = ["admin", "set_for_localsweep", "sweep_row_held", "wait_for_waits"]


def admin(url: str, database: str | None = None) -> psycopg.Connection:
    """An autocommit session as the test server's superuser (the URL's user), on
    ``database`` or the URL's own."""
    parsed = make_url(url)
    return psycopg.connect(
        host=parsed.host,
        port=parsed.port,
        user=parsed.username,
        dbname=database or parsed.database,
        autocommit=True,
    )


def set_for_localsweep(url: str, setting: str, value: str) -> None:
    """Set ``setting`` for localsweep's role in this test's database (new sessions get it)."""
    parsed = make_url(url)
    with admin(url) as conn:
        conn.execute(
            f'ALTER ROLE "{parsed.username}" IN DATABASE "{parsed.database}" '
            f"SET {setting} = '{value}'"
        )


@contextmanager
def sweep_row_held(url: str, sweep_id: str) -> Iterator[psycopg.Connection]:
    """Another session holding the sweep's row ``FOR UPDATE`` (a slow or suspended agent)
    until the block ends; yields a second connection to watch the waiters with."""
    with admin(url) as holder, admin(url) as watch:
        holder.execute("SET lock_timeout = 0")
        holder.execute("SET statement_timeout = 0")
        holder.execute("BEGIN")
        holder.execute("SELECT id FROM sweeps WHERE id = %s FOR UPDATE", (sweep_id,))
        try:
            yield watch
        finally:
            holder.execute("COMMIT")


def wait_for_waits(
    watch: psycopg.Connection,
    count: int,
    *,
    alive: Callable[[], bool] = lambda: True,
    seen: set[tuple[int, str]] | None = None,
) -> set[tuple[int, str]]:
    """Until ``count`` distinct transactions have waited for a lock: a transaction that
    waits again after a cancel is a new one (its virtual transaction id), so two mean the
    work was cancelled and retried. Returns them as (backend pid, transaction), in
    ``seen`` (those seen before) if given."""
    seen = set() if seen is None else seen
    deadline = time.monotonic() + 120
    while len(seen) < count:
        rows = watch.execute(
            "SELECT pid, virtualtransaction FROM pg_locks WHERE NOT granted AND pid IS NOT NULL"
        ).fetchall()
        seen |= {(int(pid), str(vxid)) for pid, vxid in rows}
        if not alive():
            pytest.fail(f"the work ended before {count} waits (seen: {seen})")
        if time.monotonic() > deadline:
            pytest.fail(f"never {count} waits for the sweep's lock (seen: {seen})")
        time.sleep(0.01)
    return seen
