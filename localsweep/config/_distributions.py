"""Sampling and enumeration for each distribution, with wandb's engine's formulas.

``ppf`` maps a quantile in [0, 1] to a value exactly as the engine does (the same
scipy calls, the same rounding), so that random search fed the same uniform draws
gives the same values. ``grid_values`` enumerates what a grid search tries, and
``value_hash`` identifies a value the way the engine's grid does (``1`` and ``1.0``
are the same point).

Everything returned is a plain Python value, never a numpy scalar, so that it can be
written to YAML and JSON as is.
"""

from __future__ import annotations

import copy
import hashlib
import math
from typing import Any

import numpy as np
import yaml
from scipy import stats

from localsweep.config._types import Distribution, Parameter
from localsweep.errors import ConfigError, Violation

__all__ = ["cdf", "grid_values", "ppf", "value_hash"]

D = Distribution

_GRID = (D.CATEGORICAL, D.CONSTANT, D.INT_UNIFORM, D.Q_UNIFORM)


def _q_round(r: Any, q: float | int) -> int | float:
    # np.round rounds halves to even, as the engine does; an int q (never the default
    # 1.0) makes the result an int.
    out = np.round(r / q) * q
    if isinstance(q, int) and not isinstance(q, bool):
        return int(np.asarray(out).astype(int))
    return float(out)


def _uniform(u: float, lo: float, hi: float) -> float:
    # scipy's uniform.ppf(u, loc, scale) is u * scale + loc; written out, because scipy's
    # generic argument checking costs a hundred times the arithmetic, per draw.
    return u * (hi - lo) + lo


def _randint(u: float, low: int, high: int) -> int:
    """scipy's ``randint.ppf(u, low, high)``, step for step (ends included: 0 gives
    ``low - 1``, which the engine then uses as an index)."""
    if u == 0.0:
        return low - 1
    if u == 1.0:
        return high - 1
    vals = math.ceil(u * (high - low) + low) - 1
    below = min(max(vals - 1, low), high)
    # randint's cdf at an integer k is (k - low + 1) / (high - low).
    return below if (below - low + 1) / (high - low) >= u else vals


def _pick(values: tuple[Any, ...], index: int) -> Any:
    # Hand out copies of list and dict choices so that callers cannot alter the config.
    return copy.deepcopy(values[index])


def ppf(param: Parameter, u: float) -> Any:
    """The value of ``param`` at quantile ``u`` (0 <= u <= 1), as wandb's engine computes it.

    Quantized distributions round to multiples of ``q`` and can land outside
    [min, max]; a categorical's ``u`` picks an index uniformly.

    >>> from localsweep.config import Distribution, Parameter
    >>> ppf(Parameter(("n",), Distribution.INT_UNIFORM, min=1, max=3), 0.5)
    2
    """
    if not 0.0 <= u <= 1.0:
        raise ValueError(f"a quantile must be in [0, 1], not {u!r}")
    d = param.distribution
    if d is D.CONSTANT:
        return copy.deepcopy(param.value)
    if d is D.CATEGORICAL:
        n = len(param.values)
        # randint.ppf(0) is -1, which the engine uses as an index: the last value.
        return _pick(param.values, _randint(u, 0, n))
    if d is D.CATEGORICAL_W_PROBABILITIES:
        assert param.probabilities is not None
        cumulative = np.cumsum(np.asarray(param.probabilities, dtype=float))
        return _pick(param.values, int(np.argmin(u >= cumulative)))
    lo, hi, q = param.min, param.max, param.q
    if d is D.INT_UNIFORM:
        assert lo is not None and hi is not None
        return _randint(u, int(lo), int(hi) + 1)
    if d is D.UNIFORM:
        assert lo is not None and hi is not None
        return _uniform(u, lo, hi)
    if d is D.Q_UNIFORM:
        assert lo is not None and hi is not None and q is not None
        return _q_round(_uniform(u, lo, hi), q)
    if d is D.LOG_UNIFORM:
        assert lo is not None and hi is not None
        return math.exp(_uniform(u, lo, hi))
    if d is D.LOG_UNIFORM_VALUES:
        assert lo is not None and hi is not None
        return math.exp(_uniform(u, math.log(lo), math.log(hi)))
    if d is D.Q_LOG_UNIFORM:
        assert lo is not None and hi is not None and q is not None
        return _q_round(np.exp(_uniform(u, lo, hi)), q)
    if d is D.Q_LOG_UNIFORM_VALUES:
        assert lo is not None and hi is not None and q is not None
        return _q_round(np.exp(_uniform(u, np.log(lo), np.log(hi))), q)
    if d is D.INV_LOG_UNIFORM:
        assert lo is not None and hi is not None
        return float(np.exp(-_uniform(1 - u, lo, hi)))
    if d is D.INV_LOG_UNIFORM_VALUES:
        assert lo is not None and hi is not None
        return float(np.exp(-_uniform(1 - u, -np.log(hi), -np.log(lo))))
    if d in (D.NORMAL, D.Q_NORMAL):
        r = stats.norm.ppf(u, loc=param.mu, scale=param.sigma)
        return float(r) if d is D.NORMAL else _q_round(r, _q(param))
    if d in (D.LOG_NORMAL, D.Q_LOG_NORMAL):
        r = stats.lognorm.ppf(u, s=param.sigma, scale=np.exp(_f(param.mu)))
        return float(r) if d is D.LOG_NORMAL else _q_round(r, _q(param))
    if d in (D.BETA, D.Q_BETA):
        r = stats.beta.ppf(u, a=param.a, b=param.b)
        return float(r) if d is D.BETA else _q_round(r, _q(param))
    raise ValueError(f"unknown distribution {d!r}")  # pragma: no cover - the enum is closed


