"""What :mod:`localsweep.api` shows of a sweep beside its record: its state as the CLI, ui
and report show it.

Kept apart from :mod:`localsweep.api` (no database import) so the report can use it cheaply.

>>> shown_state("FINISHED", "stopped")
'finished (stopped)'
>>> shown_state("CANCELED", "canceled")
'canceled'
"""

from __future__ import annotations

import enum

__all__ = ["shown_state", "state_word"]


def state_word(state: str | enum.Enum) -> str:
    """The state's one word as the CLI prints it: wandb's name in lower case (``pending``,
    ``running``, ``paused``, ``finished``, ``canceled`` with wandb's one L); ``state`` is
    :attr:`localsweep.api.Sweep.state` (``FINISHED``) or the store's state."""
    value = state.value if isinstance(state, enum.Enum) else state
    return str(value).lower()


def shown_state(state: str | enum.Enum, finished_reason: str | None = None) -> str:
    """The state as shown to a person: its word, and why it ended when that says more
    (``finished (stopped)``, ``finished (exhausted)``; a cancelled sweep is ``canceled``,
    not ``canceled (canceled)``)."""
    word = state_word(state)
    if finished_reason and finished_reason != word:
        return f"{word} ({finished_reason})"
    return word

