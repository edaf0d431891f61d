"""Reading a value out of what a run logged: a metric by name (dotted paths reach into
nested dicts, as wandb's summary names them), as a number when it is one."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

__all__ = ["MISSING", "lookup", "metric_value", "valid"]

#: What :func:`lookup` returns for a name the row lacks.
MISSING = object()


def lookup(data: Mapping[str, Any], name: str) -> Any:
    """The value of ``name`` in a logged row: the key itself, else a dotted path into nested
    dicts (``{"val": {"loss": 1}}`` has ``val.loss``, as wandb's summary names it)."""
    if name in data:
        return data[name]
    node: Any = data
    for part in name.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return MISSING
        node = node[part]
    return node


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
