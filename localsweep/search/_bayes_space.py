"""How each wandb parameter becomes an Optuna distribution, and back.

Every searchable :class:`~localsweep.config.Parameter` gets one :class:`Dimension`: an
Optuna name, an Optuna distribution, and two conversions: ``encode`` turns a value a
run was given into the value Optuna stores for it (or ``None`` when the value does not
fit, so the run is left out of the model), ``decode`` turns what the sampler chose into
the value the run config receives, typed as wandb's engine would type it.

The mapping keeps wandb's support exactly and its prior where Optuna can say it; the
table is in ``docs/bayes.md``.
"""

from __future__ import annotations

import copy
import json
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from optuna.distributions import (
    BaseDistribution,
    CategoricalChoiceType,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)

from localsweep.config import Distribution, Parameter, ParamPath, SweepConfig

__all__ = ["Dimension", "SearchSpace", "optuna_name"]

log = logging.getLogger(__name__)

# Quantile-space dimensions never hand 0 or 1 to ppf: normal and log-normal put
# -inf/+inf there, which no run config can hold.
_U_EPS = 1e-9

# Distributions with no Optuna counterpart: searched as their quantile u in [0, 1],
# so the sampler's uniform prior on u is exactly wandb's prior on the value.
_QUANTILE_ONLY = frozenset(
    {
        Distribution.NORMAL,
        Distribution.Q_NORMAL,
        Distribution.LOG_NORMAL,
        Distribution.Q_LOG_NORMAL,
        Distribution.BETA,
        Distribution.Q_BETA,
    }
)


def optuna_name(path: ParamPath) -> str:
    """The Optuna parameter name of ``path``: its JSON list, e.g. ``'["opt", "lr"]'``.

    Parameter names may contain dots, so a dotted join could make ``("a.b",)`` and
    ``("a", "b")`` collide; a JSON list cannot.
    """
    return json.dumps(list(path))


@dataclass(frozen=True)
class Dimension:
    """One searchable parameter as Optuna sees it.

    ``kind`` names the mapping (``float``, ``int``, ``q_grid``, ``q_log_grid``,
    ``categorical``, ``quantile``) for logs and docs.
    """

    param: Parameter
    name: str
    distribution: BaseDistribution
    kind: str
    encode: Callable[[Any], Any]
    decode: Callable[[Any], Any]

    @property
    def is_categorical(self) -> bool:
        return isinstance(self.distribution, CategoricalDistribution)


@dataclass(frozen=True)
class SearchSpace:
    """The searchable dimensions of a config, in the config's order, plus its constants."""

    dimensions: tuple[Dimension, ...]
    constants: tuple[Parameter, ...]

    @classmethod
    def from_config(cls, config: SweepConfig) -> SearchSpace:
        """Map every non-constant parameter of ``config``."""
        dims = tuple(_dimension(p) for p in config.parameters if not p.is_constant)
        consts = tuple(p for p in config.parameters if p.is_constant)
        return cls(dims, consts)

    @property
    def distributions(self) -> dict[str, BaseDistribution]:
        """Optuna name to distribution, for ``study.ask``."""
        return {d.name: d.distribution for d in self.dimensions}

    def encode(self, params: Any) -> dict[str, Any] | None:
        """A run's flat params as Optuna params, or ``None`` if any searchable one is
        missing or cannot be placed in its distribution."""
        out: dict[str, Any] = {}
        for dim in self.dimensions:
            if dim.param.path not in params:
                return None
            try:
                value = dim.encode(params[dim.param.path])
            except (TypeError, ValueError, OverflowError):
                value = None
            if value is None:
                return None
            out[dim.name] = value
        return out

    def decode(self, optuna_params: Any) -> dict[ParamPath, Any]:
        """Optuna's chosen params as the run's flat params, constants included."""
        flat: dict[ParamPath, Any] = {}
        for dim in self.dimensions:
            flat[dim.param.path] = dim.decode(optuna_params[dim.name])
        for const in self.constants:
            flat[const.path] = const.value
        return flat


def _number(x: Any) -> float | None:
    """``x`` as a finite float, or ``None`` (bools are not numbers in a run config)."""
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    f = float(x)
    return f if math.isfinite(f) else None


def _clip(x: float, lo: float, hi: float) -> float:
    return min(max(x, lo), hi)


def _is_int_q(q: Any) -> bool:
    # wandb's engine returns ints for quantized values only when q itself is an int.
    return isinstance(q, int) and not isinstance(q, bool)


def _float_dim(p: Parameter, name: str, low: float, high: float, log_scale: bool) -> Dimension:
    def encode(x: Any) -> float | None:
        f = _number(x)
        return None if f is None else _clip(f, low, high)

    dist = FloatDistribution(low, high, log=log_scale)
    return Dimension(p, name, dist, "float", encode, float)


def _int_dim(p: Parameter, name: str) -> Dimension:
    assert p.min is not None and p.max is not None
    low, high = int(p.min), int(p.max)

    def encode(x: Any) -> int | None:
        f = _number(x)
        return None if f is None else int(_clip(round(f), low, high))

    return Dimension(p, name, IntDistribution(low, high), "int", encode, int)


