"""What every ``localsweep`` command shares: ``--db`` and errors said as one line."""

from __future__ import annotations

import contextlib
import functools
import os
import shlex
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from localsweep._console import CliConsole
from localsweep._console import safe_text as _e
from localsweep.errors import (
    ConfigError,
    DatabasePathError,
    DatabaseURLError,
    LocalsweepError,
    NetworkFilesystemError,
    NotFoundError,
    ProgramNotFoundError,
    SweepControlError,
)

__all__ = ["ALLOW_NETWORK_FS", "F", "db_option", "err_console", "friendly", "suggested_db_flag"]

err_console = CliConsole(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


def _allow_network_fs(_ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    # The store reads the environment, so the agents' child processes inherit the choice.
    if value:
        os.environ["LOCALSWEEP_ALLOW_NETWORK_FS"] = "1"


ALLOW_NETWORK_FS: dict[str, Any] = {
    "is_flag": True,
    "is_eager": True,
    "expose_value": False,
    "callback": _allow_network_fs,
    "help": "Open a SQLite file on NFS, Lustre... anyway [env LOCALSWEEP_ALLOW_NETWORK_FS=1].",
}


def db_option(fn: F) -> F:
    """``--db`` and ``--allow-network-fs``, for every command that opens the database."""
    fn = click.option("--allow-network-fs", **ALLOW_NETWORK_FS)(fn)
    return click.option(
        "--db",
        envvar="LOCALSWEEP_DB",
        default=None,
        metavar="URL",
        help="Database: a SQLite path or SQLAlchemy URL "
        "[env LOCALSWEEP_DB; default ./localsweep.db].",
    )(fn)


def suggested_db_flag(db: str | None) -> tuple[str, str]:
    """The ``--db`` part of a command line suggested to the user, and a note to print
    beside it (empty unless a password was left out). A password is never written into
    a suggested command: with ``LOCALSWEEP_DB`` holding the URL, ``--db`` is left out (it
    would hide the variable); with ``--db``, its URL is given without the password and
    the note says how to pass it."""
    if not db:
        return "", ""
    from localsweep.store._urls import PASSWORD_HINT, has_password, url_without_password

    if not has_password(db):
        return f" --db {shlex.quote(db)}", ""
    if os.environ.get("LOCALSWEEP_DB") == db:
        return "", "(LOCALSWEEP_DB gives it the database, password included, as here)"
    flag = f" --db {shlex.quote(url_without_password(db))}"
    return flag, f"(the password is left out of --db: {PASSWORD_HINT})"


#: The user's mistakes: said in one line, exit code 2.
_BAD_INPUT = (
    ConfigError,
    NetworkFilesystemError,
    NotFoundError,
    SweepControlError,
    DatabasePathError,
    DatabaseURLError,
    ProgramNotFoundError,
)


def friendly(fn: F) -> F:
    """Turn our errors into a message and an exit code instead of a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        debug = click.get_current_context().find_root().params.get("debug", False)
        try:
            return fn(*args, **kwargs)
        except _BAD_INPUT as exc:
            if debug:
                raise
            err_console.print(f"[bold red]Error:[/] {_e(exc)}", highlight=False, soft_wrap=True)
            sys.exit(2)
        except LocalsweepError as exc:
            if debug:
                raise
            if isinstance(getattr(exc, "exit_code", None), int):  # SIGTERM: not an error
                # After SIGHUP the terminal may be gone: the exit code still says it.
                with contextlib.suppress(OSError):
                    err_console.print(_e(exc), highlight=False)
                sys.exit(exc.exit_code)  # type: ignore[attr-defined]
            err_console.print(f"[bold red]Error:[/] {_e(exc)}", highlight=False, soft_wrap=True)
            sys.exit(1)
        except Exception as exc:
            # The store maps what it expects; anything else from the database is still said
            # in one line. (SQLAlchemy is imported only by commands that open a database.)
            if debug or not type(exc).__module__.startswith("sqlalchemy"):
                raise
            from localsweep.store._urls import shown_url

            reason = shown_url(str(getattr(exc, "orig", None) or exc))
            err_console.print(f"[bold red]Database error:[/] {_e(reason)}", highlight=False)
            sys.exit(1)
        except KeyboardInterrupt as exc:
            message = str(exc) or "Interrupted."
            err_console.print(_e(message), highlight=False)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]
