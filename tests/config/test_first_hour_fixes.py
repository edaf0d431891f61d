"""A beginner's config mistakes get a fix that is itself right: following it gives the
sweep that was meant (docs/config.md, "When a config is refused")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from localsweep.config import load_config, parse_config
from localsweep.errors import ConfigError


def refused(raw: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    return [(v.path, v.message) for v in info.value.violations]


def file_refused(tmp_path: Path, text: str) -> str:
    (tmp_path / "s.yaml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "s.yaml")
    (violation,) = info.value.violations
    return violation.message


def suggested_values(message: str) -> Any:
    return yaml.safe_load(message.split("`values: ", 1)[1].split("`", 1)[0])


@pytest.mark.parametrize(
    ("written", "meant"),
    [("adam, sgd", ["adam", "sgd"]), ("0.1, 0.2", [0.1, 0.2]), ("16,32", [16, 32]), (32, [32])],
)
def test_values_that_are_not_a_list_suggest_the_list_meant(written: Any, meant: list) -> None:
    ((path, message),) = refused({"method": "grid", "parameters": {"p": {"values": written}}})
    assert path == "parameters.p.values"
    assert suggested_values(message) == meant
    fixed = parse_config({"method": "grid", "parameters": {"p": {"values": meant}}})
    assert fixed.parameters[0].values == tuple(meant)


def test_a_bare_list_parameter_suggests_values_first() -> None:
    ((path, message),) = refused({"method": "random", "parameters": {"epochs": [1, 2]}})
    assert path == "parameters.epochs"
    assert message.startswith("must be a mapping such as `values: [1, 2]`")
    assert suggested_values(message) == [1, 2]


def test_a_tab_in_the_indentation_says_to_use_spaces_on_its_line(tmp_path: Path) -> None:
    text = "method: random\nparameters:\n\tlr:\n\t\tmin: 0.1\n\t\tmax: 1.0\n"
    message = file_refused(tmp_path, text)
    assert message.endswith("\nline 3: YAML indentation must use spaces, not tabs")


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("method: random\nparameters:\n  lr:\n    min:0.001\n    max: 0.1\n", 4),
        ("method: random\nparameters:\n  lr:\n    max: 0.1\n    min:0.001\n", 5),
    ],
)
def test_a_key_without_a_space_after_its_colon_is_named_on_its_own_line(
    tmp_path: Path, text: str, line: int
) -> None:
    message = file_refused(tmp_path, text)
    assert message.endswith(
        f"\nline {line}: `min:0.001` needs a space after the colon (`min: 0.001`)"
    )
    (tmp_path / "s.yaml").write_text(text.replace("min:0.001", "min: 0.001"))
    assert load_config(tmp_path / "s.yaml").parameters[0].min == 0.001


def test_a_top_level_parameter_is_told_to_go_under_parameters() -> None:
    raw = {
        "method": "random",
        "parameters": {"batch_size": {"values": [1]}},
        "lr": {"min": 0.1, "max": 1.0},
    }
    assert refused(raw) == [
        (
            "lr",
            "unknown key in a sweep config; `lr` looks like a parameter: indent it under "
            "`parameters:`",
        )
    ]


def test_count_in_the_config_points_to_agent_count_and_run_cap() -> None:
    ((path, message),) = refused(
        {"method": "random", "count": 10, "parameters": {"lr": {"min": 0.1, "max": 0.2}}}
    )
    assert path == "count"
    assert "`localsweep agent --count N`" in message and "`run_cap: N`" in message


def test_a_wandb_run_config_is_one_message_saying_what_it_is() -> None:
    raw = {
        "wandb_version": 1,
        "_wandb": {"desc": None, "value": {"cli_version": "0.31.0"}},
        "lr": {"desc": None, "value": 0.01},
    }
    ((path, message),) = refused(raw)
    assert path == "wandb_version"
    assert "this is a wandb run config (`wandb_version`), not a sweep config" in message


@pytest.mark.parametrize(
    ("spec", "where", "meant"),
    [
        ({"valus": [0.1, 0.2]}, "parameters.lr", "`values` for `valus`"),
        ({"Min": 0.1, "Max": 0.2}, "parameters.lr", "`min` for `Min`, `max` for `Max`"),
        (
            {"values": [0.1, 0.2], "probability": [0.5, 0.5]},
            "parameters.lr.probability",
            "did you mean `probabilities`?",
        ),
    ],
)
def test_a_misspelt_key_in_a_parameter_gets_did_you_mean(
    spec: dict[str, Any], where: str, meant: str
) -> None:
    ((path, message),) = refused({"method": "random", "parameters": {"lr": spec}})
    assert path == where
    assert meant in message


def test_a_glued_key_that_yaml_reads_as_a_string_is_named_too(tmp_path: Path) -> None:
    message = file_refused(tmp_path, "method: random\nparameters:\n  lr:\n    min:0.001\n")
    assert message == (
        "`min:0.001` needs a space after the colon (`min: 0.001`): without it YAML reads one string"
    )
