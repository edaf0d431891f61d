"""What every ``localsweep`` command shares: ``--db`` and errors said as one line."""

from __future__ import annotations

import contextlib
import functools
import math
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from localsweep._agent_options import names_no_gpu, split_gpus
from localsweep._console import CliConsole
from localsweep._console import safe_text as _e
from localsweep._function_ref import check_function_form, function_example, load_function
from localsweep._hints import suggested_db_flag
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

__all__ = [
    "ALLOW_NETWORK_FS",
    "F",
    "check_gpus",
    "check_output_path",
    "db_option",
    "err_console",
    "execution_options",
    "friendly",
    "function_example",
    "function_options",
    "load_function",
    "max_failures_option",
    "nonempty_db",
    "suggested_db_flag",
]

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


def nonempty_db(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """Refuse an empty ``--db`` (the callback of every ``--db`` option), exit code 2."""
    # `--db "$DB"` with DB unset would mean ./localsweep.db: each job of a cluster script
    # its own database in its own folder. An empty LOCALSWEEP_DB is unset (click gives None).
    if value is not None and not value.strip():
        raise click.BadParameter(
            "an empty --db names no database (an unset variable, most likely): give the "
            "database's path or URL, or leave --db out for LOCALSWEEP_DB or "
            "./localsweep.db"
        )
    return value


def check_output_path(
    path: str | os.PathLike[str],
    option: str,
    what: str,
    *,
    folder: bool = False,
    make_folders: bool = True,
) -> None:
    """Refuse (exit code 2, naming ``option``) a path no file (``folder=True``: folder)
    can be written at, before any work is done; ``what`` is what would be written there
    ("the report"). The check of ``--db``'s SQLite file (see localsweep._writable)."""
    from localsweep._writable import unwritable

    problem = unwritable(path, folder=folder, make_folders=make_folders)
    if problem is not None:
        raise click.BadParameter(
            problem.said(f"{what} to {os.fspath(path)}", option), param_hint=option
        )


def db_option(fn: F) -> F:
    """``--db`` and ``--allow-network-fs``, for every command that opens the database."""
    fn = click.option("--allow-network-fs", **ALLOW_NETWORK_FS)(fn)
    return click.option(
        "--db",
        envvar="LOCALSWEEP_DB",
        default=None,
        callback=nonempty_db,
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
            # Whole, not folded mid-word: the command it suggests must copy as printed.
            err_console.print(_e(message), highlight=False, soft_wrap=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


# ------------------------------------------------------------------------------ agent, run


def _set_store_timeout(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if value is not None and math.isnan(value):
        raise click.BadParameter("give a number of seconds (inf: retry as long as it takes)")
    # Through the environment, so that the store of every run's process gets it too.
    if value is not None:
        os.environ["LOCALSWEEP_STORE_TIMEOUT"] = str(value)


def check_gpus(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--gpus`` names at least one device (``--gpus ,,`` gave the workers none, silently),
    read by ``split_gpus`` as ``gpus="0,1"`` of ``localsweep.agent``/``run`` is."""
    if value is not None and not split_gpus(value):
        raise click.BadParameter(names_no_gpu(value, "--gpus 0,1"))
    return value


def execution_options(fn: F) -> F:
    """The options of `agent` and `run` that say how runs are executed."""
    options = [
        click.option(
            "--workers",
            type=click.IntRange(min=1),
            default=None,
            help="Runs at a time, each in its own process [default: one per GPU, else 1].",
        ),
        click.option(
            "--gpus",
            default=None,
            callback=check_gpus,
            metavar="0,1,...",
            help="Give each worker its own CUDA_VISIBLE_DEVICES, in turn.",
        ),
        click.option(
            "--isolation",
            type=click.Choice(["thread", "process"]),
            default="thread",
            show_default=True,
            help="With --function: run it in this process, or a fresh process per run.",
        ),
        click.option(
            "--timeout",
            type=click.FloatRange(min=0, min_open=True),
            default=None,
            metavar="SECONDS",
            help="End a run that takes longer (program mode or --isolation process).",
        ),
        click.option(
            "--store-timeout",
            type=click.FloatRange(min=0, min_open=True),
            default=None,
            expose_value=False,
            callback=_set_store_timeout,
            metavar="SECONDS",
            help="How long to retry when the database cannot be reached before stopping "
            "[env LOCALSWEEP_STORE_TIMEOUT; default 180; inf: no bound].",
        ),
        click.option(
            "--grace-period",
            # wandb agent's name for it: the wait before a stopped run is killed.
            "--term-timeout",
            "-t",
            "grace_period",
            type=click.FloatRange(min=0),
            default=10.0,
            show_default=True,
            metavar="SECONDS",
            help="Wait between SIGINT, SIGTERM and SIGKILL when a child run is stopped "
            "(wandb agent's --term-timeout).",
        ),
        click.option(
            "--quiet",
            "-q",
            is_flag=True,
            default=False,
            help="No progress: neither the bar (in a terminal) nor a line per run (elsewhere).",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def function_options(fn: F) -> F:
    """``--function``, ``--project`` and ``--entity`` of `agent` and `run` (the last two
    said as `localsweep sweep` says them)."""
    fn = click.option(
        "--entity", "-e", default=None, help="wandb entity (kept for `localsweep sync`)."
    )(fn)
    fn = click.option(
        "--project", "-p", default=None, help="wandb project the runs are filed under."
    )(fn)
    return click.option(
        "--function",
        "-f",
        "function_ref",
        default=None,
        metavar="MODULE:FUNC",
        callback=check_function_form,
        help="Run a Python function in-process instead of the config's program.",
    )(fn)


# `wandb agent`'s name for it; `localsweep agent` and `localsweep run` both take it.
max_failures_option = click.option(
    "--max-consecutive-failed-runs",
    type=click.IntRange(min=1),
    default=None,
    help="Stop after this many runs in a row have failed.  [default: 5, or "
    "$WANDB_AGENT_MAX_INITIAL_FAILURES]",
)
