"""A database URL that cannot work fails at once with the fix, and a password in a URL is
never shown. The server tests run against a real PostgreSQL whose test role logs in with a
password (``postgres_password_db``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

import localsweep
from localsweep.config import parse_config
from localsweep.errors import DatabaseURLError, LocalsweepError, NotFoundError
from localsweep.store import Store
from localsweep.store._urls import shown_url, url_without_password

PASSWORD = "pick-a-password"

GRID = {
    "method": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"x": {"values": [1, 2]}},
}


def _with(url: str, **parts: object) -> str:
    return make_url(url).set(**parts).render_as_string(hide_password=False)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ masking


def test_shown_url_masks_the_password_and_keeps_the_rest() -> None:
    url = "postgresql+psycopg://sweeper:s3cr:et/x@db.internal:5432/sweeps"
    assert shown_url(url) == "postgresql+psycopg://sweeper:***@db.internal:5432/sweeps"
    assert shown_url(f"no sweep 'ls-x' in {url}") == (
        "no sweep 'ls-x' in postgresql+psycopg://sweeper:***@db.internal:5432/sweeps"
    )


def test_shown_url_leaves_urls_without_a_password_alone() -> None:
    for url in (
        "postgresql+psycopg://sweeper@db:5432/sweeps",
        "postgresql+psycopg://db:5432/sweeps",
        "sqlite:////home/me/sweeps.db",
    ):
        assert shown_url(url) == url


def test_url_without_password_leaves_the_user() -> None:
    assert url_without_password("postgresql+psycopg://sweeper:pw@db:5432/sweeps") == (
        "postgresql+psycopg://sweeper@db:5432/sweeps"
    )


# ------------------------------------------------------------------------------ drivers


@pytest.mark.skipif(importlib.util.find_spec("psycopg2") is not None, reason="psycopg2 here")
def test_a_driver_that_is_not_installed_is_named_with_what_to_write() -> None:
    with pytest.raises(DatabaseURLError) as caught:
        Store(f"postgresql+psycopg2://sweeper:{PASSWORD}@127.0.0.1:1/sweeps")
    message = str(caught.value)
    assert "'psycopg2'" in message
    assert "postgresql+psycopg://sweeper:***@127.0.0.1:1/sweeps" in message
    assert "pip install 'localsweep[postgres]'" in message
    assert PASSWORD not in message


def test_postgres_scheme_is_said_to_be_postgresql() -> None:
    with pytest.raises(DatabaseURLError, match=r"Heroku's spelling of postgresql://"):
        Store("postgres://sweeper@127.0.0.1:1/sweeps")


@pytest.mark.skipif(importlib.util.find_spec("MySQLdb") is not None, reason="MySQLdb here")
def test_python_api_raises_one_localsweep_error_for_a_missing_driver(tmp_path: Path) -> None:
    with pytest.raises(LocalsweepError) as caught:
        localsweep.sweep(GRID, db=f"mysql://u:{PASSWORD}@127.0.0.1/sweeps")
    assert isinstance(caught.value, DatabaseURLError)
    assert "'MySQLdb'" in str(caught.value) and "Install that driver" in str(caught.value)
    assert not isinstance(caught.value, ModuleNotFoundError)


# ------------------------------------------------------------------- a server says no


@pytest.mark.postgres
@pytest.mark.slow
def test_wrong_password_fails_at_once_naming_the_password(postgres_password_db: str) -> None:
    url = _with(postgres_password_db, password="wrong-password")
    # A bound long enough that the old retrying would end in "unreachable" instead.
    with pytest.raises(DatabaseURLError) as caught:
        Store(url, retry_timeout=60)
    message = str(caught.value)
    assert "password authentication failed" in message
    assert "Check the user and password in the URL" in message
    assert "~/.pgpass" in message and "PGPASSWORD" in message
    assert "unreachable" not in message
    assert "wrong-password" not in message


@pytest.mark.postgres
@pytest.mark.slow
def test_missing_database_fails_at_once_saying_createdb(postgres_password_db: str) -> None:
    url = _with(postgres_password_db, database="nosuchdb")
    with pytest.raises(DatabaseURLError) as caught:
        Store(url, retry_timeout=60)
    message = str(caught.value)
    assert 'database "nosuchdb" does not exist' in message
    parsed = make_url(url)
    assert f"createdb -h {parsed.host} -p {parsed.port} -U {parsed.username} nosuchdb" in message
    assert PASSWORD not in message


@pytest.mark.postgres
@pytest.mark.slow
def test_missing_role_fails_at_once_naming_the_user(postgres_db: str) -> None:
    # The session's server trusts every user, so it says the role is not there.
    url = _with(postgres_db, username="nobody_here")
    with pytest.raises(DatabaseURLError) as caught:
        Store(url, retry_timeout=60)
    message = str(caught.value)
    assert 'role "nobody_here" does not exist' in message
    assert "Check the user name in the URL" in message


@pytest.mark.postgres
@pytest.mark.slow
def test_password_changed_mid_sweep_is_the_stores_error_at_once(
    postgres_password_db: str, postgres_db: str
) -> None:
    store = Store(postgres_password_db, retry_timeout=60)
    try:
        sweep = store.create_sweep(parse_config(GRID))
        role = make_url(postgres_password_db).username
        admin = make_url(postgres_db)
        with psycopg.connect(
            host=admin.host,
            port=admin.port,
            user=admin.username,
            dbname="postgres",
            autocommit=True,
        ) as conn:
            conn.execute(f"ALTER ROLE {role} PASSWORD 'rotated'")
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                (role,),
            )
        with pytest.raises(DatabaseURLError, match="password authentication failed"):
            store.get_sweep(sweep.id)
    finally:
        store.close()


@pytest.mark.postgres
@pytest.mark.slow
def test_not_found_names_the_database_without_its_password(postgres_password_db: str) -> None:
    store = Store(postgres_password_db)
    try:
        with pytest.raises(NotFoundError) as caught:
            store.get_sweep("ls-nope")
    finally:
        store.close()
    assert PASSWORD not in str(caught.value)
    assert shown_url(postgres_password_db) in str(caught.value)


def test_the_upgrade_command_suggested_leaves_the_password_out() -> None:
    from sqlalchemy import create_engine

    from localsweep.store._migrate import _upgrade_command

    command = _upgrade_command(create_engine(f"postgresql+psycopg://sweeper:{PASSWORD}@db/s"))
    assert command.startswith("localsweep db upgrade --db postgresql+psycopg://sweeper@db/s ")
    assert "~/.pgpass" in command and PASSWORD not in command
