"""The fix an error suggests must itself be right: a misspelt log-uniform name gets the form
its bounds fit, and a YAML error caused by unquoted macros says how to quote them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from localsweep.config import Distribution, load_config, parse_config
from localsweep.errors import ConfigError


def distribution_error(name: str, **bounds: Any) -> str:
    raw = {"method": "random", "parameters": {"lr": {"distribution": name, **bounds}}}
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    (violation,) = info.value.violations
    assert violation.path == "parameters.lr.distribution"
    return violation.message


def suggested(message: str) -> str:
    return message.split("did you mean `", 1)[1].split("`", 1)[0]


@pytest.mark.parametrize(
    ("name", "values_form"),
    [
        ("loguniform", "log_uniform_values"),
        ("log-uniform", "log_uniform_values"),
        ("LogUniform", "log_uniform_values"),
        ("q_loguniform", "q_log_uniform_values"),
        ("inv_loguniform", "inv_log_uniform_values"),
        ("loguniform_value", "log_uniform_values"),
    ],
)
def test_a_misspelt_log_uniform_with_value_bounds_suggests_the_values_form(
    name: str, values_form: str
) -> None:
    message = distribution_error(name, min=0.001, max=0.1)
    assert suggested(message) == values_form
    assert "min 0.001 and max 0.1 look like values" in message


@pytest.mark.parametrize(
    ("name", "exponent_form"),
    [
        ("loguniform", "log_uniform"),
        ("log_uniform_value", "log_uniform"),
        ("q_loguniform_values", "q_log_uniform"),
        ("invloguniform", "inv_log_uniform"),
    ],
)
def test_a_misspelt_log_uniform_with_exponent_bounds_suggests_the_exponent_form(
    name: str, exponent_form: str
) -> None:
    message = distribution_error(name, min=-9.2, max=-2.3)
    assert suggested(message) == exponent_form
    assert "as exponents of e, e^-9.2 = 0.000101039 to e^-2.3 = 0.100259" in message
    # Negative bounds cannot be values on a log scale: no alternative offered.
    assert "_values" not in message.split("did you mean")[1].split("known:")[0]


def test_following_the_suggestion_gives_no_look_like_values_warning() -> None:
    for bounds in ({"min": 0.001, "max": 0.1}, {"min": -9.2, "max": -2.3}, {"min": 1, "max": 1e4}):
        fixed = suggested(distribution_error("loguniform", **bounds))
        spec = {"distribution": fixed, **bounds}
        cfg = parse_config({"method": "random", "parameters": {"lr": spec}})
        assert not any("look like values" in w for w in cfg.warnings), (bounds, cfg.warnings)


def test_exponent_strings_count_as_bounds_for_the_suggestion() -> None:
    assert suggested(distribution_error("loguniform", min="1e-5", max="1e-1")) == (
        "log_uniform_values"
    )


def test_positive_exponent_bounds_mention_the_values_form_too() -> None:
    message = distribution_error("loguniform", min=1, max=10)
    assert suggested(message) == "log_uniform"
    assert "for values from 1 to 10 write `log_uniform_values`" in message


def test_without_bounds_both_forms_are_offered() -> None:
    message = distribution_error("loguniform")
    assert "did you mean `log_uniform_values`, whose min/max are the values themselves, or " in (
        message
    )
    assert "`log_uniform`, whose min/max are exponents of e?" in message


@pytest.mark.parametrize(("name", "meant"), [("unifrom", "uniform"), ("q_normall", "q_normal")])
def test_other_misspelt_distributions_keep_the_closest_name(name: str, meant: str) -> None:
    assert suggested(distribution_error(name, min=0.001, max=0.1)) == meant


QUOTE_HINT = (
    'quote each macro in a flow list: ["${env}", "${interpreter}", ...], or write one item '
    "per line (- ${env})"
)


def yaml_error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "sweep.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (violation,) = info.value.violations
    return violation.message


@pytest.mark.parametrize(
    "command",
    [
        "command: [${env}, ${interpreter}, ${program}, ${args}]\n",
        'command: ["${env}", ${args}]\n',
        'command: [\n  "${env}",\n  ${args}\n]\n',
    ],
)
def test_unquoted_macros_in_a_flow_list_say_how_to_quote_them(tmp_path: Path, command: str) -> None:
    message = yaml_error(tmp_path, "method: random\nprogram: t.py\n" + command)
    assert "expected ',' or ']', but got '{'" in message
    assert f"`command` (line 3): {QUOTE_HINT}" in message
    assert repr(str(tmp_path / "sweep.yaml")) in message
    assert "<unicode string>" not in message


def test_the_quoted_and_the_block_forms_of_the_hint_both_load(tmp_path: Path) -> None:
    spec = "parameters:\n  x: {value: 1}\n"
    for command in (
        'command: ["${env}", "${interpreter}", "${program}", "${args}"]\n',
        "command:\n  - ${env}\n  - ${interpreter}\n  - ${program}\n  - ${args}\n",
    ):
        (tmp_path / "s.yaml").write_text("method: random\nprogram: t.py\n" + command + spec)
        cfg = load_config(tmp_path / "s.yaml")
        assert cfg.command == ("${env}", "${interpreter}", "${program}", "${args}")
        assert cfg.warnings == ()


def test_a_yaml_error_without_macros_gets_no_macro_hint(tmp_path: Path) -> None:
    message = yaml_error(tmp_path, "method: [grid\nparameters: {x: {value: 1}}\n")
    assert "cannot parse" in message and "macro" not in message


def test_the_distribution_hint_names_real_distributions() -> None:
    names = {d.value for d in Distribution}
    for name in ("loguniform", "q_loguniform", "inv_loguniform"):
        for bounds in ({}, {"min": 0.001, "max": 0.1}, {"min": -5, "max": -1}):
            assert suggested(distribution_error(name, **bounds)) in names


def test_a_list_under_metric_points_to_metrics() -> None:
    raw = {
        "method": "bayes",
        "metric": [{"name": "val_loss"}, {"name": "n_params", "goal": "minimize"}],
        "parameters": {"lr": {"min": 0.001, "max": 0.1}},
    }
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    (violation,) = info.value.violations
    assert violation.path == "metric"
    assert "write the list under `metrics:` instead, with `method: custom`" in violation.message
    # And the fix it names is a config that parses.
    fixed = parse_config(
        {"method": "custom", "metrics": raw["metric"], "parameters": raw["parameters"]}
    )
    assert [m.name for m in fixed.metrics] == ["val_loss", "n_params"]


def test_a_bad_parameter_is_not_also_called_a_constant() -> None:
    # Only `hidden` parses (a constant); `lr` and `layers` are wrong, not constant: the
    # errors are theirs, and "needs a parameter that is not a constant" would send the
    # user looking for a mistake they did not make.
    raw = {
        "method": "bayes",
        "metric": {"name": "loss"},
        "parameters": {
            "lr": {"min": 0.1, "max": 0.01},
            "layers": {"valuess": [1, 2]},
            "hidden": {"value": 16},
        },
    }
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    assert {v.path for v in info.value.violations} == {"parameters.lr.max", "parameters.layers"}
    # With every parameter constant, it is still said.
    with pytest.raises(ConfigError, match="not a constant"):
        parse_config({**raw, "parameters": {"hidden": {"value": 16}}})
