"""Helpers for the conformance tests: compare localsweep's run configs with the engine's.

The golden data in ``tests/golden/`` was recorded from wandb's sweeps engine by
``tools/golden/record_engine.py``; see ``tools/golden/README.md``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import pytest

#: What a value is, as wandb would hand it to the user's code. ``bool`` before ``int``
#: because ``True`` is an ``int`` too, and a run config must keep them apart.
_SCALARS: tuple[tuple[type, str], ...] = ((bool, "bool"), (int, "int"), (float, "float"))


def kind(value: Any) -> str:
    """The JSON kind of ``value``; numpy scalars get their own kind so they never pass."""
    if value is None:
        return "null"
    # Exact types: np.float64 subclasses float, but a run config must hold plain floats
    # (yaml.safe_dump refuses numpy scalars).
    for cls, name in _SCALARS:
        if type(value) is cls:
            return name
    if type(value) is str:
        return "str"
    # A tuple stands for a list: localsweep may freeze list values, and wandb writes both
    # to the run's config as the same YAML/JSON list.
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, Mapping):
        return "dict"
    return f"other:{type(value).__module__}.{type(value).__name__}"


def mismatch(actual: Any, expected: Any, rel: float, where: str = "") -> str | None:
    """Where and how ``actual`` differs from ``expected``, or ``None`` if they agree.

    Kinds must match exactly (an int stays an int, a bool is not an int); floats agree
    within relative tolerance ``rel`` (with a tiny absolute slack around zero).
    """
    here = where or "<root>"
    if kind(actual) != kind(expected):
        return f"{here}: {actual!r} ({kind(actual)}) != {expected!r} ({kind(expected)})"
    if kind(expected) == "float":
        if math.isclose(actual, expected, rel_tol=rel, abs_tol=1e-12):
            return None
        return f"{here}: {actual!r} != {expected!r} (rel tol {rel})"
    if kind(expected) == "list":
        if len(actual) != len(expected):
            return f"{here}: {actual!r} != {expected!r} (length)"
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            found = mismatch(a, e, rel, f"{where}[{i}]")
            if found:
                return found
        return None
    if kind(expected) == "dict":
        if set(actual) != set(expected):
            return f"{here}: keys {sorted(actual)} != {sorted(expected)}"
        for key in expected:
            found = mismatch(actual[key], expected[key], rel, f"{where}.{key}" if where else key)
            if found:
                return found
        return None
    if actual != expected:
        return f"{here}: {actual!r} != {expected!r}"
    return None


@pytest.fixture
def same() -> Callable[[Any, Any, float], str | None]:
    """:func:`mismatch`, for tests (test modules cannot import this conftest by name)."""
    return mismatch
