"""Each parameter spec gets wandb's distribution and defaults."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from localsweep.config import Distribution, SweepConfig, parse_config

D = Distribution
Parse = Callable[..., SweepConfig]


def test_values_is_categorical(one_param: Parse) -> None:
    p = one_param({"values": [1, "a", None]}).parameters[0]
    assert p.distribution is D.CATEGORICAL
    assert p.values == (1, "a", None)


def test_values_with_probabilities_is_categorical_w_probabilities(one_param: Parse) -> None:
    p = one_param({"values": [1, 2], "probabilities": [0.25, 0.75]}).parameters[0]
    assert p.distribution is D.CATEGORICAL_W_PROBABILITIES
    assert p.probabilities == (0.25, 0.75)


def test_value_is_constant(one_param: Parse) -> None:
    p = one_param({"value": [1, 2]}).parameters[0]
    assert p.distribution is D.CONSTANT
    assert p.value == [1, 2]


def test_null_value_is_a_constant(one_param: Parse) -> None:
    p = one_param({"value": None}).parameters[0]
    assert p.is_constant and p.value is None


def test_int_bounds_are_int_uniform(one_param: Parse) -> None:
    p = one_param({"min": 1, "max": 5}).parameters[0]
    assert p.distribution is D.INT_UNIFORM
    assert (p.min, p.max) == (1, 5)


def test_float_bounds_are_uniform(one_param: Parse) -> None:
    assert one_param({"min": 0.1, "max": 0.5}).parameters[0].distribution is D.UNIFORM


def test_integral_float_bounds_are_uniform(one_param: Parse) -> None:
    assert one_param({"min": 1.0, "max": 5.0}).parameters[0].distribution is D.UNIFORM


def test_explicit_uniform_keeps_int_bounds(one_param: Parse) -> None:
    p = one_param({"distribution": "uniform", "min": 1, "max": 5}).parameters[0]
    assert p.distribution is D.UNIFORM
    assert isinstance(p.min, int)


def test_nested_mixed_bounds_are_uniform() -> None:
    cfg = parse_config(
        {"method": "random", "parameters": {"o": {"parameters": {"x": {"min": 1, "max": 2.5}}}}}
    )
    assert cfg.parameters[0].distribution is D.UNIFORM


@pytest.mark.parametrize("dist", ["q_uniform", "q_log_uniform_values", "q_log_uniform"])
def test_quantized_bounded_distributions_default_q_to_float_one(
    one_param: Parse, dist: str
) -> None:
    p = one_param({"distribution": dist, "min": 1, "max": 10}).parameters[0]
    assert p.q == 1.0 and isinstance(p.q, float)


@pytest.mark.parametrize("dist", ["normal", "log_normal", "q_normal", "q_log_normal"])
def test_normal_family_defaults_to_mu_zero_sigma_one(one_param: Parse, dist: str) -> None:
    p = one_param({"distribution": dist}).parameters[0]
    assert (p.mu, p.sigma) == (0, 1)
    assert (p.q is not None) == dist.startswith("q_")


@pytest.mark.parametrize("dist", ["beta", "q_beta"])
def test_beta_defaults_to_a_b_one(one_param: Parse, dist: str) -> None:
    p = one_param({"distribution": dist}).parameters[0]
    assert (p.a, p.b) == (1, 1)


def test_given_q_keeps_its_int_type(one_param: Parse) -> None:
    p = one_param({"distribution": "q_uniform", "min": 0, "max": 10, "q": 2}).parameters[0]
    assert p.q == 2 and isinstance(p.q, int)


LOG_BOUNDED = [d.value for d in D if "log_uniform" in d.value]


@pytest.mark.parametrize("dist", LOG_BOUNDED)
def test_log_distributions_keep_min_and_max(one_param: Parse, dist: str) -> None:
    p = one_param({"distribution": dist, "min": 0.5, "max": 2.0}).parameters[0]
    assert p.distribution.value == dist
    assert (p.min, p.max) == (0.5, 2.0)


def test_explicit_categorical_and_constant(one_param: Parse) -> None:
    assert one_param({"distribution": "categorical", "values": [1]}).parameters[0].values == (1,)
    assert one_param({"distribution": "constant", "value": 3}).parameters[0].value == 3


def test_parameters_are_sorted_by_name() -> None:
    cfg = parse_config(
        {
            "method": "random",
            "parameters": {"b": {"value": 1}, "a": {"value": 2}, "C": {"value": 3}},
        }
    )
    assert [p.path for p in cfg.parameters] == [("C",), ("a",), ("b",)]


def test_nested_parameters_become_paths_sorted_at_every_level() -> None:
    cfg = parse_config(
        {
            "method": "random",
            "parameters": {
                "z": {"value": 0},
                "opt": {
                    "parameters": {
                        "mom": {"value": 0.9},
                        "inner": {"parameters": {"b": {"value": 1}, "a": {"value": 2}}},
                    }
                },
                "a_b": {"value": 1},
            },
        }
    )
    assert [p.path for p in cfg.parameters] == [
        ("a_b",),
        ("opt", "inner", "a"),
        ("opt", "inner", "b"),
        ("opt", "mom"),
        ("z",),
    ]


def test_dotted_and_dashed_names_are_allowed() -> None:
    cfg = parse_config({"method": "random", "parameters": {"model.lr-x": {"value": 1}}})
    assert cfg.parameters[0].path == ("model.lr-x",)