def _f(x: float | None) -> float:
    assert x is not None
    return x


def _q(param: Parameter) -> float:
    assert param.q is not None
    return param.q


def cdf(param: Parameter, x: Any) -> float:
    """The probability that a sample of ``param`` is at most ``x``, as wandb's engine has it.

    For the categoricals ``x`` is one of the values, and the result is that of its
    index: ``(i + 1) / n`` for ``categorical``, the cumulative probability for
    ``categorical_w_probabilities``. A constant gives 0.
    """
    d = param.distribution
    if d is D.CONSTANT:
        return 0.0
    if d in (D.CATEGORICAL, D.CATEGORICAL_W_PROBABILITIES):
        index = _index_of(param, x)
        if d is D.CATEGORICAL:
            return float(stats.randint.cdf(index, 0, len(param.values)))
        assert param.probabilities is not None
        return float(np.cumsum(np.asarray(param.probabilities, dtype=float))[index])
    lo, hi = param.min, param.max
    if d is D.INT_UNIFORM:
        assert lo is not None and hi is not None
        return float(stats.randint.cdf(x, lo, hi + 1))
    if d in (D.UNIFORM, D.Q_UNIFORM):
        assert lo is not None and hi is not None
        return float(stats.uniform.cdf(x, lo, hi - lo))
    if d in (D.LOG_UNIFORM, D.Q_LOG_UNIFORM):
        assert lo is not None and hi is not None
        return float(stats.uniform.cdf(np.log(x), lo, hi - lo))
    if d in (D.LOG_UNIFORM_VALUES, D.Q_LOG_UNIFORM_VALUES):
        assert lo is not None and hi is not None
        return float(stats.uniform.cdf(np.log(x), np.log(lo), np.log(hi) - np.log(lo)))
    if d is D.INV_LOG_UNIFORM:
        assert lo is not None and hi is not None
        return float(1 - stats.uniform.cdf(np.log(1 / x), lo, hi - lo))
    if d is D.INV_LOG_UNIFORM_VALUES:
        assert lo is not None and hi is not None
        width = np.abs(np.log(hi) - np.log(lo))
        return float(1 - stats.uniform.cdf(np.log(1 / x), -np.log(hi), width))
    if d in (D.NORMAL, D.Q_NORMAL):
        return float(stats.norm.cdf(x, loc=param.mu, scale=param.sigma))
    if d in (D.LOG_NORMAL, D.Q_LOG_NORMAL):
        return float(stats.lognorm.cdf(x, s=param.sigma, scale=np.exp(_f(param.mu))))
    if d in (D.BETA, D.Q_BETA):
        return float(stats.beta.cdf(x, a=param.a, b=param.b))
    raise ValueError(f"unknown distribution {d!r}")  # pragma: no cover - the enum is closed


def _index_of(param: Parameter, x: Any) -> int:
    for i, value in enumerate(param.values):
        if value == x:
            return i
    raise ValueError(f"{x!r} is not one of the values of parameter {param.name}")


def value_hash(value: Any) -> str:
    """A digest that identifies ``value`` as a grid point coordinate, as wandb's grid does.

    A float with no fractional part counts as the int it equals (``1.0`` is ``1``),
    because a run config that went through the server comes back that way. ``True``
    and ``1`` stay different; dict keys are sorted.
    """
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = yaml.dump(_lists(value), default_flow_style=True, sort_keys=True)
    return hashlib.md5(text.encode("ascii")).hexdigest()


def _lists(value: Any) -> Any:
    # A tuple would dump with a python-specific tag and hash unlike the list it stands for.
    if isinstance(value, tuple | list):
        return [_lists(v) for v in value]
    if isinstance(value, dict):
        return {k: _lists(v) for k, v in value.items()}
    return value


def grid_values(param: Parameter) -> tuple[Any, ...]:
    """The values a grid search tries for ``param``, in wandb's order.

    Categorical values keep their list order; values that hash the same (``1``,
    ``1.0``) collapse to one entry at the first one's position, holding the last
    one's value, as in wandb. ``int_uniform`` gives min..max inclusive; ``q_uniform``
    gives ``numpy.arange(min, max, q)``, which leaves out max.
    Raises :class:`~localsweep.errors.ConfigError` for any other distribution.
    """
    d = param.distribution
    if d is D.CONSTANT:
        return (param.value,)
    if d is D.CATEGORICAL:
        position: dict[str, int] = {}
        chosen: list[Any] = []
        for value in param.values:
            key = value_hash(value)
            if key in position:
                chosen[position[key]] = value
            else:
                position[key] = len(chosen)
                chosen.append(value)
        return tuple(chosen)
    if d is D.INT_UNIFORM:
        assert param.min is not None and param.max is not None
        return tuple(range(int(param.min), int(param.max) + 1))
    if d is D.Q_UNIFORM:
        assert param.min is not None and param.max is not None and param.q is not None
        return tuple(np.arange(param.min, param.max, param.q).tolist())
    allowed = ", ".join(x.value for x in _GRID)
    raise ConfigError(
        [
            Violation(
                "parameters." + ".parameters.".join(param.path),
                f"grid search cannot enumerate a {d.value} distribution (it accepts {allowed}); "
                "list the values to try with `values:`",
            )
        ]
    )
