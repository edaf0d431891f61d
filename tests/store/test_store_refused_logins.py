"""A server that is up and turns the login away is said as such: a role that may not log in
(NOLOGIN) or lacks the CONNECT privilege stops at once with the fix, as a wrong password
does; a server with every connection slot taken is retried (a slot may free up) but is not
called unreachable; a database dropped under a sweep is said to be gone, not to be created.
Real PostgreSQL, real roles."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest
from pg_sessions import admin
from sqlalchemy.engine import make_url

from localsweep.config import SweepConfig
from localsweep.errors import DatabaseURLError, StoreUnavailableError
from localsweep.store import Store
from localsweep.store._urls import shown_url

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture
def role_db(postgres_db: str) -> Iterator[tuple[str, str]]:
    """A database owned by a role of its own (the session's server trusts every login):
    yields (the role, the database's URL as that role)."""
    role = f"sweeper_{uuid.uuid4().hex[:8]}"
    database = make_url(postgres_db).database
    with admin(postgres_db) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
        conn.execute(f'ALTER DATABASE "{database}" OWNER TO {role}')
        conn.execute(f"ALTER SCHEMA public OWNER TO {role}")
    yield role, make_url(postgres_db).set(username=role).render_as_string(hide_password=False)


def _turn_away(admin_url: str, role: str, statement: str) -> None:
    """Run ``statement`` as the admin, then end the role's sessions (its next connection is
    a new login)."""
    with admin(admin_url, "postgres") as conn:
        conn.execute(statement)
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", (role,)
        )


def test_a_role_made_nologin_mid_sweep_stops_at_once_naming_the_fix(
    role_db: tuple[str, str], postgres_db: str, grid: Callable[..., SweepConfig]
) -> None:
    role, url = role_db
    # A bound long enough that retrying it as an outage would fail the test's deadline.
    store = Store(url, retry_timeout=60)
    try:
        sweep = store.create_sweep(grid(2))
        _turn_away(postgres_db, role, f"ALTER ROLE {role} NOLOGIN")
        with pytest.raises(DatabaseURLError) as info:
            store.get_sweep(sweep.id)
    finally:
        store.close()
    message = str(info.value)
    assert f'role "{role}" is not permitted to log in' in message
    assert f"ALTER ROLE {role} LOGIN" in message
    assert "unreachable" not in message


def test_a_role_without_the_connect_privilege_is_refused_at_once_naming_the_grant(
    role_db: tuple[str, str], postgres_db: str
) -> None:
    role, url = role_db
    database = make_url(url).database
    with admin(postgres_db, "postgres") as conn:
        conn.execute(f'REVOKE CONNECT ON DATABASE "{database}" FROM PUBLIC')
        conn.execute(f'ALTER DATABASE "{database}" OWNER TO {make_url(postgres_db).username}')
    with pytest.raises(DatabaseURLError) as info:
        Store(url, retry_timeout=60)
    message = str(info.value)
    assert "User does not have CONNECT privilege" in message
    assert f"GRANT CONNECT ON DATABASE {database} TO {role}" in message
    assert "unreachable" not in message


def test_a_server_with_no_connection_slot_left_is_up_and_says_how_to_get_one(
    role_db: tuple[str, str], postgres_db: str
) -> None:
    role, url = role_db
    with admin(postgres_db, "postgres") as conn:
        conn.execute(f"ALTER ROLE {role} CONNECTION LIMIT 0")
    with pytest.raises(StoreUnavailableError) as info:
        Store(url, retry_timeout=1)
    message = str(info.value)
    assert f'too many connections for role "{role}"' in message
    assert "up but refuses new connections" in message
    assert "max_connections" in message and "fewer agents" in message
    assert "unreachable" not in message and "up and reachable" not in message


def test_a_database_dropped_mid_sweep_is_said_to_be_gone_not_to_be_created(
    postgres_db: str, grid: Callable[..., SweepConfig]
) -> None:
    store = Store(postgres_db, retry_timeout=60)
    try:
        sweep = store.create_sweep(grid(2))
        with admin(postgres_db, "postgres") as conn:
            conn.execute(f'DROP DATABASE "{make_url(postgres_db).database}" WITH (FORCE)')
        with pytest.raises(DatabaseURLError) as info:
            store.get_sweep(sweep.id)
    finally:
        store.close()
    message = str(info.value)
    assert f"could not read a sweep in {shown_url(postgres_db)}: " in message
    assert "is gone from the server" in message
    assert "createdb" not in message
