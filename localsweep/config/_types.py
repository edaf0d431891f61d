"""Typed, frozen objects for a parsed sweep config.

A :class:`SweepConfig` is what :func:`localsweep.config.parse_config` returns for a
config that wandb accepts. Nothing here does I/O; everything is immutable, so the
same object can be handed to search, stopping and the store without copies.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Distribution",
    "EarlyStopping",
    "Goal",
    "Hyperband",
    "Method",
    "Metric",
    "Options",
    "ParamPath",
    "Parameter",
    "Scheduler",
    "SweepConfig",
    "values_at",
]

#: A parameter's place in the run config: ``("optimizer", "lr")`` for
#: ``parameters: {optimizer: {parameters: {lr: ...}}}``. Names may contain dots
#: (wandb allows ``[A-Za-z_][A-Za-z0-9_.-]*``), so paths are tuples, never dotted strings.
ParamPath = tuple[str, ...]


class Method(str, enum.Enum):
    """The search method, as the config's ``method`` key names it."""

    GRID = "grid"
    RANDOM = "random"
    BAYES = "bayes"
    #: A custom scheduler runs the search (``scheduler: {engine: optuna}``); see
    #: ``docs/custom-schedulers.md``.
    CUSTOM = "custom"


class Goal(str, enum.Enum):
    """Whether the sweep's metric is to be minimized or maximized."""

    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"


class Distribution(str, enum.Enum):
    """Every parameter distribution wandb's sweeps engine knows, by the name a config uses."""

    CONSTANT = "constant"
    CATEGORICAL = "categorical"
    CATEGORICAL_W_PROBABILITIES = "categorical_w_probabilities"
    INT_UNIFORM = "int_uniform"
    UNIFORM = "uniform"
    Q_UNIFORM = "q_uniform"
    LOG_UNIFORM = "log_uniform"
    LOG_UNIFORM_VALUES = "log_uniform_values"
    Q_LOG_UNIFORM = "q_log_uniform"
    Q_LOG_UNIFORM_VALUES = "q_log_uniform_values"
    INV_LOG_UNIFORM = "inv_log_uniform"
    INV_LOG_UNIFORM_VALUES = "inv_log_uniform_values"
    NORMAL = "normal"
    Q_NORMAL = "q_normal"
    LOG_NORMAL = "log_normal"
    Q_LOG_NORMAL = "q_log_normal"
    BETA = "beta"
    Q_BETA = "q_beta"

    @property
    def is_quantized(self) -> bool:
        return self.value.startswith("q_")


@dataclass(frozen=True)
class Parameter:
    """One searchable (or constant) parameter, with wandb's defaults filled in.

    Only the fields that the distribution uses are set; the rest stay ``None``.
    ``min``/``max`` keep the config's meaning: for ``log_uniform``,
    ``q_log_uniform`` and ``inv_log_uniform`` they are exponents of e, for the
    ``*_values`` forms they are the values themselves.

    Sampling and enumeration live in :mod:`localsweep.config._distributions`
    (``ppf``, ``cdf``, ``grid_values``) and are exposed as methods here.
    """

    path: ParamPath
    distribution: Distribution
    value: Any = None
    values: tuple[Any, ...] = ()
    probabilities: tuple[float, ...] | None = None
    min: float | None = None
    max: float | None = None
    q: float | None = None
    mu: float | None = None
    sigma: float | None = None
    a: float | None = None
    b: float | None = None

    @property
    def name(self) -> str:
        """The dotted name for display (``optimizer.lr``); use ``path`` as a key."""
        return ".".join(self.path)

    @property
    def is_constant(self) -> bool:
        return self.distribution is Distribution.CONSTANT

    def ppf(self, u: float) -> Any:
        """The value at quantile ``u`` in [0, 1], as wandb's engine computes it.

        Returns plain Python values (``int``, ``float``, or the config's own
        values), never numpy scalars, so they serialize to YAML and JSON.
        """
        from ._distributions import ppf

        return ppf(self, u)

    def cdf(self, x: Any) -> float:
        """The quantile of value ``x`` (inverse of :meth:`ppf` for continuous distributions)."""
        from ._distributions import cdf

        return cdf(self, x)

    def grid_values(self) -> tuple[Any, ...]:
        """The values a grid search enumerates for this parameter, in wandb's order.

        Raises :class:`~localsweep.errors.ConfigError` for a distribution that
        a grid cannot enumerate.
        """
        from ._distributions import grid_values

        return grid_values(self)


@dataclass(frozen=True)
class Metric:
    """The sweep's ``metric`` block."""

    name: str
    goal: Goal = Goal.MINIMIZE
    target: float | None = None
    impute: str = "worst"
    impute_while_running: str = "false"

    def is_better(self, a: float, b: float) -> bool:
        """Whether value ``a`` is strictly better than ``b`` for this goal."""
        return a < b if self.goal is Goal.MINIMIZE else a > b

    def reaches_target(self, value: float) -> bool:
        """Whether ``value`` meets ``target`` (wandb: the sweep finishes once any run does)."""
        if self.target is None or not math.isfinite(value):
            return False
        if self.goal is Goal.MINIMIZE:
            return value <= self.target
        return value >= self.target