def _q_grid_dim(p: Parameter, name: str, low: float, high: float, log_scale: bool) -> Dimension:
    """Multiples ``k*q`` of q as the integer k: the exact set of values wandb's rounding
    can produce from [low, high], which may reach past either bound."""
    q = p.q if p.q is not None else 1.0
    k_low, k_high = round(low / q), round(high / q)
    int_q = _is_int_q(q)

    def encode(x: Any) -> int | None:
        f = _number(x)
        return None if f is None else int(_clip(round(f / q), k_low, k_high))

    def decode(k: Any) -> Any:
        return int(k) * int(q) if int_q else float(int(k) * q)

    dist = IntDistribution(k_low, max(k_low, k_high), log=log_scale)
    return Dimension(p, name, dist, "q_log_grid" if log_scale else "q_grid", encode, decode)


def _categorical_dim(p: Parameter, name: str) -> Dimension:
    values = p.values
    # Lists, dicts, None or mixed types: Optuna stores and compares choices itself,
    # so it gets the position instead and the value stays ours.
    by_position = not _plain_choices(values)
    choices: tuple[CategoricalChoiceType, ...] = (
        tuple(range(len(values))) if by_position else tuple(values)
    )

    def encode(x: Any) -> Any:
        i = _index_of(values, x)
        if i is None:
            return None
        return i if by_position else values[i]

    def decode(c: Any) -> Any:
        # A copy, so that a caller editing its run config cannot edit the sweep config.
        return copy.deepcopy(values[int(c)]) if by_position else c

    return Dimension(p, name, CategoricalDistribution(choices), "categorical", encode, decode)


def _plain_choices(values: tuple[Any, ...]) -> bool:
    """Whether ``values`` can be Optuna choices as they are: one scalar type, no repeats."""
    kinds = {type(v) for v in values}
    if len(kinds) != 1 or next(iter(kinds)) not in (str, int, float):
        return False
    return len(set(values)) == len(values)


def _index_of(values: tuple[Any, ...], x: Any) -> int | None:
    """Where ``x`` sits in ``values``, preferring a match of the same JSON type
    (so ``1`` does not match ``True``), then any equal value (``1`` and ``1.0``)."""
    for i, v in enumerate(values):
        if type(v) is type(x) and v == x:
            return i
    for i, v in enumerate(values):
        if isinstance(v, bool) != isinstance(x, bool):
            continue
        try:
            if v == x:
                return i
        except Exception:  # an exotic value whose == raises is simply not a match
            continue
    return None


def _quantile_dim(p: Parameter, name: str) -> Dimension:
    def encode(x: Any) -> float | None:
        if _number(x) is None:
            return None
        u = float(p.cdf(x))
        return _clip(u, 0.0, 1.0) if math.isfinite(u) else None

    def decode(u: Any) -> Any:
        return p.ppf(_clip(float(u), _U_EPS, 1.0 - _U_EPS))

    return Dimension(p, name, FloatDistribution(0.0, 1.0), "quantile", encode, decode)


def _dimension(p: Parameter) -> Dimension:
    name = optuna_name(p.path)
    d = p.distribution
    if d in (Distribution.CATEGORICAL, Distribution.CATEGORICAL_W_PROBABILITIES):
        return _categorical_dim(p, name)
    if d in _QUANTILE_ONLY:
        return _quantile_dim(p, name)
    assert p.min is not None and p.max is not None, f"{p.name}: {d.value} without min/max"
    lo, hi = float(p.min), float(p.max)
    if d is Distribution.INT_UNIFORM:
        return _int_dim(p, name)
    if d is Distribution.UNIFORM:
        return _float_dim(p, name, lo, hi, log_scale=False)
    if d is Distribution.LOG_UNIFORM:
        return _float_dim(p, name, math.exp(lo), math.exp(hi), log_scale=True)
    if d in (Distribution.LOG_UNIFORM_VALUES, Distribution.INV_LOG_UNIFORM_VALUES):
        # exp(-U(-ln max, -ln min)) is log-uniform on [min, max]: the same prior.
        return _float_dim(p, name, lo, hi, log_scale=True)
    if d is Distribution.INV_LOG_UNIFORM:
        # exp(-U(min, max)) is log-uniform on [e^-max, e^-min].
        return _float_dim(p, name, math.exp(-hi), math.exp(-lo), log_scale=True)
    if d is Distribution.Q_UNIFORM:
        return _q_grid_dim(p, name, lo, hi, log_scale=False)
    if d in (Distribution.Q_LOG_UNIFORM, Distribution.Q_LOG_UNIFORM_VALUES):
        low, high = (math.exp(lo), math.exp(hi)) if d is Distribution.Q_LOG_UNIFORM else (lo, hi)
        q = p.q if p.q is not None else 1.0
        if round(low / q) >= 1:
            return _q_grid_dim(p, name, low, high, log_scale=True)
        # Zero is a value wandb's rounding can give here, and a log grid cannot hold it.
        return _quantile_dim(p, name)
    raise AssertionError(f"unhandled distribution {d.value}")  # pragma: no cover
