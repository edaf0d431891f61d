"""What wandb accepts but the user probably did not mean gets a warning naming its path."""

from __future__ import annotations

import pytest

from localsweep.config import Distribution, parse_config


def warnings_for(spec: dict[str, object]) -> tuple[str, ...]:
    return parse_config({"method": "random", "parameters": {"lr": spec}}).warnings


def test_exponent_written_as_string_is_read_as_a_number_with_a_warning() -> None:
    cfg = parse_config({"method": "random", "parameters": {"lr": {"min": "1e-5", "max": 0.1}}})
    p = cfg.parameters[0]
    assert p.distribution is Distribution.UNIFORM
    assert p.min == 1e-5
    assert any(w.startswith("parameters.lr.min:") and "1.0e-05" in w for w in cfg.warnings)


def test_converted_numbers_are_in_raw() -> None:
    cfg = parse_config({"method": "random", "parameters": {"lr": {"min": "-3e2", "max": "1e2"}}})
    assert cfg.raw["parameters"]["lr"] == {"min": -300.0, "max": 100.0}


def test_exponent_string_in_values_is_kept_but_warned() -> None:
    cfg = parse_config({"method": "random", "parameters": {"lr": {"values": ["1e-5", "adam"]}}})
    assert cfg.parameters[0].values == ("1e-5", "adam")
    assert len(cfg.warnings) == 1 and cfg.warnings[0].startswith("parameters.lr.values[0]:")


def test_ordinary_strings_in_values_give_no_warning() -> None:
    assert warnings_for({"values": ["0.5", "adam", "007"]}) == ()


@pytest.mark.parametrize("dist", ["log_uniform", "q_log_uniform", "inv_log_uniform"])
def test_deprecated_distributions_warn_instead_of_failing(dist: str) -> None:
    found = warnings_for({"distribution": dist, "min": -5.0, "max": -1.0})
    assert len(found) == 1
    assert dist in found[0] and dist.replace("log_uniform", "log_uniform_values") in found[0]


@pytest.mark.parametrize(("lo", "hi"), [(0.0001, 0.1), (1e-5, 10.0), (0.01, 1.0), (1.0, 1000.0)])
def test_log_uniform_bounds_that_look_like_values_suggest_log_uniform_values(
    lo: float, hi: float
) -> None:
    found = warnings_for({"distribution": "log_uniform", "min": lo, "max": hi})
    assert len(found) == 2
    assert "look like values" in found[1]
    assert f"`min: {lo!r}`" in found[1] and "log_uniform_values" in found[1]


@pytest.mark.parametrize(("lo", "hi"), [(-9.2, -2.3), (-5.0, 2.0), (0.5, 3.0)])
def test_log_uniform_exponent_bounds_get_only_the_deprecation(lo: float, hi: float) -> None:
    assert len(warnings_for({"distribution": "log_uniform", "min": lo, "max": hi})) == 1


def test_equivalent_values_are_given_for_exponent_bounds() -> None:
    found = warnings_for({"distribution": "log_uniform", "min": 0.01, "max": 1.0})
    assert "`min: 1.01005`" in found[1] and "`max: 2.71828`" in found[1]


@pytest.mark.parametrize(("dist", "key"), [("normal", "sigma"), ("beta", "a"), ("q_beta", "b")])
def test_zero_shape_parameter_warns_of_nan_samples(dist: str, key: str) -> None:
    found = warnings_for({"distribution": dist, key: 0})
    assert len(found) == 1 and found[0].startswith(f"parameters.lr.{key}:") and "NaN" in found[0]


def test_valid_config_has_no_warnings() -> None:
    assert warnings_for({"distribution": "log_uniform_values", "min": 1e-5, "max": 0.1}) == ()


def test_the_equivalent_offered_for_exponent_bounds_is_a_valid_config() -> None:
    """e^1000 is beyond the largest float: `max: inf` would be refused, so it is not offered."""
    found = warnings_for({"distribution": "log_uniform", "min": 1, "max": 1000})
    assert "max: inf" not in found[1]
    assert "e^1000 is beyond the largest float and samples overflow" in found[1]
    small = warnings_for({"distribution": "log_uniform", "min": 1, "max": 100})
    assert "`max: 2.68812e+43`" in small[1]


@pytest.mark.parametrize("method", ["random", "grid"])
def test_a_sampler_under_another_method_than_bayes_is_said_to_be_unused(method: str) -> None:
    config = {
        "method": method,
        "parameters": {"x": {"values": [1, 2]}},
        "localsweep": {"sampler": "gp"},
    }
    found = parse_config(config).warnings
    assert found == (
        f"localsweep.sampler: chooses bayes's sampler; `method: {method}` does not use it "
        "(set `method: bayes`, or remove the key)",
    )
    config["method"] = "bayes"
    config["metric"] = {"name": "loss"}
    assert parse_config(config).warnings == ()
