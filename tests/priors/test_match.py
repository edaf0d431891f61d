"""Matching a run done elsewhere onto a sweep's parameters: what is taken, what is skipped
and why (pure: no files, no database)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from localsweep.config import SweepConfig, parse_config
from localsweep.priors import PriorCandidate, SkippedPrior, TakenPrior
from localsweep.priors._match import match_prior, match_priors
from localsweep.records import RunState


def _config(method: str = "bayes", **parameters: Any) -> SweepConfig:
    return parse_config({"method": method, "metric": {"name": "loss"}, "parameters": parameters})


def _taken(sweep: SweepConfig, **fields: Any) -> TakenPrior:
    result = match_prior(sweep, PriorCandidate(source="test", **fields))
    assert isinstance(result, TakenPrior), getattr(result, "reason", result)
    return result


def _skipped(sweep: SweepConfig, **fields: Any) -> str:
    result = match_prior(sweep, PriorCandidate(source="test", **fields))
    assert isinstance(result, SkippedPrior), result
    return result.reason


NESTED = {"opt": {"parameters": {"lr": {"min": 0.0001, "max": 0.1}}}, "n": {"values": [1, 2]}}


@pytest.mark.parametrize(
    "config",
    [
        {"opt": {"lr": 0.01}, "n": 2},  # nested, as wandb delivers it
        {"opt.lr": 0.01, "n": 2},  # one dotted key (a table column, config["opt.lr"])
        {"opt": {"value": {"lr": 0.01}}, "n": {"value": 2, "desc": None}},  # config.yaml
    ],
)
def test_a_nested_parameter_is_found_however_the_run_wrote_it(config: dict[str, Any]) -> None:
    prior = _taken(_config(**NESTED), config=config, summary={"loss": 0.5})
    assert prior.params == {("n",): 2, ("opt", "lr"): 0.01}


def test_a_parameter_whose_name_has_a_dot_is_not_taken_for_a_nested_one() -> None:
    config = _config(**{"a.b": {"values": [1, 2]}})
    assert _taken(config, config={"a.b": 2}, summary={"loss": 1}).params == {("a.b",): 2}
    # ("a", "b") is another parameter: a nested value is not the dotted name's.
    assert _skipped(config, config={"a": {"b": 1}}, summary={"loss": 1}) == (
        "has no value for parameter a.b"
    )


def test_numbers_written_as_text_are_read_as_numbers() -> None:
    config = _config(
        lr={"distribution": "log_uniform_values", "min": 1e-5, "max": 1.0},
        layers={"min": 1, "max": 8},
        batch={"values": [16, 32, 64]},
    )
    prior = _taken(
        config, config={"lr": "1e-3", "layers": "4", "batch": "32"}, summary={"loss": "0.25"}
    )
    assert prior.params == {("batch",): 32, ("layers",): 4, ("lr",): 0.001}
    assert type(prior.params[("layers",)]) is int
    assert prior.metric == 0.25


def test_categorical_values_compare_as_wandb_compares_them() -> None:
    config = _config(x={"values": [1, 2, "a"]}, flag={"values": [True, False]})
    # 2.0 is the value 2 (wandb's grid hashes an integral float as the int); the run gets
    # the config's own value.
    prior = _taken(config, config={"x": 2.0, "flag": False}, summary={"loss": 1})
    assert prior.params[("x",)] == 2 and type(prior.params[("x",)]) is int
    # True is not 1, and 1 is not True.
    assert "not one of its values" in _skipped(
        config, config={"x": True, "flag": False}, summary={"loss": 1}
    )
    assert "not one of its values" in _skipped(
        config, config={"x": 1, "flag": 1}, summary={"loss": 1}
    )


def test_text_spelling_a_list_or_bool_matches_a_categorical_of_them() -> None:
    config = _config(sizes={"values": [[64, 64], [128]]}, flag={"values": [True, False]})
    prior = _taken(config, config={"sizes": "[128]", "flag": "True"}, summary={"loss": 1})
    assert prior.params == {("flag",): True, ("sizes",): [128]}


def test_a_run_without_a_parameter_is_skipped_naming_it() -> None:
    reason = _skipped(_config(**NESTED), config={"n": 1}, summary={"loss": 1})
    assert reason == "has no value for parameter opt.lr"


def test_a_value_outside_the_range_is_skipped_with_the_range() -> None:
    reason = _skipped(_config(**NESTED), config={"opt": {"lr": 0.5}, "n": 1}, summary={"loss": 1})
    assert reason == "opt.lr = 0.5 is outside the sweep's range [0.0001, 0.1]"


@pytest.mark.parametrize(
    ("spec", "cell", "reason"),
    [
        ({"min": 0, "max": 5}, "9", "x = 9 is outside the sweep's range [0, 5]"),
        ({"min": 0, "max": 5}, "2.5", "x = 2.5 is not a whole number"),
        ({"min": 0.0, "max": 1.0}, "1.5", "x = 1.5 is outside the sweep's range [0, 1]"),
        ({"values": [0, 1, 2, 3]}, "9", "x = 9 is not one of its values (0, 1, 2, 3)"),
        ({"value": 3}, "9", "x is 9, but the sweep fixes it at 3"),
        # Text that is not a number stays quoted: it is compared as text.
        ({"values": ["a", "b"]}, "c", "x = 'c' is not one of its values ('a', 'b')"),
    ],
)
def test_a_number_written_as_text_is_named_as_the_number_read(
    spec: dict[str, Any], cell: str, reason: str
) -> None:
    # A CSV cell is text; the reason shows what it was read as, not the quoted cell.
    config = _config(x=spec, y={"values": [1, 2]})
    assert _skipped(config, config={"x": cell, "y": 1}, summary={"loss": 1}) == reason


@pytest.mark.parametrize(
    ("spec", "value", "ok"),
    [
        ({"min": 1, "max": 8}, 3.0, True),
        ({"min": 1, "max": 8}, 3.5, False),
        ({"distribution": "q_uniform", "min": 0.0, "max": 1.0, "q": 0.25}, 0.75, True),
        ({"distribution": "q_uniform", "min": 0.0, "max": 1.0, "q": 0.25}, 0.7, False),
        ({"distribution": "log_uniform", "min": -5.0, "max": 0.0}, 0.01, True),
        ({"distribution": "log_uniform", "min": -5.0, "max": 0.0}, 2.0, False),
        ({"distribution": "normal", "mu": 0.0, "sigma": 1.0}, -40.0, True),
        ({"distribution": "beta"}, 1.5, False),
        ({"min": 0.0, "max": 1.0}, "high", False),
    ],
)
def test_a_number_must_lie_in_its_distributions_support(
    spec: dict[str, Any], value: Any, ok: bool
) -> None:
    config = _config(x=spec)
    result = match_prior(config, PriorCandidate("t", config={"x": value}, summary={"loss": 1}))
    assert isinstance(result, TakenPrior) is ok


def test_a_grid_takes_only_its_own_points() -> None:
    config = _config("grid", x={"distribution": "q_uniform", "min": 0.0, "max": 1.0, "q": 0.1})
    # 0.3 written as text is np.arange's 0.30000000000000004 point.
    prior = _taken(config, config={"x": "0.3"}, summary={"loss": 1})
    assert prior.params[("x",)] == pytest.approx(0.3)
    # 1.0 is in q_uniform's range but not a grid point (np.arange leaves out max).
    assert "not one of the grid's values" in _skipped(config, config={"x": 1.0})


def test_a_constant_must_hold_the_same_value() -> None:
    config = _config(x={"values": [1, 2]}, epochs={"value": 10})
    assert _taken(config, config={"x": 1, "epochs": "10"}, summary={"loss": 1})
    reason = _skipped(config, config={"x": 1, "epochs": 5}, summary={"loss": 1})
    assert reason == "epochs is 5, but the sweep fixes it at 10"


@pytest.mark.parametrize(
    ("state", "taken"),
    [
        ("finished", RunState.FINISHED),
        ("Finished", RunState.FINISHED),
        ("early_terminated", RunState.EARLY_TERMINATED),
        (None, RunState.FINISHED),
    ],
)
def test_finished_runs_and_runs_stopped_early_are_taken(state: str | None, taken: RunState) -> None:
    prior = _taken(_config(x={"values": [1]}), state=state, config={"x": 1}, summary={"loss": 1})
    assert prior.state is taken


@pytest.mark.parametrize("state", ["failed", "crashed", "killed", "running"])
def test_runs_that_did_not_finish_are_skipped(state: str) -> None:
    reason = _skipped(_config(x={"values": [1]}), state=state, config={"x": 1}, summary={"loss": 1})
    assert reason.startswith(f"state {state!r}")


def test_a_run_without_the_metric_holds_a_grid_point_but_teaches_a_search_nothing() -> None:
    grid = _taken(_config("grid", x={"values": [1, 2]}), config={"x": 1}, summary={"acc": 1})
    assert grid.metric is None
    reason = _skipped(_config("bayes", x={"values": [1, 2]}), config={"x": 1}, summary={"acc": 1})
    assert reason == "has no value of the metric loss: nothing to learn"


def test_the_metric_comes_from_the_summary_else_the_last_logged_value() -> None:
    nested_metric = parse_config(
        {"method": "bayes", "metric": {"name": "val.loss"}, "parameters": {"x": {"values": [1]}}}
    )
    assert _taken(nested_metric, config={"x": 1}, summary={"val": {"loss": 2}}).metric == 2
    config = _config(x={"values": [1]})
    logged = _taken(config, config={"x": 1}, history=[{"loss": 3.0}, {"loss": 1.5}, {"acc": 1}])
    assert logged.metric == 1.5


def test_a_run_met_twice_is_taken_once() -> None:
    config = _config(x={"values": [1, 2]})
    first = PriorCandidate("a.csv row 1", run_id="abc", config={"x": 1}, summary={"loss": 1})
    again = PriorCandidate(
        "wandb/offline-run-abc", run_id="abc", config={"x": 1}, summary={"loss": 1}
    )
    taken, skipped = match_priors(config, [first, again])
    assert [t.candidate for t in taken] == [first]
    assert skipped[0].reason == "the same run as a.csv row 1 (taken once)"


@pytest.mark.parametrize(
    ("goal", "summary", "value"),
    [
        # define_metric(name, summary="min") makes the summary a dict, as the agent reads it.
        ("minimize", {"loss": {"min": 0.2}}, 0.2),
        ("minimize", {"loss": {"min": 0.25, "last": 0.3}}, 0.25),
        ("maximize", {"loss": {"min": 0.25, "max": 0.9, "last": 0.3}}, 0.9),
        ("maximize", {"loss": {"best": 0.7, "last": 0.3}}, 0.7),
        ("minimize", {"loss": {"last": 0.3}}, 0.3),
        # As a table cell (a wandb.Api dump in a CSV), or as flat columns of a table.
        ("minimize", {"loss": "{'min': 0.25, 'last': 0.3}"}, 0.25),
        ("minimize", {"loss.min": "0.25", "loss.last": "0.3"}, 0.25),
    ],
)
def test_a_define_metric_summary_gives_the_value_for_the_goal(
    goal: str, summary: dict[str, Any], value: float
) -> None:
    config = parse_config(
        {
            "method": "bayes",
            "metric": {"name": "loss", "goal": goal},
            "parameters": {"x": {"values": [1]}},
        }
    )
    assert _taken(config, config={"x": 1}, summary=summary).metric == value


def test_a_summary_without_the_goals_value_falls_back_to_the_last_logged_one() -> None:
    config = _config(x={"values": [1]})
    history = [{"loss": 0.5}, {"loss": 0.4}]
    assert (
        _taken(config, config={"x": 1}, summary={"loss": {"mean": 0.45}}, history=history).metric
        == 0.4
    )


def test_a_missing_metric_names_the_key_the_run_did_log_when_one_is_close() -> None:
    config = parse_config(
        {"method": "bayes", "metric": {"name": "val_loss"}, "parameters": {"x": {"values": [1]}}}
    )
    reason = _skipped(config, config={"x": 1}, summary={"val/loss": 0.3, "acc": 0.9})
    assert reason == (
        "has no value of the metric val_loss: nothing to learn (it logged 'val/loss': is that "
        "the metric?)"
    )


def test_excel_booleans_and_values_a_hair_off_a_choice() -> None:
    config = _config(flag={"values": [True, False]}, lr={"values": [0.001, 0.01]})
    prior = _taken(config, config={"flag": "FALSE", "lr": "0.01"}, summary={"loss": 1})
    assert prior.params[("flag",)] is False
    # A hair off (float noise) is the choice; the skip names a value off by more exactly.
    assert _taken(config, config={"flag": "TRUE", "lr": 0.0010000000000000002}, summary={"loss": 1})
    reason = _skipped(config, config={"flag": "TRUE", "lr": 0.0010001})
    assert reason == "lr = 0.0010001 is not one of its values (0.001, 0.01)"


@pytest.mark.parametrize("method", ["grid", "bayes"])
def test_a_float32_or_computed_value_is_the_choice_it_stands_for(method: str) -> None:
    """Training code often holds its config as float32 (numpy, a tensor's ``.item()``):
    0.2 is then 0.20000000298023224, and 0.1 + 0.2 - 0.1 is 0.20000000000000004. Both are
    the grid's 0.2 (the grid must not run that point again), never 0.1 or 0.3."""
    config = _config(method, dropout={"values": [0.1, 0.2, 0.3]}, lr={"values": [0.5, 0.6]})
    for written in (float(np.float32(0.2)), 0.1 + 0.2 - 0.1, "0.20000000298023224"):
        prior = _taken(config, config={"dropout": written, "lr": 0.5}, summary={"loss": 1})
        assert prior.params[("dropout",)] == 0.2
    grid = _config("grid", x={"distribution": "q_uniform", "min": 0.0, "max": 1.0, "q": 0.1})
    prior = _taken(grid, config={"x": float(np.float32(0.7))}, summary={"loss": 1})
    assert prior.params[("x",)] == pytest.approx(0.7)
    assert "is not one of its values" in _skipped(config, config={"dropout": 0.2001, "lr": 0.5})
    # An int beside float choices, as prior-runs.md says of any grid value.
    mixed = _config(method, dropout={"values": [0.1, 0.2, 3]}, lr={"values": [0.5, 0.6]})
    for written in (3.0000001, "3.0000001", 2.9999999999999996):
        prior = _taken(mixed, config={"dropout": written, "lr": 0.5}, summary={"loss": 1})
        assert prior.params[("dropout",)] == 3


@pytest.mark.parametrize("nan", [float("nan"), float("inf"), "NaN", "-inf"])
def test_a_run_that_ended_nan_is_no_result_even_if_it_logged_finite_values_before(
    nan: Any,
) -> None:
    """A training that diverged: its summary (or, without one, its last logged value) is
    NaN or infinite. As the sweep's own runs, that is no result: never the last finite
    value before it, which would rank a diverged run among the best."""
    config = _config(x={"values": [1, 2]})
    history = [{"loss": 1.0}, {"loss": nan}]
    # A define_metric(summary="min") run whose min is NaN: its dict summary says it
    # diverged, even when a finite row came last (the last row is not its result).
    finite_last = [{"loss": nan}, {"loss": 3.0}]
    for fields in (
        {"summary": {"loss": nan}, "history": history},
        {"history": history},
        {"summary": {"loss": {"min": nan}}, "history": finite_last},
    ):
        reason = _skipped(config, config={"x": 1}, **fields)
        assert reason.startswith("ended with the metric loss = ")
        assert reason.endswith(": no result (did it diverge?)")
    # A grid still does not rerun its point.
    grid = _taken(_config("grid", x={"values": [1, 2]}), config={"x": 1}, summary={"loss": nan})
    assert grid.metric is None
    # A NaN earlier in the run, then a finite end: the end counts.
    assert _taken(config, config={"x": 1}, history=[{"loss": nan}, {"loss": 2.0}]).metric == 2.0
