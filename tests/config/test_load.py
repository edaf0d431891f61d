"""load_config reads YAML and JSON files, and parses mappings directly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from localsweep.config import Distribution, Method, load_config
from localsweep.errors import ConfigError

YAML = """\
method: bayes
metric:
  name: val_loss
  goal: minimize
parameters:
  lr:
    distribution: log_uniform_values
    min: 1e-5
    max: 1.0e-1
  optimizer:
    parameters:
      name:
        values: [adam, sgd]
      momentum:
        value: 0.9
early_terminate:
  type: hyperband
  min_iter: 3
localsweep:
  seed: 3
"""


def test_yaml_file_is_loaded(tmp_path: Path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text(YAML)
    cfg = load_config(path)
    assert cfg.method is Method.BAYES
    assert [p.path for p in cfg.parameters] == [
        ("lr",),
        ("optimizer", "momentum"),
        ("optimizer", "name"),
    ]
    assert cfg.parameters[0].distribution is Distribution.LOG_UNIFORM_VALUES
    assert cfg.options.seed == 3


def test_yaml_1_1_exponent_is_a_number_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text(YAML)
    cfg = load_config(str(path))
    assert cfg.parameters[0].min == 1e-5
    assert any(w.startswith("parameters.lr.min:") for w in cfg.warnings)


def test_json_file_is_loaded(tmp_path: Path) -> None:
    path = tmp_path / "sweep.json"
    path.write_text(json.dumps({"method": "grid", "parameters": {"a": {"values": [1, 2]}}}))
    cfg = load_config(path)
    assert cfg.method is Method.GRID and cfg.parameters[0].values == (1, 2)


def test_mapping_is_parsed_directly() -> None:
    assert (
        load_config({"method": "random", "parameters": {"a": {"value": 1}}}).method is Method.RANDOM
    )


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.yaml")


def test_broken_yaml_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text("method: [grid\n")
    with pytest.raises(ConfigError, match="cannot parse"):
        load_config(path)


def test_empty_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text("")
    with pytest.raises(ConfigError, match="empty"):
        load_config(path)


def test_file_holding_a_list_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "sweep.json"
    path.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="mapping"):
        load_config(path)


def test_invalid_file_reports_violations(tmp_path: Path) -> None:
    path = tmp_path / "sweep.yaml"
    path.write_text("method: grid\nparameters:\n  lr:\n    min: 0.5\n    max: 0.1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert [v.path for v in info.value.violations] == ["parameters.lr.max"]


def test_a_parameter_yaml_reads_as_a_boolean_says_to_quote_it(tmp_path: Path) -> None:
    """``off:`` unquoted is ``False`` to YAML 1.1: the error names the cause and the fix."""
    path = tmp_path / "s.yaml"
    path.write_text("method: grid\nparameters:\n  off: {values: [1]}\n  'on': {values: [2]}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    [problem] = info.value.violations
    assert problem.path == "parameters.False"
    assert "YAML reads this one as False" in problem.message
    assert "quote it, e.g. 'off'" in problem.message
