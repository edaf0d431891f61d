"""What every ``localsweep`` command shares: ``--db`` and errors said as one line."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from localsweep._console import CliConsole
from localsweep._console import safe_text as _e
from localsweep.errors import (
    ConfigError,
    DatabasePathError,
    LocalsweepError,
    NetworkFilesystemError,
    NotFoundError,
    ProgramNotFoundError,
    SweepControlError,
)

__all__ = ["ALLOW_NETWORK_FS", "F", "db_option", "err_console", "friendly"]

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


#: The user's mistakes: said in one line, exit code 2.
_BAD_INPUT = (
    ConfigError,
    NetworkFilesystemError,
    NotFoundError,
    SweepControlError,
    DatabasePathError,
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
            reason = getattr(exc, "orig", None) or exc
            err_console.print(f"[bold red]Database error:[/] {_e(reason)}", highlight=False)
            sys.exit(1)
        except KeyboardInterrupt as exc:
            message = str(exc) or "Interrupted."
            err_console.print(_e(message), highlight=False)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]
