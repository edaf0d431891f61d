"""Sweep control on the command line: ``localsweep sweep --pause|--resume|--stop|--cancel ID``
(``wandb sweep``'s spelling) and ``localsweep pause|resume|stop|cancel ID``.

Thin over :meth:`localsweep.api.Sweep.pause` and friends; agents see the change within a few
seconds (they read the sweep's state every second).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

__all__ = ["ACTIONS", "control_flags", "control_sweep", "register_control_commands"]

F = TypeVar("F", bound=Callable[..., Any])

#: Each action and what it does, in the words the CLI prints.
ACTIONS: dict[str, str] = {
    "pause": "agents start no new run (running runs go on) until it is resumed",
    "resume": "agents start runs again",
    "stop": "running runs finish; no new run starts",
    "cancel": (
        "running runs are stopped (recorded killed, end reason cancelled; a function's run "
        "in its agent's own process at its next wandb.log); no new run starts"
    ),
}

_PAST = {"pause": "Paused", "resume": "Resumed", "stop": "Stopped", "cancel": "Cancelled"}


def control_flags(fn: F) -> F:
    """``--pause``, ``--resume``, ``--stop``, ``--cancel``: one ``control`` parameter (the
    action, or ``None``). More than one is refused, as ``wandb sweep`` refuses it: the
    last would win, and ``--resume --cancel`` would kill the runs of a user who meant to
    resume."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        chosen = [action for action in ACTIONS if kwargs.pop(f"control_{action}")]
        if len(chosen) > 1:
            given = " and ".join(f"--{action}" for action in chosen)
            raise click.UsageError(
                f"{given} were both given: only one of --pause, --resume, --stop, --cancel "
                "may be (as wandb sweep allows one state flag)"
            )
        return fn(*args, control=chosen[0] if chosen else None, **kwargs)

    decorated: Any = wrapper
    for action in reversed(list(ACTIONS)):
        decorated = click.option(
            f"--{action}",
            f"control_{action}",
            is_flag=True,
            default=False,
            help=f"{action.capitalize()} the sweep SWEEP_ID: {ACTIONS[action]}.",
        )(decorated)
    return decorated


def control_sweep(sweep_id: str, action: str, db: str | None) -> None:
    """Apply ``action`` to the sweep and say what it means (on stderr), printing its new
    state (on stdout)."""
    from rich.markup import escape

    from localsweep._api_state import shown_state, state_word
    from localsweep._console import CliConsole
    from localsweep.api import Api

    def _e(value: Any) -> str:
        return escape(str(value))

    sweep_id = sweep_id.rsplit("/", 1)[-1]
    sweep = Api(db).sweep(sweep_id)
    before = _where(sweep)
    sweep._control(action)
    state = _e(shown_state(sweep.state, sweep.finished_reason))
    if _where(sweep) == before:
        # Nothing to do: stop or cancel on a sweep that had already ended, pause on a
        # paused one. What was asked holds, so not an error; but say that nothing changed.
        ended = state_word(sweep.state) in ("finished", "canceled")
        was = f"had already ended ({state})" if ended else f"was already {state}"
        CliConsole(stderr=True).print(
            f"Sweep [bold]{_e(sweep.id)}[/] {was}: nothing changed.", highlight=False
        )
    else:
        CliConsole(stderr=True).print(
            f"{_PAST[action]} sweep [bold]{_e(sweep.id)}[/]: {ACTIONS[action]}. State: {state}.",
            highlight=False,
        )
    click.echo(state_word(sweep.state))


def _where(sweep: Any) -> tuple[Any, ...]:
    """What a control changes: the sweep's state, why it ended and when."""
    return sweep.state, sweep.finished_reason, sweep._record.finished_at


def _command(
    action: str, friendly: Callable[[Any], Any], db_option: Callable[[Any], Any]
) -> click.Command:
    @click.command(action, help=f"{action.capitalize()} a sweep: {ACTIONS[action]}.")
    @click.argument("sweep_id")
    @db_option
    @friendly
    def command(sweep_id: str, db: str | None) -> None:
        control_sweep(sweep_id, action, db)

    return command


def register_control_commands(group: click.Group, **decorators: Callable[[Any], Any]) -> None:
    """Add ``pause``, ``resume``, ``stop`` and ``cancel`` to the CLI; ``decorators`` are the
    CLI's ``friendly`` (errors as messages) and ``db_option``."""
    for action in ACTIONS:
        group.add_command(_command(action, decorators["friendly"], decorators["db_option"]))
