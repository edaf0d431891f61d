"""ppf, cdf, grid_values and value_hash follow wandb's engine's formulas."""

from __future__ import annotations

import math
from typing import Any

import pytest

from localsweep.config import Distribution, Parameter, parse_config
from localsweep.config._distributions import value_hash
from localsweep.errors import ConfigError

D = Distribution


def param(spec: dict[str, Any]) -> Parameter:
    return parse_config({"method": "random", "parameters": {"x": spec}}).parameters[0]


ALL_SPECS: list[dict[str, Any]] = [
    {"value": 3},
    {"values": ["a", "b", "c"]},
    {"values": [1, 2], "probabilities": [0.3, 0.7]},
    {"min": 1, "max": 5},
    {"min": 0.0, "max": 2.0},
    {"distribution": "q_uniform", "min": 0, "max": 10},
    {"distribution": "q_uniform", "min": 0, "max": 10, "q": 2},
    {"distribution": "log_uniform", "min": -5.0, "max": 0.0},
    {"distribution": "log_uniform_values", "min": 1e-4, "max": 1.0},
    {"distribution": "q_log_uniform", "min": 0.0, "max": 5.0},
    {"distribution": "q_log_uniform_values", "min": 1, "max": 100, "q": 1},
    {"distribution": "inv_log_uniform", "min": 0.0, "max": 5.0},
    {"distribution": "inv_log_uniform_values", "min": 1e-3, "max": 1.0},
    {"distribution": "normal", "mu": 1.0, "sigma": 2.0},
    {"distribution": "q_normal", "q": 0.5},
    {"distribution": "log_normal"},
    {"distribution": "q_log_normal", "q": 2},
    {"distribution": "beta", "a": 2, "b": 5},
    {"distribution": "q_beta", "q": 0.1},
]

_DISCRETE = (D.CONSTANT, D.CATEGORICAL, D.CATEGORICAL_W_PROBABILITIES, D.INT_UNIFORM)
CONTINUOUS = [
    s
    for s in ALL_SPECS
    if param(s).distribution not in _DISCRETE and not param(s).distribution.is_quantized
]


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.get("distribution", str(sorted(s))))
@pytest.mark.parametrize("u", [0.0, 0.1, 0.5, 0.999])
def test_ppf_returns_plain_python_values(spec: dict[str, Any], u: float) -> None:
    value = param(spec).ppf(u)
    assert type(value) in (int, float, str)


def test_quantized_with_int_q_gives_ints_and_default_q_gives_floats() -> None:
    assert type(param({"distribution": "q_uniform", "min": 0, "max": 10, "q": 2}).ppf(0.3)) is int
    assert type(param({"distribution": "q_uniform", "min": 0, "max": 10}).ppf(0.3)) is float


def test_quantized_values_can_fall_outside_the_bounds() -> None:
    p = param({"distribution": "q_uniform", "min": 1, "max": 10, "q": 4})
    # u=0.05 is 1.45 on [1, 10], which rounds to 0 * 4, below min.
    assert p.ppf(0.05) == 0


def test_quantization_rounds_half_to_even() -> None:
    # u=0.25 maps to 2.5 on [0, 10]; numpy rounds 2.5 to 2, as the engine does.
    assert param({"distribution": "q_uniform", "min": 0, "max": 10, "q": 1}).ppf(0.25) == 2


def test_int_uniform_covers_both_bounds() -> None:
    p = param({"min": 1, "max": 3})
    assert [p.ppf(u) for u in (0.01, 0.34, 0.99)] == [1, 2, 3]


def test_categorical_picks_by_equal_slices() -> None:
    p = param({"values": ["a", "b", "c", "d"]})
    assert [p.ppf(u) for u in (0.1, 0.3, 0.6, 0.9)] == ["a", "b", "c", "d"]


def test_categorical_w_probabilities_uses_cumulative_probabilities() -> None:
    p = param({"values": ["a", "b", "c"], "probabilities": [0.2, 0.5, 0.3]})
    assert [p.ppf(u) for u in (0.1, 0.2, 0.69, 0.7, 0.95)] == ["a", "b", "b", "c", "c"]


