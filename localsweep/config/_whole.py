"""Whole-number floats as ints, as a run's config comes through W&B's server (no numpy
here: :func:`whole_floats_as_ints` runs where a run is claimed, and ``import localsweep``
stays light)."""

from __future__ import annotations

import numbers
from typing import Any

__all__ = ["plain_numbers", "whole_floats_as_ints"]

#: Go's ``encoding/json`` writes a float64 below this without exponent or fraction
#: (``2``, ``100000000000000000000``), which reads back as an int; from here on it writes
#: ``1e+21``, which reads back as a float.
_GO_PLAIN_BELOW = 1e21


def whole_floats_as_ints(config: Any) -> Any:
    """``config`` as W&B's server hands it to a run: every finite float with no
    fractional part is the int it equals, in nested dicts and lists too.

    The server keeps a run's config as JSON written by Go, which writes the float64 ``2.0``
    as ``2``; the agent reads that back as an int, so ``values: [2.0, 3.0]`` reaches the
    program as ``--epochs=2`` and ``wandb.config.epochs == 2`` (sweeps' ``yaml_hash`` notes
    the same for ``3e6``). Floats of 1e21 or more stay floats, as Go writes them with an
    exponent; bools, NaN and infinities are left alone. Tuples come back as lists, as JSON
    gives them.

    >>> whole_floats_as_ints({"epochs": 2.0, "opt": {"lr": 0.5, "steps": [1.0, 2.5]}})
    {'epochs': 2, 'opt': {'lr': 0.5, 'steps': [1, 2.5]}}
    """
    return plain_numbers(config, _GO_PLAIN_BELOW)


def plain_numbers(value: Any, below: float) -> Any:
    """Whole floats smaller than ``below`` (in size) as ints; tuples as lists (a tuple
    would dump to YAML with a python-specific tag and hash unlike the list it stands for)."""
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        f = float(value)
        return int(f) if f.is_integer() and abs(f) < below else value
    if isinstance(value, tuple | list):
        return [plain_numbers(v, below) for v in value]
    if isinstance(value, dict):
        return {k: plain_numbers(v, below) for k, v in value.items()}
    return value
