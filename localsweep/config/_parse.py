"""Parse and validate a wandb sweep config into a :class:`SweepConfig`.

First version: method, metric, parameters (values/value/min-max inference, nested
blocks). The full schema checks follow.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from localsweep.config._types import Distribution, Goal, Method, Metric, Parameter, SweepConfig
from localsweep.errors import ConfigError, Violation

__all__ = ["load_config", "parse_config"]

log = logging.getLogger(__name__)


def load_config(source: str | os.PathLike[str] | Mapping[str, Any]) -> SweepConfig:
    """Read a sweep config from a YAML or JSON file, or parse a mapping directly."""
    if isinstance(source, Mapping):
        return parse_config(source)
    path = Path(source)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError([Violation("", f"cannot read {path}: {exc}")]) from exc
    try:
        raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ConfigError([Violation("", f"cannot parse {path}: {exc}")]) from exc
    if not isinstance(raw, Mapping):
        raise ConfigError([Violation("", f"{path} does not hold a mapping")])
    return parse_config(raw)


def parse_config(raw: Mapping[str, Any]) -> SweepConfig:
    """Validate ``raw`` as wandb would and return the typed config."""
    violations: list[Violation] = []
    method_raw = raw.get("method")
    try:
        method = Method(method_raw)
    except ValueError:
        violations.append(Violation("method", "must be one of grid, random, bayes"))
        method = Method.RANDOM
    metric = None
    if isinstance(raw.get("metric"), Mapping):
        m = raw["metric"]
        metric = Metric(name=str(m.get("name")), goal=Goal(m.get("goal", "minimize")))
    params: list[Parameter] = []
    _walk(raw.get("parameters") or {}, (), params, violations)
    if violations:
        raise ConfigError(violations)
    return SweepConfig(method=method, parameters=tuple(params), metric=metric, raw=dict(raw))


def _walk(block: Mapping[str, Any], prefix: tuple[str, ...], out: list[Parameter],
          violations: list[Violation]) -> None:
    for name in sorted(block):
        spec = block[name]
        path = (*prefix, name)
        if "parameters" in spec:
            _walk(spec["parameters"], path, out, violations)
        elif "values" in spec:
            out.append(Parameter(path, Distribution.CATEGORICAL, values=tuple(spec["values"])))
        elif "value" in spec:
            out.append(Parameter(path, Distribution.CONSTANT, value=spec["value"]))
        elif "min" in spec and "max" in spec:
            lo, hi = spec["min"], spec["max"]
            if isinstance(lo, int) and isinstance(hi, int):
                out.append(Parameter(path, Distribution.INT_UNIFORM, min=lo, max=hi))
            else:
                out.append(Parameter(path, Distribution.UNIFORM, min=float(lo), max=float(hi)))
        else:
            violations.append(Violation("parameters." + ".".join(path), "cannot infer"))
