"""``localsweep: {early_stopping: ...}`` and the ``early_stopping_*`` arguments of
``wandb.init``: the same rule, the same checks."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from localsweep.config import EarlyStopping, Goal, Metric, early_stopping_from_init, parse_config
from localsweep.errors import Violation

Violations = Callable[[Mapping[str, Any]], list[Violation]]


def cfg(early_stopping: Any, metric: dict[str, Any] | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {
        "method": "random",
        "parameters": {"x": {"values": [1, 2]}},
        "localsweep": {"early_stopping": early_stopping},
    }
    if metric is not None:
        config["metric"] = metric
    return config


def test_the_issue_example_is_read() -> None:
    parsed = parse_config(cfg({"metric": "val_loss", "threshold": 0.01, "patience": 3}))

    assert parsed.options.early_stopping == EarlyStopping(
        "val_loss", threshold=0.01, patience=3, goal=Goal.MINIMIZE
    )


def test_defaults_are_patience_1_threshold_0_and_minimize() -> None:
    parsed = parse_config(cfg({"metric": "val_loss"}))

    assert parsed.options.early_stopping == EarlyStopping("val_loss", 0.0, 1, Goal.MINIMIZE)


def test_without_the_block_there_is_no_plateau_stopping() -> None:
    parsed = parse_config({"method": "random", "parameters": {"x": {"values": [1]}}})

    assert parsed.options.early_stopping is None


def test_the_sweeps_metric_brings_its_goal() -> None:
    metric = {"name": "val_accuracy", "goal": "maximize"}
    parsed = parse_config(cfg({"metric": "val_accuracy", "threshold": 0.001}, metric))

    assert parsed.options.early_stopping is not None
    assert parsed.options.early_stopping.goal is Goal.MAXIMIZE


def test_the_metric_defaults_to_the_sweeps() -> None:
    parsed = parse_config(cfg({"patience": 2}, {"name": "acc", "goal": "maximize"}))

    assert parsed.options.early_stopping == EarlyStopping("acc", 0.0, 2, Goal.MAXIMIZE)


def test_another_metric_takes_its_own_goal() -> None:
    metric = {"name": "val_accuracy", "goal": "maximize"}
    parsed = parse_config(cfg({"metric": "train_loss"}, metric))
    assert parsed.options.early_stopping is not None
    assert parsed.options.early_stopping.goal is Goal.MINIMIZE

    parsed = parse_config(cfg({"metric": "f1", "goal": "maximize"}, metric))
    assert parsed.options.early_stopping is not None
    assert parsed.options.early_stopping.goal is Goal.MAXIMIZE


def test_the_config_stays_a_wandb_config() -> None:
    # Everything of ours sits under `localsweep:`; wandb's keys are untouched.
    raw = cfg({"metric": "val_loss", "threshold": 0.01}, {"name": "val_loss"})
    parsed = parse_config(raw)

    assert parsed.metric == Metric("val_loss")
    assert parsed.early_terminate is None
    assert parsed.raw["localsweep"] == {"early_stopping": {"metric": "val_loss", "threshold": 0.01}}


@pytest.mark.parametrize(
    ("block", "path", "words"),
    [
        ({"metric": "l", "threshold": -0.1}, "threshold", "0 or more"),
        ({"metric": "l", "threshold": "a lot"}, "threshold", "must be a number"),
        ({"metric": "l", "threshold": float("nan")}, "threshold", "finite"),
        ({"metric": "l", "patience": 0}, "patience", "at least 1"),
        ({"metric": "l", "patience": 2.5}, "patience", "whole number"),
        ({"metric": "l", "goal": "min"}, "goal", "did you mean `minimize`"),
        ({"metric": 3}, "metric", "must be a string"),
        ({"metric": ""}, "metric", "not an empty string"),
        ({"threshold": 0.1}, "metric", "is required"),
        ({"metric": "l", "patiense": 3}, "patiense", "did you mean `patience`"),
    ],
)
def test_bad_fields_are_named(
    violations: Violations, block: dict[str, Any], path: str, words: str
) -> None:
    (v,) = violations(cfg(block))

    assert v.path == f"localsweep.early_stopping.{path}"
    assert words in v.message


def test_a_goal_against_the_sweeps_own_metric_is_an_error(violations: Violations) -> None:
    (v,) = violations(cfg({"goal": "minimize"}, {"name": "acc", "goal": "maximize"}))

    assert v.path == "localsweep.early_stopping.goal"
    assert "metric.goal" in v.message and "maximize" in v.message


def test_the_block_must_be_a_mapping(violations: Violations) -> None:
    (v,) = violations(cfg("val_loss"))

    assert v.path == "localsweep.early_stopping" and "mapping" in v.message


def test_every_problem_is_listed_at_once(violations: Violations) -> None:
    found = violations(cfg({"threshold": -1, "patience": 0, "goal": "up"}))

    assert {v.path.rsplit(".", 1)[-1] for v in found} == {"metric", "threshold", "patience", "goal"}


def test_wandb_init_arguments_read_as_the_guide_writes_them() -> None:
    rule = early_stopping_from_init(
        {"early_stopping_metric": "val_loss", "early_stopping_threshold": 0.01},
        Metric("val_accuracy", Goal.MAXIMIZE),
    )

    assert rule == EarlyStopping("val_loss", 0.01, 1, Goal.MINIMIZE)


def test_wandb_init_arguments_name_the_argument_in_errors() -> None:
    with pytest.raises(ValueError, match="early_stopping_patience: must be at least 1"):
        early_stopping_from_init(
            {"early_stopping_metric": "loss", "early_stopping_patience": 0}, None
        )
    with pytest.raises(ValueError, match="early_stopping_metric: is required"):
        early_stopping_from_init({"early_stopping_threshold": 0.01}, None)


def multi(early_stopping: Any) -> dict[str, Any]:
    return {
        "method": "custom",
        "scheduler": {"engine": "optuna"},
        "metrics": [{"name": "val_loss", "goal": "minimize"}, {"name": "acc", "goal": "maximize"}],
        "parameters": {"x": {"min": 0.0, "max": 1.0}},
        "localsweep": {"early_stopping": early_stopping},
    }


def test_an_objective_of_metrics_brings_its_goal() -> None:
    parsed = parse_config(multi({"metric": "acc", "patience": 2}))

    assert parsed.options.early_stopping == EarlyStopping("acc", 0.0, 2, Goal.MAXIMIZE)


def test_a_goal_against_an_objective_of_metrics_is_an_error(violations: Violations) -> None:
    (v,) = violations(multi({"metric": "acc", "goal": "minimize"}))

    assert v.path == "localsweep.early_stopping.goal"
    assert "metrics[1].goal" in v.message and "maximize" in v.message


def test_with_several_objectives_the_metric_must_be_named(violations: Violations) -> None:
    (v,) = violations(multi({"patience": 2}))

    assert v.path == "localsweep.early_stopping.metric"
    assert "'val_loss'" in v.message and "'acc'" in v.message


def test_wandb_init_arguments_take_an_objectives_goal() -> None:
    objectives = (Metric("val_loss", Goal.MINIMIZE), Metric("acc", Goal.MAXIMIZE))

    rule = early_stopping_from_init({"early_stopping_metric": "acc"}, objectives)

    assert rule.goal is Goal.MAXIMIZE
