"""Every kind of invalid parameter is reported with its path and a way to fix it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from localsweep.config import parse_config
from localsweep.errors import ConfigError, Violation

Violations = Callable[[Mapping[str, Any]], list[Violation]]


def params(spec: Any, method: str = "random") -> dict[str, Any]:
    return {"method": method, "parameters": {"lr": spec}}


def paths(found: list[Violation]) -> list[str]:
    return [v.path for v in found]


def test_min_above_max_points_at_max_and_says_swap(violations: Violations) -> None:
    (v,) = violations(params({"min": 0.5, "max": 0.1}))
    assert v.path == "parameters.lr.max"
    assert "swap" in v.message


def test_min_equal_max_suggests_a_constant(violations: Violations) -> None:
    (v,) = violations(params({"min": 3, "max": 3}))
    assert "value: 3" in v.message


def test_mixed_int_and_float_bounds_at_top_level_are_ambiguous(violations: Violations) -> None:
    (v,) = violations(params({"min": 1, "max": 2.5}))
    assert v.path == "parameters.lr"
    assert "distribution: uniform" in v.message and "int_uniform" in v.message


def test_int_uniform_with_float_bounds_is_rejected(violations: Violations) -> None:
    found = violations(params({"distribution": "int_uniform", "min": 1.0, "max": 5.0}))
    assert paths(found) == ["parameters.lr.min", "parameters.lr.max"]
    assert "`min: 1`" in found[0].message


def test_probabilities_must_sum_to_one(violations: Violations) -> None:
    (v,) = violations(params({"values": [1, 2], "probabilities": [0.5, 0.6]}))
    assert v.path == "parameters.lr.probabilities"
    assert "1.1" in v.message


def test_probabilities_within_isclose_of_one_are_accepted() -> None:
    parse_config(params({"values": [1, 2, 3], "probabilities": [0.1, 0.2, 0.7000001]}))


def test_probabilities_need_one_per_value(violations: Violations) -> None:
    (v,) = violations(params({"values": [1, 2, 3], "probabilities": [0.5, 0.5]}))
    assert "2 entries" in v.message and "3" in v.message


def test_negative_probability_is_named_by_index(violations: Violations) -> None:
    (v,) = violations(params({"values": [1, 2], "probabilities": [1.5, -0.5]}))
    assert v.path == "parameters.lr.probabilities[1]"


@pytest.mark.parametrize("key", ["sigma", "a", "b"])
def test_negative_shape_parameters_are_rejected(violations: Violations, key: str) -> None:
    dist = "normal" if key == "sigma" else "beta"
    (v,) = violations(params({"distribution": dist, key: -1}))
    assert v.path == f"parameters.lr.{key}"


@pytest.mark.parametrize("q", [0, -1])
def test_q_must_be_positive(violations: Violations, q: int) -> None:
    (v,) = violations(params({"distribution": "q_uniform", "min": 0, "max": 10, "q": q}))
    assert v.path == "parameters.lr.q"


@pytest.mark.parametrize(
    "dist", ["log_uniform_values", "q_log_uniform_values", "inv_log_uniform_values"]
)
def test_values_forms_need_a_positive_min(violations: Violations, dist: str) -> None:
    (v,) = violations(params({"distribution": dist, "min": 0, "max": 1}))
    assert v.path == "parameters.lr.min"
    assert "greater than 0" in v.message


def test_missing_bound_is_named(violations: Violations) -> None:
    (v,) = violations(params({"distribution": "uniform", "min": 0.1}))
    assert v.path == "parameters.lr.max"


def test_min_alone_cannot_be_inferred(violations: Violations) -> None:
    (v,) = violations(params({"min": 0.1}))
    assert v.path == "parameters.lr"
    assert "both" in v.message


def test_unknown_distribution_suggests_the_closest(violations: Violations) -> None:
    (v,) = violations(params({"distribution": "loguniform_values", "min": 1, "max": 2}))
    assert v.path == "parameters.lr.distribution"
    assert "log_uniform_values" in v.message


def test_key_that_does_not_belong_is_named(violations: Violations) -> None:
    found = violations(params({"distribution": "normal", "min": 0, "max": 1}))
    assert sorted(paths(found)) == ["parameters.lr.max", "parameters.lr.min"]


def test_q_without_a_quantized_distribution_says_which_to_use(violations: Violations) -> None:
    (v,) = violations(params({"distribution": "uniform", "min": 0.0, "max": 1.0, "q": 0.1}))
    assert v.path == "parameters.lr.q"
    assert "q_uniform" in v.message


def test_empty_values_are_rejected(violations: Violations) -> None:
    (v,) = violations(params({"values": []}))
    assert v.path == "parameters.lr.values"


def test_values_must_be_a_list(violations: Violations) -> None:
    (v,) = violations(params({"values": 5}))
    assert "values: [5]" in v.message


def test_spec_that_is_not_a_mapping_suggests_value(violations: Violations) -> None:
    (v,) = violations(params(0.1))
    assert v.path == "parameters.lr"
    assert "value: 0.1" in v.message


def test_bool_bounds_are_not_numbers(violations: Violations) -> None:
    (v,) = violations(params({"min": True, "max": 5}))
    assert v.path == "parameters.lr.min"


def test_non_finite_bounds_are_rejected(violations: Violations) -> None:
    (v,) = violations(params({"min": 0.0, "max": float("inf")}))
    assert v.path == "parameters.lr.max"


def test_quoted_plain_number_stays_an_error(violations: Violations) -> None:
    (v,) = violations(params({"min": "1", "max": 5}))
    assert v.path == "parameters.lr.min"
    assert "remove the quotes" in v.message


@pytest.mark.parametrize("name", ["1lr", "my lr", "lr$", ""])
def test_parameter_names_must_match_wandbs_pattern(violations: Violations, name: str) -> None:
    (v,) = violations({"method": "random", "parameters": {name: {"value": 1}}})
    assert v.path == f"parameters.{name}"


def test_nested_violation_path_goes_through_parameters(violations: Violations) -> None:
    raw = {
        "method": "random",
        "parameters": {
            "opt": {
                "parameters": {"lr": {"distribution": "log_uniform_values", "min": 0, "max": 1}}
            }
        },
    }
    (v,) = violations(raw)
    assert v.path == "parameters.opt.parameters.lr.min"


def test_nested_block_takes_no_other_keys(violations: Violations) -> None:
    (v,) = violations(params({"parameters": {"a": {"value": 1}}, "values": [1]}))
    assert v.path == "parameters.lr.values"


def test_empty_parameters_block_is_rejected(violations: Violations) -> None:
    assert paths(violations({"method": "random", "parameters": {}})) == ["parameters"]
    assert paths(violations(params({"parameters": {}}))) == ["parameters.lr.parameters"]


def test_nested_probabilities_are_checked_too(violations: Violations) -> None:
    raw = params({"parameters": {"c": {"values": [1, 2], "probabilities": [0.9, 0.9]}}})
    assert paths(violations(raw)) == ["parameters.lr.parameters.c.probabilities"]


@pytest.mark.parametrize(
    "spec",
    [
        {"min": 0.0, "max": 1.0},
        {"distribution": "log_uniform_values", "min": 1e-5, "max": 1.0},
        {"distribution": "normal"},
        {"distribution": "beta"},
        {"distribution": "q_log_uniform_values", "min": 1, "max": 100},
    ],
)
def test_grid_rejects_continuous_distributions_naming_the_parameter(
    violations: Violations, spec: dict[str, Any]
) -> None:
    (v,) = violations(params(spec, method="grid"))
    assert v.path == "parameters.lr"
    assert "values:" in v.message and "int_uniform" in v.message and "q_uniform" in v.message


def test_grid_rejects_probabilities(violations: Violations) -> None:
    (v,) = violations(params({"values": [1, 2], "probabilities": [0.5, 0.5]}, method="grid"))
    assert "probabilities" in v.message


@pytest.mark.parametrize(
    "spec",
    [
        {"values": [1, 2]},
        {"value": 1},
        {"min": 1, "max": 3},
        {"distribution": "q_uniform", "min": 0, "max": 10, "q": 2},
    ],
)
def test_grid_accepts_enumerable_distributions(spec: dict[str, Any]) -> None:
    parse_config(params(spec, method="grid"))


def test_every_violation_is_reported_at_once(violations: Violations) -> None:
    raw = {
        "method": "grid",
        "metric": {"name": "loss", "goal": "minimise"},
        "parameters": {"a": {"min": 0.5, "max": 0.1}, "b": {"values": []}},
        "early_terminate": {"type": "hyperband", "min_iter": 3, "eta": 1},
    }
    assert set(paths(violations(raw))) >= {
        "metric.goal",
        "parameters.a.max",
        "parameters.b.values",
        "early_terminate.eta",
    }


def test_config_error_message_lists_every_violation() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(params({"min": 0.5, "max": 0.1}))
    assert "parameters.lr.max" in str(info.value)
