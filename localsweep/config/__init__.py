"""Parse and validate wandb sweep configs into typed, frozen objects.

>>> from localsweep.config import parse_config
>>> cfg = parse_config({"method": "random", "parameters": {"lr": {"min": 0.001, "max": 0.1}}})
>>> cfg.parameters[0].distribution.value
'uniform'
"""

from __future__ import annotations

from localsweep.config._early_stopping import early_stopping_from_init
from localsweep.config._parse import load_config, parse_config
from localsweep.config._types import (
    Distribution,
    EarlyStopping,
    Goal,
    Hyperband,
    Method,
    Metric,
    Options,
    Parameter,
    ParamPath,
    Scheduler,
    SweepConfig,
)
from localsweep.config._whole import whole_floats_as_ints

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
    "early_stopping_from_init",
    "load_config",
    "parse_config",
    "whole_floats_as_ints",
]
