"""What scripts written for ``wandb sweep`` / ``wandb agent``, and Unix pipelines, expect
of the ``localsweep`` command: wandb's options that have no work to do here are taken (or
refused naming what does their job), and a closed pipe ends a command quietly."""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

__all__ = [
    "CLOSED_PIPE_EXIT",
    "ClosedPipeGroup",
    "db_for_elsewhere",
    "forward_signals_option",
    "wandb_sweep_flags",
    "with_program",
]

F = TypeVar("F", bound=Callable[..., Any])

#: The exit code after the reader of stdout went away (`localsweep show ID | head -1`):
#: 128 + SIGPIPE, what a shell reports for `git log | head -1` or `seq 1e9 | head -1`.
#: Not 0: not everything was written; not 1: nothing failed.
CLOSED_PIPE_EXIT = 141


class ClosedPipeGroup(click.Group):
    """A command group that ends quietly, exit :data:`CLOSED_PIPE_EXIT`, when its
    output's reader went away."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        # `localsweep --version | true`, `--help | head -1`: the top-level eager options
        # print while the arguments are parsed, before `invoke`; click's own answer to
        # a closed pipe there is exit 1.
        try:
            return super().make_context(info_name, args, parent, **extra)
        except OSError as exc:
            if exc.errno != errno.EPIPE:
                raise
            _end_on_closed_pipe()

    def invoke(self, ctx: click.Context) -> Any:
        from rich.console import Console

        # rich's own answer to a closed pipe is exit 1, the code of a failure: its
        # documented hook says it to us instead, for every console a command prints on.
        Console.on_broken_pipe = _rich_closed_pipe  # type: ignore[method-assign,assignment]
        try:
            return super().invoke(ctx)
        except click.NoSuchOption as exc:
            # `localsweep show ID --debug`: click's "Did you mean '--db'?" would mislead.
            if exc.option_name != "--debug" or exc.ctx is None:
                raise
            names, sub = [], exc.ctx
            while sub.parent is not None:
                names.append(sub.info_name or "")
                sub = sub.parent
            command = " ".join(reversed(names))
            raise click.NoSuchOption(
                "--debug",
                message=f"No such option for `{command}`: --debug goes before the command "
                f"(localsweep --debug {command} ...)",
                ctx=exc.ctx,
            ) from None
        except OSError as exc:  # BrokenPipeError, or EPIPE said otherwise
            if exc.errno != errno.EPIPE:
                raise
            _end_on_closed_pipe()


def _rich_closed_pipe(console: Any) -> None:
    console.quiet = True
    raise BrokenPipeError(errno.EPIPE, "the reader of the output went away")


def _end_on_closed_pipe() -> NoReturn:
    """Exit with :data:`CLOSED_PIPE_EXIT`, and nothing more written: what is still
    buffered for the closed pipe goes to /dev/null, or Python would fail to flush it at
    exit and print that it could not (and exit 120)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            os.dup2(devnull, stream.fileno())
    os.close(devnull)
    sys.exit(CLOSED_PIPE_EXIT)


# ------------------------------------------------------------------------------ agent

# `wandb agent --forward-signals`: what localsweep always does.
forward_signals_option = click.option(
    "--forward-signals",
    is_flag=True,
    expose_value=False,
    help="Accepted for wandb's scripts: signals always reach the runs (-f is --function).",
)


# ------------------------------------------------------------------------------ sweep


def _refuse_update(_ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        raise click.UsageError(
            f"localsweep has no --update (wandb's changes the config of a sweep no run has "
            f"started): create a new sweep from the edited config, with the runs of "
            f"{value} to learn from: `localsweep sweep -R {value} CONFIG`"
        )


def _controller_note(_ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        from localsweep._cli_common import err_console

        err_console.print(
            "--controller: nothing to start; localsweep's agent is the sweep's controller "
            "(each agent picks its runs' parameters from the database)",
            highlight=False,
            soft_wrap=True,
        )


def wandb_sweep_flags(fn: F) -> F:
    """The options of ``wandb sweep`` that have no work to do here, so that its scripts
    run unchanged: ``--controller`` (the agent is the controller; said once on stderr) and
    ``--verbose`` (accepted, no-op); ``--update ID`` is refused naming what does its job."""
    decorated: Any = click.option(
        "--update",
        default=None,
        metavar="SWEEP_ID",
        expose_value=False,
        callback=_refuse_update,
        help="wandb's; refused: create a new sweep with -R SWEEP_ID to carry its runs.",
    )(fn)
    decorated = click.option(
        "--verbose", is_flag=True, expose_value=False, help="Accepted for wandb's scripts."
    )(decorated)
    return click.option(
        "--controller",
        is_flag=True,
        expose_value=False,
        callback=_controller_note,
        help="Accepted for wandb's scripts: the agent is the controller.",
    )(decorated)


def with_program(config: Any, program: str) -> Any:
    """``config`` with ``program`` in place of its own, as ``wandb sweep --program`` sets
    it: parsed again, so that what depends on the program is checked for this one."""
    import dataclasses

    from localsweep.config import parse_config

    raw = {**config.raw, "program": program}
    return dataclasses.replace(parse_config(raw), source_dir=config.source_dir)


def db_for_elsewhere(db: str | None) -> str | None:
    """The database for an agent started in another folder than this one (the sweep was
    told to start it where its program is): a SQLite path by its absolute path, which a
    relative one (the default ``./localsweep.db`` too) would not find there. The database
    ``LOCALSWEEP_DB`` gives stays out of the command (the variable goes with the user)
    unless it is a relative path, which the variable would take to the other folder."""
    context = click.get_current_context()
    from_variable = context.get_parameter_source("db") is click.core.ParameterSource.ENVIRONMENT
    if db is not None and ("://" in db or db == ":memory:"):
        return db
    if from_variable and db is not None and Path(db).expanduser().is_absolute():
        return db
    from localsweep.store._engine import DEFAULT_DB_FILENAME

    return str(Path(db or DEFAULT_DB_FILENAME).expanduser().resolve())
