"""Place one value of a prior run in a sweep parameter's space (pure: no I/O).

A value is read as the number or literal it spells (every CSV cell is text), compared with
a categorical's or constant's values as wandb's grid compares them (``1`` and ``1.0`` are
the same value, at any depth of a dict or list value; ``True`` and ``1`` are not), a float
within ``FLOAT_MATCH`` of a value is that value, and a number must lie in its
distribution's support (for a grid, be one of the grid's values).
"""

from __future__ import annotations

import ast
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from localsweep.config import Distribution, Method, Parameter
from localsweep.config._checks import number_from_string

__all__ = ["FLOAT_MATCH", "MISSING", "is_wrapper", "literal", "number", "place", "readings"]

D = Distribution
#: What :func:`localsweep.priors._match.find_value` gives for a value a run does not have.
MISSING = object()
_LOG_VALUES = (D.LOG_UNIFORM_VALUES, D.INV_LOG_UNIFORM_VALUES, D.Q_LOG_UNIFORM_VALUES)


def is_wrapper(node: Any) -> bool:
    """Whether ``node`` is wandb's wrapping of one value, as its config files and its API's
    raw config hold each value: ``{"value": v, "desc": ...}``."""
    return isinstance(node, Mapping) and "value" in node and set(node) <= {"value", "desc"}


