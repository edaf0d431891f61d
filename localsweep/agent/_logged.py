"""Reading a value out of what a run logged: a metric by name (dotted paths reach into
nested dicts, as wandb's summary names them), as a number when it is one."""

from __future__ import annotations

import math
import numbers
from typing import Any

from localsweep.records import MISSING, lookup

__all__ = ["MISSING", "lookup", "metric_value", "valid"]


def metric_value(value: Any) -> float | None:
    """A logged value as a float, or ``None`` when it is not a number (bools are not)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    item = getattr(value, "item", None)  # numpy and torch scalars
    if callable(item):
        try:
            inner = item()
        except (TypeError, ValueError):
            return None
        return metric_value(inner)
    return None


def valid(value: float | None) -> bool:
    """Whether ``value`` is a finite number (what hyperband counts as an iteration)."""
    return value is not None and math.isfinite(value)
