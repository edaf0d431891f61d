"""What :mod:`localsweep.api` shows of a sweep beside its record: its state as the CLI, ui
and report show it, and its config as wandb.Api returns it.

Kept apart from :mod:`localsweep.api` (no database import) so the report can use it cheaply.

>>> shown_state("FINISHED", "stopped")
'finished (stopped)'
>>> shown_state("CANCELED", "canceled")
'canceled'
"""

from __future__ import annotations

import copy
import enum
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from localsweep.config import Parameter

__all__ = ["filled_parameters", "shown_state", "state_word"]

#: The keys wandb's sweep config schema fills with a default, besides ``distribution``.
_DEFAULTED = ("q", "mu", "sigma", "a", "b")


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


def filled_parameters(raw: Mapping[str, Any], parameters: Iterable[Parameter]) -> dict[str, Any]:
    """A copy of the config ``raw`` with each parameter's ``distribution`` and its schema
    defaults filled in, as wandb's sweeps engine fills them (``SweepConfig``:
    ``fill_parameter``, the first schema branch that fits), from localsweep's reading of
    it (``parameters``, the same inference). What is written is never changed."""
    out = copy.deepcopy(dict(raw))
    for param in parameters:
        spec: Any = out
        for name in param.path:
            block = spec.get("parameters") if isinstance(spec, dict) else None
            spec = block.get(name) if isinstance(block, dict) else None
        if not isinstance(spec, dict):
            continue
        spec.setdefault("distribution", param.distribution.value)
        for key in _DEFAULTED:
            value = getattr(param, key)
            if value is not None:
                spec.setdefault(key, value)
    return out
