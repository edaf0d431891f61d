"""Sampling and enumeration for each distribution, with wandb's engine's formulas.

``ppf`` maps a quantile in [0, 1] to a value exactly as the engine does (the same
formulas as its scipy calls, the same rounding), so that random search fed the same
uniform draws gives the same values. ``scipy.stats`` is not imported: it costs two seconds
of CPU (it parses every distribution's docstring) before an agent's first run; the
normal quantile comes from the standard library (``statistics.NormalDist``, accurate to
the last digits scipy's ``ndtri`` gives) and the beta one from ``scipy.special``, loaded
only for a beta parameter. ``grid_values`` enumerates what a grid search tries, and
``value_hash`` identifies a value the way the engine's grid does (``1`` and ``1.0``
are the same point), and ``whole_floats_as_ints`` turns a proposed run config into the one
W&B's server delivers (``2.0`` becomes ``2``).

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

from localsweep.config._types import Distribution, Parameter
from localsweep.config._whole import plain_numbers as _plain
from localsweep.errors import ConfigError, Violation

__all__ = [
    "MAX_GRID_VALUES",
    "cdf",
    "grid_count",
    "grid_values",
    "ppf",
    "too_many_grid_values",
    "value_hash",
]

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


def _ndtri(u: float) -> float:
    """The standard normal quantile (scipy's ``special.ndtri``), ends included."""
    if u <= 0.0:
        return -math.inf if u == 0.0 else math.nan
    if u >= 1.0:
        return math.inf if u == 1.0 else math.nan
    from statistics import NormalDist

    return NormalDist().inv_cdf(u)


def _ndtr(z: float) -> float:
    """The standard normal cdf (scipy's ``special.ndtr``)."""
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def _norm_ppf(u: float, mu: float, sigma: float) -> float:
    # scipy.stats.norm.ppf(u, loc, scale): ndtri(u) * scale + loc; nan unless scale > 0.
    if not sigma > 0:
        return math.nan
    return _ndtri(u) * sigma + mu


def _lognorm_ppf(u: float, s: float, scale: float) -> float:
    # scipy.stats.lognorm.ppf(u, s, scale=scale): exp(s * ndtri(u)) * scale + 0.
    if not (s > 0 and scale > 0):
        return math.nan
    if u == 0.0:
        return 0.0
    return math.exp(s * _ndtri(u)) * scale + 0.0


def _beta_ppf(u: float, a: float, b: float) -> float:
    # scipy.stats.beta.ppf is scipy.special's incomplete beta inverse (the same boost code).
    if not (a > 0 and b > 0):
        return math.nan
    if u in (0.0, 1.0):
        return u
    from scipy.special import betaincinv

    return float(betaincinv(a, b, u))


def _randint_cdf(k: float, low: int, high: int) -> float:
    # scipy.stats.randint.cdf(k, low, high): 0 below low, 1 from high - 1 on.
    if k >= high - 1:
        return 1.0
    if k < low:
        return 0.0
    return (math.floor(k) - low + 1.0) / (high - low)


def _uniform_cdf(x: float, loc: float, scale: float) -> float:
    # scipy.stats.uniform.cdf(x, loc, scale).
    if not scale > 0:
        return math.nan
    t = (x - loc) / scale
    if t >= 1.0:
        return 1.0
    return t if t > 0.0 else 0.0


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
        r = _norm_ppf(u, _f(param.mu), _f(param.sigma))
        return float(r) if d is D.NORMAL else _q_round(r, _q(param))
    if d in (D.LOG_NORMAL, D.Q_LOG_NORMAL):
        r = _lognorm_ppf(u, _f(param.sigma), math.exp(_f(param.mu)))
        return float(r) if d is D.LOG_NORMAL else _q_round(r, _q(param))
    if d in (D.BETA, D.Q_BETA):
        r = _beta_ppf(u, _f(param.a), _f(param.b))
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
            return _randint_cdf(index, 0, len(param.values))
        assert param.probabilities is not None
        return float(np.cumsum(np.asarray(param.probabilities, dtype=float))[index])
    lo, hi = param.min, param.max
    if d is D.INT_UNIFORM:
        assert lo is not None and hi is not None
        return _randint_cdf(x, int(lo), int(hi) + 1)
    log_forms = (
        D.LOG_UNIFORM,
        D.Q_LOG_UNIFORM,
        D.LOG_UNIFORM_VALUES,
        D.Q_LOG_UNIFORM_VALUES,
        D.INV_LOG_UNIFORM,
        D.INV_LOG_UNIFORM_VALUES,
    )
    if d in log_forms and x <= 0:
        # No draw of a log distribution is below 0; a quantized one's rounding gives 0
        # (round(exp(u) / q) * q for a draw below q/2), where its log is undefined.
        return 0.0
    if d in (D.UNIFORM, D.Q_UNIFORM):
        assert lo is not None and hi is not None
        return _uniform_cdf(x, lo, hi - lo)
    if d in (D.LOG_UNIFORM, D.Q_LOG_UNIFORM):
        assert lo is not None and hi is not None
        return _uniform_cdf(float(np.log(x)), lo, hi - lo)
    if d in (D.LOG_UNIFORM_VALUES, D.Q_LOG_UNIFORM_VALUES):
        assert lo is not None and hi is not None
        return _uniform_cdf(float(np.log(x)), float(np.log(lo)), float(np.log(hi) - np.log(lo)))
    if d is D.INV_LOG_UNIFORM:
        assert lo is not None and hi is not None
        return float(1 - _uniform_cdf(float(np.log(1 / x)), lo, hi - lo))
    if d is D.INV_LOG_UNIFORM_VALUES:
        assert lo is not None and hi is not None
        width = np.abs(np.log(hi) - np.log(lo))
        return float(1 - _uniform_cdf(float(np.log(1 / x)), float(-np.log(hi)), float(width)))
    if d in (D.NORMAL, D.Q_NORMAL):
        sigma = _f(param.sigma)
        return _ndtr((x - _f(param.mu)) / sigma) if sigma > 0 else math.nan
    if d in (D.LOG_NORMAL, D.Q_LOG_NORMAL):
        s, scale = _f(param.sigma), math.exp(_f(param.mu))
        if not (s > 0 and scale > 0):
            return math.nan
        return _ndtr(math.log(x / scale) / s) if x > 0 else 0.0
    if d in (D.BETA, D.Q_BETA):
        from scipy.special import betainc

        return float(np.clip(betainc(_f(param.a), _f(param.b), np.clip(x, 0.0, 1.0)), 0.0, 1.0))
    raise ValueError(f"unknown distribution {d!r}")  # pragma: no cover - the enum is closed


def _index_of(param: Parameter, x: Any) -> int:
    for i, value in enumerate(param.values):
        if value == x:
            return i
    raise ValueError(f"{x!r} is not one of the values of parameter {param.name}")


def value_hash(value: Any) -> str:
    """A digest that identifies ``value`` as a grid point coordinate, as wandb's grid does.

    A float with no fractional part counts as the int it equals (``1.0`` is ``1``),
    because a run config that went through the server comes back that way; only at the
    top, as in wandb (``[1.0]`` is not ``[1]``: see ``GridSearch.key_for``). ``True``
    and ``1`` stay different; dict keys are sorted.
    """
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if type(value) is int:
        # What yaml.dump writes for an int, 30 times faster: a grid over a range of a
        # million ints hashes each of them when its agent starts.
        return hashlib.md5(f"{value}\n...\n".encode("ascii")).hexdigest()
    text = yaml.dump(_plain(value, -math.inf), default_flow_style=True, sort_keys=True)
    return hashlib.md5(text.encode("ascii")).hexdigest()


#: The most values a grid enumerates for one parameter: far beyond any real sweep (a
#: million runs of one parameter), far below what exhausts memory (an ``int_uniform`` of
#: ``max: 100000000000`` asked numpy for terabytes). The grid's size, their product, is
#: never enumerated at once: it may be larger.
MAX_GRID_VALUES = 1_000_000


def grid_count(param: Parameter) -> int:
    """How many values :func:`grid_values` gives for ``param``, counted without making
    them (an ``int_uniform`` or ``q_uniform`` range may hold more than memory does)."""
    d = param.distribution
    if d is D.INT_UNIFORM and param.min is not None and param.max is not None:
        return max(int(param.max) - int(param.min) + 1, 0)
    if d is D.Q_UNIFORM and param.min is not None and param.max is not None and param.q:
        # numpy.arange's own length: ceil((stop - start) / step), in floats.
        span = (float(param.max) - float(param.min)) / float(param.q)
        return max(math.ceil(span), 0) if math.isfinite(span) else 0
    return len(grid_values(param))


def too_many_grid_values(param: Parameter) -> str | None:
    """Why a grid cannot enumerate ``param`` (more than :data:`MAX_GRID_VALUES` values),
    with the fix; ``None`` if it can."""
    if param.distribution not in (D.INT_UNIFORM, D.Q_UNIFORM):
        return None  # a list of values is in memory already
    count = grid_count(param)
    if count <= MAX_GRID_VALUES:
        return None
    return (
        f"a grid tries every value, and this {param.distribution.value} range has "
        f"{count:,} of them (localsweep enumerates at most {MAX_GRID_VALUES:,} per "
        "parameter): list the values to try with `values: [...]`, or use `method: random` "
        "to sample the range"
    )


def grid_values(param: Parameter) -> tuple[Any, ...]:
    """The values a grid search tries for ``param``, in wandb's order.

    Categorical values keep their list order; values that hash the same (``1``,
    ``1.0``) collapse to one entry at the first one's position, holding the last
    one's value, as in wandb. ``int_uniform`` gives min..max inclusive; ``q_uniform``
    gives ``numpy.arange(min, max, q)``, which leaves out max.
    Raises :class:`~localsweep.errors.ConfigError` for any other distribution.
    """
    d = param.distribution
    too_many = too_many_grid_values(param)
    if too_many is not None:  # a config parsed before the bound (a sweep's, stored)
        raise ConfigError([Violation("parameters." + ".parameters.".join(param.path), too_many)])
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