def number(value: Any) -> float | None:
    """``value`` as a finite float (text spelling a number included), else ``None``."""
    if isinstance(value, str):
        value = number_from_string(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    f = float(value)
    return f if math.isfinite(f) else None


#: The names ``str()`` gives a float that is no number (pandas writes a dict column so).
_NOT_FINITE = {"nan": math.nan, "NaN": math.nan, "inf": math.inf, "Infinity": math.inf}


class _NotFinite(ast.NodeTransformer):
    def visit_Name(self, node: ast.Name) -> ast.AST:
        if node.id in _NOT_FINITE:
            return ast.copy_location(ast.Constant(_NOT_FINITE[node.id]), node)
        return node


def literal(text: str) -> Any:
    """``text`` read as a Python literal, as ``str()`` writes a value (a dict cell of a
    table pandas wrote): ``nan``, ``inf`` and ``-inf`` are the floats they print as.
    Raises ``ValueError`` (or ``SyntaxError``) for anything else."""
    tree = ast.parse(text.strip(), mode="eval")
    return ast.literal_eval(_NotFinite().visit(tree))


def readings(raw: Any) -> list[Any]:
    """The values ``raw`` may stand for: itself, then, for text, what it spells."""
    out = [raw]
    if is_wrapper(raw):
        out.append(raw["value"])
    if isinstance(raw, str):
        text = raw.strip()
        as_number = number_from_string(text)
        if as_number is not None:
            out.append(as_number)
        if text.lower() in ("true", "false"):  # Excel writes TRUE and FALSE
            out.append(text.lower() == "true")
        for parse in (json.loads, literal):
            try:
                out.append(parse(text))
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                continue
    return out


def _same_choice(choice: Any, value: Any) -> bool:
    # Imported here: scipy comes with it, and the CLI imports this module at start-up.
    from localsweep.config._distributions import value_hash

    if isinstance(choice, Mapping) and isinstance(value, Mapping):
        # Keys added at run time are not part of the choice (as wandb's grid has it).
        value = {k: v for k, v in value.items() if k in choice}
    try:
        return value_hash(_integral(choice)) == value_hash(_integral(value))
    except Exception:  # a value yaml cannot dump is no choice of a config
        return False


def _integral(value: Any) -> Any:
    """``value`` with every integral float in it an int, at any depth: ``value_hash`` has
    ``5.0`` be ``5`` at the top only, but a config that went through W&B's server (JSON)
    comes back with ``{"warm": 5}`` for ``{"warm": 5.0}`` too."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {k: _integral(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_integral(v) for v in value]
    return value


def _close(choice: Any, value: Any) -> bool:
    """Whether ``value`` is ``choice`` with its numbers, at any depth, within
    ``FLOAT_MATCH`` (a float32 or computed float in a dict or list value)."""
    if isinstance(choice, bool) or isinstance(value, bool):
        return choice is value
    if isinstance(choice, (int, float)) and isinstance(value, (int, float)):
        return math.isclose(choice, value, rel_tol=FLOAT_MATCH, abs_tol=1e-12)
    if isinstance(choice, Mapping) and isinstance(value, Mapping):
        kept = {k: v for k, v in value.items() if k in choice}  # as _same_choice
        return set(kept) == set(choice) and all(_close(choice[k], kept[k]) for k in choice)
    if isinstance(choice, (list, tuple)) and isinstance(value, (list, tuple)):
        return len(choice) == len(value) and all(
            _close(c, v) for c, v in zip(choice, value, strict=True)
        )
    return _same_choice(choice, value)


def _show(value: Any) -> str:
    if not isinstance(value, float):
        return repr(value)
    short = f"{value:.6g}"
    # Short unless that hides the difference (0.0010000000000000002 is not 0.001).
    return short if float(short) == value else repr(value)


def _show_read(raw: Any, read: float | None = None) -> str:
    """``raw`` as a skip reason names it: text spelling a number (a CSV cell, ``"9"``) as
    the number it was read as (``read``, when the caller has it already), not as quoted
    text."""
    if isinstance(raw, str):
        x = number(raw) if read is None else read
        if x is not None:
            return _show(int(x) if x.is_integer() else x)
    return _show(raw)


#: How near a float must be to a choice or grid value to be taken for it: a float32 config
#: (``np.float32(0.2)`` is 0.20000000298023224; a torch tensor's ``.item()``) or a
#: computed one (``0.1 + 0.2``) is still that value; a float32 is exact to 6e-8.
FLOAT_MATCH = 1e-6


def _near_float(choices: Sequence[Any], reading: Any) -> Any:
    """The one numeric choice (``0.2``, or ``3`` beside float choices) within
    ``FLOAT_MATCH`` of a float ``reading`` (the nearest), else ``MISSING``."""
    if not isinstance(reading, float) or not math.isfinite(reading):
        return MISSING
    near = [
        c
        for c in choices
        if isinstance(c, (int, float))
        and not isinstance(c, bool)
        and math.isclose(c, reading, rel_tol=FLOAT_MATCH, abs_tol=1e-12)
    ]
    return min(near, key=lambda c: abs(c - reading)) if near else MISSING


def _choice(param: Parameter, raw: Any, choices: Sequence[Any]) -> tuple[bool, Any, str]:
    for reading in readings(raw):
        for choice in choices:
            if _same_choice(choice, reading):
                return True, choice, ""
    for reading in readings(raw):
        near = _near_float(choices, reading)
        if near is not MISSING:
            return True, near, ""
    for reading in readings(raw):
        if isinstance(reading, (Mapping, list, tuple)):
            for choice in choices:
                if _close(choice, reading):
                    return True, choice, ""
    if param.is_constant:
        return (
            False,
            None,
            f"{param.name} is {_show_read(raw)}, but the sweep fixes it at " + _show(param.value),
        )
    shown = ", ".join(_show(c) for c in choices[:8]) + (", ..." if len(choices) > 8 else "")
    return False, None, f"{param.name} = {_show_read(raw)} is not one of its values ({shown})"


def _bounds(param: Parameter) -> tuple[float, float] | None:
    d, lo, hi = param.distribution, param.min, param.max
    if lo is None or hi is None:
        return None
    if d in (D.LOG_UNIFORM, D.Q_LOG_UNIFORM):
        return math.exp(lo), math.exp(hi)
    if d is D.INV_LOG_UNIFORM:
        return math.exp(-hi), math.exp(-lo)
    return lo, hi


def _within(x: float, lo: float, hi: float) -> bool:
    slack = FLOAT_MATCH * max(abs(lo), abs(hi), 1e-300)
    return lo - slack <= x <= hi + slack


def _numeric(param: Parameter, raw: Any) -> tuple[bool, Any, str]:
    value = raw["value"] if is_wrapper(raw) else raw
    x = number(value)
    if x is None:
        return False, None, f"{param.name} = {_show(raw)} is not a number"

    def skip(why: str) -> tuple[bool, Any, str]:  # words only for a run that is skipped
        return False, None, f"{param.name} = {_show_read(value, x)} {why}"

    d = param.distribution
    if d is D.INT_UNIFORM:
        # A float a hair off a whole number (a float32, a sum) is that number.
        if not math.isclose(round(x), x, rel_tol=FLOAT_MATCH, abs_tol=1e-12):
            return skip("is not a whole number")
        out: Any = round(x)
    elif d.is_quantized:
        q = param.q if param.q is not None else 1.0
        k = round(x / q)
        if not math.isclose(k * q, x, rel_tol=FLOAT_MATCH, abs_tol=1e-12):
            return skip(f"is not a multiple of q = {q!r}")
        out = k * q if isinstance(q, int) and not isinstance(q, bool) else float(x)
        if not math.isclose(k * q, x, rel_tol=1e-12, abs_tol=1e-15):
            out = k * q  # a float32's or a sum's noise, not the run's choice
    else:
        out = x
    bounds = _bounds(param)
    if bounds is not None:
        lo, hi = bounds
        shown = f"[{_show(lo)}, {_show(hi)}]"
        if d.is_quantized:
            # wandb's rounding reaches the multiples of q nearest the bounds (0 for a
            # log draw below q/2: round(exp(u) / q) * q).
            q = param.q if param.q is not None else 1.0
            lo, hi = round(lo / q) * q, round(hi / q) * q
            shown += f" (with q = {_show(q)}: {_show(lo)} to {_show(hi)})"
        if not _within(x, lo, hi):
            return skip(f"is outside the sweep's range {shown}")
    elif d is D.LOG_NORMAL and x <= 0:
        return skip("is not positive (log_normal)")
    elif d is D.Q_LOG_NORMAL and x < 0:
        # Rounded to a multiple of q, a draw below q/2 is 0: only a negative is none.
        return skip("is negative (q_log_normal)")
    elif d in (D.BETA, D.Q_BETA) and not 0 <= x <= 1:
        return skip("is outside [0, 1] (beta)")
    if d in _LOG_VALUES and not d.is_quantized and x <= 0:
        return skip("is not positive")
    return True, out, ""


def place(param: Parameter, raw: Any, method: Method) -> tuple[bool, Any, str]:
    """``raw`` as a value of ``param`` (for a grid, one of its grid values): ``(True,
    value, "")``, or ``(False, None, why not)``."""
    d = param.distribution
    if d is D.CONSTANT:
        return _choice(param, raw, (param.value,))
    if d in (D.CATEGORICAL, D.CATEGORICAL_W_PROBABILITIES):
        choices = param.grid_values() if method is Method.GRID else param.values
        return _choice(param, raw, choices)
    ok, value, reason = _numeric(param, raw)
    if not ok or method is not Method.GRID:
        return ok, value, reason
    for point in param.grid_values():
        # np.arange's values carry float noise (0.30000000000000004) that text does not.
        if math.isclose(float(point), float(value), rel_tol=FLOAT_MATCH, abs_tol=1e-12):
            return True, point, ""
    return False, None, f"{param.name} = {_show_read(raw)} is not one of the grid's values"