def test_log_uniform_bounds_are_exponents_and_values_forms_are_values() -> None:
    assert param({"distribution": "log_uniform", "min": 0.0, "max": 2.0}).ppf(0.5) == pytest.approx(
        math.e
    )
    values = param({"distribution": "log_uniform_values", "min": 1e-4, "max": 1.0})
    assert values.ppf(0.5) == pytest.approx(1e-2)


def test_inv_log_uniform_values_is_log_uniform_on_the_same_range() -> None:
    inv = param({"distribution": "inv_log_uniform_values", "min": 1e-3, "max": 1.0})
    log = param({"distribution": "log_uniform_values", "min": 1e-3, "max": 1.0})
    assert inv.ppf(0.3) == pytest.approx(log.ppf(0.3))


def test_constant_ppf_is_a_copy_of_the_value() -> None:
    p = param({"value": [1, 2]})
    got = p.ppf(0.5)
    got.append(3)
    assert p.value == [1, 2]


@pytest.mark.parametrize("u", [-0.1, 1.5])
def test_ppf_rejects_quantiles_outside_zero_one(u: float) -> None:
    with pytest.raises(ValueError, match="quantile"):
        param({"min": 0.0, "max": 1.0}).ppf(u)


@pytest.mark.parametrize("spec", CONTINUOUS, ids=lambda s: s.get("distribution", "uniform"))
@pytest.mark.parametrize("u", [0.05, 0.5, 0.93])
def test_cdf_inverts_ppf_for_continuous_distributions(spec: dict[str, Any], u: float) -> None:
    p = param(spec)
    assert p.cdf(p.ppf(u)) == pytest.approx(u)


def test_categorical_cdf_is_that_of_the_values_index() -> None:
    p = param({"values": ["a", "b", "c"]})
    assert [p.cdf(v) for v in "abc"] == pytest.approx([1 / 3, 2 / 3, 1.0])
    weighted = param({"values": ["a", "b"], "probabilities": [0.25, 0.75]})
    assert weighted.cdf("a") == 0.25


def test_constant_cdf_is_zero() -> None:
    assert param({"value": 1}).cdf(1) == 0.0


def test_grid_values_collapse_duplicates_keeping_first_position_and_last_value() -> None:
    values = param({"values": [1, 1, 2, True, 1.0]}).grid_values()
    assert values == (1.0, 2, True)
    assert type(values[0]) is float


def test_grid_values_of_int_uniform_include_max() -> None:
    assert param({"min": -1, "max": 2}).grid_values() == (-1, 0, 1, 2)


def test_grid_values_of_q_uniform_leave_out_max() -> None:
    assert param({"distribution": "q_uniform", "min": 0, "max": 10, "q": 2}).grid_values() == (
        0,
        2,
        4,
        6,
        8,
    )


def test_grid_values_of_default_q_uniform_are_floats() -> None:
    values = param({"distribution": "q_uniform", "min": 0, "max": 3}).grid_values()
    assert values == (0.0, 1.0, 2.0) and all(type(v) is float for v in values)


def test_grid_values_of_a_constant_is_the_value() -> None:
    assert param({"value": "x"}).grid_values() == ("x",)


def test_grid_values_of_a_continuous_distribution_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"parameters\.x"):
        param({"min": 0.0, "max": 1.0}).grid_values()


def test_value_hash_treats_integral_floats_as_ints() -> None:
    assert value_hash(3.0) == value_hash(3)
    assert value_hash(3.5) != value_hash(3)


def test_value_hash_keeps_bools_apart_from_ints() -> None:
    assert value_hash(True) != value_hash(1)


def test_value_hash_ignores_dict_key_order_and_tuple_versus_list() -> None:
    assert value_hash({"a": 1, "b": 2}) == value_hash({"b": 2, "a": 1})
    assert value_hash((1, 2)) == value_hash([1, 2])


@pytest.mark.parametrize("value", [0, 7, -3, 10**20, -(10**30), 3.0, -2.0, True, False])
def test_value_hash_of_an_int_is_wandbs_yaml_digest(value: Any) -> None:
    """Grid points stored in a database (and wandb's grid) key ints by the md5 of their
    YAML text: the fast way for ints must give the same key, or a sweep made before would
    run its done points again."""
    import hashlib

    import yaml

    whole = int(value) if isinstance(value, float) else value
    text = yaml.dump(whole, default_flow_style=True, sort_keys=True)
    assert value_hash(value) == hashlib.md5(text.encode("ascii")).hexdigest()