@dataclass(frozen=True)
class Hyperband:
    """The ``early_terminate: {type: hyperband}`` block, with wandb's defaults."""

    min_iter: int | None = None
    max_iter: int | None = None
    s: float | None = None
    eta: float = 3.0
    strict: bool = True


@dataclass(frozen=True)
class EarlyStopping:
    """Per-run plateau stopping: ``localsweep: {early_stopping: ...}`` or the
    ``early_stopping_*`` arguments of ``wandb.init`` in a localsweep run.

    A run stops once ``patience`` values of ``metric`` in a row have not improved on its
    best value by more than ``threshold`` (absolute, in the direction of ``goal``). The
    rule itself is :class:`localsweep.stopping.Plateau`.
    """

    metric: str
    threshold: float = 0.0
    patience: int = 1
    goal: Goal = Goal.MINIMIZE


@dataclass(frozen=True)
class Options:
    """localsweep's own settings, from the config's ``localsweep:`` key.

    They live under one key so that everything else stays a plain wandb config.
    """

    seed: int | None = None
    #: ``auto``, ``tpe`` or ``gp``: the Optuna sampler behind ``method: bayes``.
    sampler: str = "auto"
    #: Per-run plateau stopping (``early_stopping:``), or ``None``.
    early_stopping: EarlyStopping | None = None


@dataclass(frozen=True)
class Scheduler:
    """The ``scheduler`` block of wandb's 2026 schema: which engine searches, and the
    user's own code for it.

    ``source`` is a Python file, relative to the config file when the sweep was made from
    one; ``optimizer`` names a zero-argument function in it returning an Optuna study (its
    sampler proposes, its pruner stops runs); ``search_space`` names a define-by-run
    function taking an ``optuna.Trial`` and returning the run's config.
    """

    engine: str
    source: str | None = None
    optimizer: str | None = None
    search_space: str | None = None


@dataclass(frozen=True)
class SweepConfig:
    """A validated wandb sweep config.

    ``parameters`` is in wandb's order: names sorted at every nesting level, the
    order in which its engine draws random values and nests grid products.
    ``raw`` is the config as the user wrote it (numbers written as strings already
    converted), for storing and showing back.
    """

    method: Method
    parameters: tuple[Parameter, ...]
    metric: Metric | None = None
    early_terminate: Hyperband | None = None
    run_cap: int | None = None
    program: str | None = None
    command: tuple[str, ...] | None = None
    name: str | None = None
    description: str | None = None
    project: str | None = None
    entity: str | None = None
    options: Options = field(default_factory=Options)
    #: Multi-objective ``metrics:`` (at least two), with ``method: custom``.
    metrics: tuple[Metric, ...] = ()
    scheduler: Scheduler | None = None
    #: The directory of the config file the sweep was read from (``scheduler.source``
    #: is relative to it), when it was read from a file.
    source_dir: str | None = field(default=None, compare=False)
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    #: Things wandb accepts but that are probably not what the user meant.
    warnings: tuple[str, ...] = ()

    @property
    def objectives(self) -> tuple[Metric, ...]:
        """The metrics the search optimizes: ``metrics``, or ``metric`` alone, or none."""
        if self.metrics:
            return self.metrics
        return (self.metric,) if self.metric is not None else ()

    @property
    def is_multi_objective(self) -> bool:
        """Whether the sweep optimizes several metrics at once (``metrics:``)."""
        return len(self.metrics) > 1

    @property
    def searchable(self) -> tuple[Parameter, ...]:
        """The parameters that are not constants."""
        return tuple(p for p in self.parameters if not p.is_constant)

    def parameter(self, path: ParamPath) -> Parameter:
        for p in self.parameters:
            if p.path == path:
                return p
        raise KeyError(path)

    def nest(self, flat: Mapping[ParamPath, Any]) -> dict[str, Any]:
        """Turn ``{("opt", "lr"): 0.1}`` into the nested run config wandb delivers."""
        out: dict[str, Any] = {}
        for path, value in flat.items():
            node = out
            for key in path[:-1]:
                node = node.setdefault(key, {})
            node[path[-1]] = value
        return out

    def flatten(self, nested: Mapping[str, Any]) -> dict[ParamPath, Any]:
        """The inverse of :meth:`nest` for this config's parameters (missing ones are left out)."""
        return values_at(nested, self.parameters)


def values_at(nested: Mapping[str, Any], parameters: Iterable[Parameter]) -> dict[ParamPath, Any]:
    """``nested``'s value of each of ``parameters`` that it has, by path."""
    flat: dict[ParamPath, Any] = {}
    for p in parameters:
        node: Any = nested
        for key in p.path:
            if not isinstance(node, Mapping) or key not in node:
                break
            node = node[key]
        else:
            flat[p.path] = node
    return flat
