"""Database URLs as the user sees them: the password masked, the driver checked.

A URL such as ``postgresql+psycopg://sweeper:secret@db:5432/sweeps`` carries a password;
every message, log line and page that shows a URL shows it through :func:`shown_url`
(``sweeper:***@``), and a command line suggested to the user leaves it out
(:func:`url_without_password`), saying how to pass it instead (:data:`PASSWORD_HINT`).

:func:`create_engine_for` turns what SQLAlchemy raises for a URL it cannot use (a
dialect spelt another way, a driver that is not installed, a port that is not a number)
into one :class:`~localsweep.errors.DatabaseURLError` that says what to write instead.
"""

from __future__ import annotations

import re
from typing import Any

from localsweep.errors import DatabaseURLError

__all__ = [
    "PASSWORD_HINT",
    "create_engine_for",
    "has_password",
    "shown_url",
    "url_without_password",
]

# SQLAlchemy's URL grammar: ``name://user:password@host``, where the password runs to the
# last ``@`` before the host (it may hold ``:`` and ``/``, not a bare ``@``).
_USER_PASSWORD = re.compile(r"(?P<head>\b[A-Za-z][\w+.-]*://[^:/@\s'\"]*):(?P<pw>[^@\s'\"]*)@")

#: How to give a database password without writing it on a command line.
PASSWORD_HINT = (
    "set LOCALSWEEP_DB to the URL with its password, or put the password in ~/.pgpass "
    "(host:port:database:user:password, mode 600) or PGPASSWORD"
)

#: The driver localsweep is tested with, and how to install it.
_TESTED = "postgresql+psycopg://"
_INSTALL = "pip install 'localsweep[postgres]'"


def shown_url(text: str) -> str:
    """``text`` (a database URL, or a message holding one) with every URL's password
    replaced by ``***``: what localsweep prints, logs and stores wherever a URL is shown.

    >>> shown_url("postgresql+psycopg://sweeper:secret@db:5432/sweeps")
    'postgresql+psycopg://sweeper:***@db:5432/sweeps'
    """
    return _USER_PASSWORD.sub(r"\g<head>:***@", text)


def has_password(url: str) -> bool:
    """Whether ``url`` carries a password (``user:password@``)."""
    return _USER_PASSWORD.search(url) is not None


def url_without_password(url: str) -> str:
    """``url`` with its password left out (``user@host``), for a command line to suggest;
    the driver then reads the password from ``~/.pgpass`` or ``PGPASSWORD``.

    >>> url_without_password("postgresql+psycopg://sweeper:secret@db/sweeps")
    'postgresql+psycopg://sweeper@db/sweeps'
    """
    return _USER_PASSWORD.sub(r"\g<head>@", url)


def create_engine_for(url: str, **kwargs: Any) -> Any:
    """``sqlalchemy.create_engine(url, **kwargs)``, raising :class:`DatabaseURLError` with
    the fix when the URL names a dialect or driver that cannot be loaded, or cannot be
    parsed."""
    from sqlalchemy import create_engine
    from sqlalchemy.exc import ArgumentError, NoSuchModuleError

    try:
        return create_engine(url, **kwargs)
    except NoSuchModuleError as exc:
        raise DatabaseURLError(_unknown_dialect(url)) from exc
    except ImportError as exc:
        raise DatabaseURLError(_missing_driver(url, exc)) from exc
    except (ArgumentError, ValueError) as exc:
        raise DatabaseURLError(
            f"cannot use the database URL {shown_url(url)}: {exc}. Write it as "
            f"{_TESTED}USER@HOST:PORT/DATABASE (any SQLAlchemy URL), or a SQLite file path"
        ) from exc


def _scheme(url: str) -> tuple[str, str | None]:
    """The dialect and driver a URL asks for (``postgresql+psycopg2`` -> both)."""
    scheme = url.split("://", 1)[0]
    dialect, _, driver = scheme.partition("+")
    return dialect, driver or None


def _unknown_dialect(url: str) -> str:
    dialect, driver = _scheme(url)
    head = f"cannot use the database URL {shown_url(url)}: "
    if dialect == "postgres":
        fixed = _TESTED + _after_scheme(url)
        return (
            f"{head}SQLAlchemy has no dialect 'postgres' (postgres:// is Heroku's spelling "
            f"of postgresql://). Write {fixed} (installed by {_INSTALL})"
        )
    if driver is not None:
        return (
            f"{head}SQLAlchemy's {dialect} dialect has no driver {driver!r}. Check the "
            f"spelling after '+'; for PostgreSQL write {_TESTED}... (installed by {_INSTALL})"
        )
    return (
        f"{head}SQLAlchemy has no dialect {dialect!r}. Give a SQLite file path, or a "
        f"PostgreSQL URL: {_TESTED}USER@HOST:PORT/DATABASE (installed by {_INSTALL})"
    )


def _missing_driver(url: str, exc: ImportError) -> str:
    dialect, driver = _scheme(url)
    module = exc.name or str(exc)
    asked = f"the driver {driver!r}" if driver else f"the {dialect} dialect's default driver"
    head = (
        f"cannot use the database URL {shown_url(url)}: it asks for {asked}, whose Python "
        f"module {module!r} is not installed. "
    )
    if module == "psycopg":
        return f"{head}Install it with {_INSTALL}"
    if dialect == "postgresql":
        return (
            f"{head}localsweep is tested with psycopg: write {_TESTED}{_after_scheme(url)} "
            f"(installed by {_INSTALL}), or install that driver"
        )
    return (
        f"{head}Install that driver, or use PostgreSQL through psycopg, which localsweep is "
        f"tested with: {_TESTED}USER@HOST:PORT/DATABASE (installed by {_INSTALL})"
    )


def _after_scheme(url: str) -> str:
    """What follows ``://`` in ``url``, its password masked."""
    return shown_url(url).split("://", 1)[-1]
