"""The parameters a sweep's runs are shown by (``export``, ``show``, the report): the
config's ``parameters:``, or, for a sweep whose space comes from a define-by-run
``search_space`` (which ``parameters:`` does not describe), the keys the runs got."""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from localsweep.config import Distribution, Parameter, SweepConfig
from localsweep.config._types import ParamPath, values_at

if TYPE_CHECKING:
    from localsweep.api import Sweep

__all__ = ["flat_params", "is_number", "run_parameters", "sweep_parameters"]


def _leaves(nested: Mapping[str, Any], prefix: ParamPath = ()) -> Iterable[tuple[ParamPath, Any]]:
    for key, value in nested.items():
        path = (*prefix, str(key))
        if isinstance(value, Mapping) and value:
            yield from _leaves(value, path)
        else:
            yield path, value


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A number, not a bool (which Python counts as one)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def run_parameters(
    config: SweepConfig, params: Iterable[Mapping[str, Any]]
) -> tuple[Parameter, ...]:
    """The parameters of a sweep of ``config`` whose runs got ``params`` (nested, as wandb
    delivers them). With a ``search_space`` the space is the user's code, so each leaf key
    the runs got is one (a dotted name for a nested key, names sorted at every level as
    wandb orders ``parameters:``): ``int_uniform`` when every value is an integer,
    ``uniform`` when every value is a number (numeric axes), else categorical (text,
    booleans, a mix: categories), with bounds left to the values. Otherwise, the config's.
    """
    scheduler = config.scheduler
    if scheduler is None or not scheduler.search_space:
        return config.parameters
    seen: dict[ParamPath, list[Any]] = {}
    for nested in params:
        for path, value in _leaves(nested):
            seen.setdefault(path, []).append(value)
    found = []
    for path, values in sorted(seen.items()):
        if all(_is_int(v) for v in values):
            found.append(Parameter(path, Distribution.INT_UNIFORM))
        elif all(is_number(v) for v in values):
            found.append(Parameter(path, Distribution.UNIFORM))
        else:
            found.append(Parameter(path, Distribution.CATEGORICAL))
    return tuple(found)


def sweep_parameters(sweep: Sweep) -> tuple[Parameter, ...]:
    """:func:`run_parameters` for ``sweep``'s runs, prior runs included."""
    runs = (*sweep.prior_runs, *sweep.runs)
    return run_parameters(sweep.parsed_config, (run.params for run in runs))


def flat_params(nested: Mapping[str, Any], parameters: Iterable[Parameter]) -> dict[str, Any]:
    """``nested``'s value of each of ``parameters`` that it has, by dotted name."""
    parameters = tuple(parameters)
    names = {p.path: p.name for p in parameters}
    return {names[path]: value for path, value in values_at(nested, parameters).items()}
