"""The top-level keys, the metric, early termination and localsweep's own key."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest

from localsweep.config import Goal, Method, Options, parse_config
from localsweep.errors import Violation
from localsweep.stopping import bands

Violations = Callable[[Mapping[str, Any]], list[Violation]]

BASE: dict[str, Any] = {"method": "random", "parameters": {"x": {"values": [1, 2]}}}


def cfg(**extra: Any) -> dict[str, Any]:
    return {**BASE, **extra}


def paths(found: list[Violation]) -> list[str]:
    return [v.path for v in found]


@pytest.mark.parametrize("method", ["grid", "random", "bayes"])
def test_methods_are_read(method: str) -> None:
    parsed = parse_config(cfg(method=method, metric={"name": "loss"}))
    assert parsed.method is Method(method)


def test_custom_method_needs_a_metric_to_tell_the_study(violations: Violations) -> None:
    (v,) = violations(cfg(method="custom"))
    assert v.path == "metric" and "metrics" in v.message


def test_unknown_method_suggests_the_closest(violations: Violations) -> None:
    (v,) = violations(cfg(method="bayesian"))
    assert v.path == "method" and "bayes" in v.message


def test_missing_method_is_required(violations: Violations) -> None:
    assert paths(violations({"parameters": BASE["parameters"]})) == ["method"]


def test_missing_parameters_are_required(violations: Violations) -> None:
    assert paths(violations({"method": "random"})) == ["parameters"]


def test_unknown_top_level_key_is_named_with_a_suggestion(violations: Violations) -> None:
    (v,) = violations(cfg(early_termination={"type": "hyperband", "min_iter": 3}))
    assert v.path == "early_termination"
    assert "early_terminate" in v.message


@pytest.mark.parametrize("wrapper", ["sweep", "sweep_config"])
def test_wrapped_config_says_to_remove_the_wrapper(violations: Violations, wrapper: str) -> None:
    (v,) = violations({wrapper: BASE})
    assert v.path == wrapper
    assert "remove" in v.message


def test_metric_is_read_with_defaults() -> None:
    metric = parse_config(cfg(metric={"name": "val/loss"})).metric
    assert metric is not None
    assert (metric.name, metric.goal, metric.target) == ("val/loss", Goal.MINIMIZE, None)
    assert (metric.impute, metric.impute_while_running) == ("worst", "false")


def test_metric_fields_are_read() -> None:
    raw = {"name": "acc", "goal": "maximize", "target": 0.9, "impute": "best"}
    metric = parse_config(cfg(metric={**raw, "impute_while_running": "latest"})).metric
    assert metric is not None
    assert (metric.goal, metric.target, metric.impute) == (Goal.MAXIMIZE, 0.9, "best")
    assert metric.impute_while_running == "latest"


@pytest.mark.parametrize(("goal", "suggested"), [("minimise", "minimize"), ("max", "maximize")])
def test_misspelled_goal_suggests_the_right_one(
    violations: Violations, goal: str, suggested: str
) -> None:
    (v,) = violations(cfg(metric={"name": "loss", "goal": goal}))
    assert v.path == "metric.goal"
    assert f"`{suggested}`" in v.message


def test_metric_needs_a_name(violations: Violations) -> None:
    assert paths(violations(cfg(metric={"goal": "minimize"}))) == ["metric.name"]


def test_metric_unknown_key_is_named(violations: Violations) -> None:
    assert paths(violations(cfg(metric={"name": "l", "mode": "min"}))) == ["metric.mode"]


def test_unquoted_false_for_impute_while_running_is_read_as_the_string() -> None:
    parsed = parse_config(cfg(metric={"name": "l", "impute_while_running": False}))
    assert parsed.metric is not None and parsed.metric.impute_while_running == "false"
    assert any("impute_while_running" in w for w in parsed.warnings)


def test_bayes_needs_a_metric(violations: Violations) -> None:
    assert paths(violations(cfg(method="bayes"))) == ["metric"]


def test_bayes_needs_a_searchable_parameter(violations: Violations) -> None:
    raw = {"method": "bayes", "metric": {"name": "l"}, "parameters": {"x": {"value": 1}}}
    assert paths(violations(raw)) == ["parameters"]


def test_hyperband_with_min_iter_gets_defaults() -> None:
    parsed = parse_config(
        cfg(metric={"name": "l"}, early_terminate={"type": "hyperband", "min_iter": 3})
    )
    hb = parsed.early_terminate
    assert hb is not None
    assert (hb.min_iter, hb.max_iter, hb.s, hb.eta, hb.strict) == (3, None, None, 3.0, True)


def test_hyperband_with_max_iter_and_s() -> None:
    et = {"type": "hyperband", "max_iter": 27, "s": 2, "eta": 2.5, "strict": False}
    hb = parse_config(cfg(metric={"name": "l"}, early_terminate=et)).early_terminate
    assert hb is not None
    assert (hb.max_iter, hb.s, hb.eta, hb.strict) == (27, 2, 2.5, False)


def test_hyperband_min_iter_and_max_iter_without_s_is_accepted_with_a_warning() -> None:
    # A config from a public W&B project: wandb's schema accepts it.
    et = {"type": "hyperband", "min_iter": 1000, "max_iter": 15000, "eta": 3}
    parsed = parse_config(cfg(metric={"name": "l"}, early_terminate=et))
    assert parsed.early_terminate is not None
    assert bands(parsed.early_terminate) == (1000, 3000, 9000)
    assert any("max_iter" in w and "early_terminate" in w for w in parsed.warnings)


@pytest.mark.parametrize(
    ("et", "path"),
    [
        ({"type": "hyperband", "max_iter": 27}, "early_terminate.s"),
        ({"type": "hyperband", "max_iter": 2, "min_iter": 3}, "early_terminate"),
        ({"type": "hyperband"}, "early_terminate"),
        ({"type": "hyperband", "min_iter": 3, "eta": 1}, "early_terminate.eta"),
        ({"type": "hyperband", "min_iter": 0}, "early_terminate.min_iter"),
        ({"type": "hyperband", "min_iter": 2.5}, "early_terminate.min_iter"),
        ({"type": "hyperband", "min_iter": 3, "strict": "yes"}, "early_terminate.strict"),
        ({"type": "median", "min_iter": 3}, "early_terminate.type"),
        ({"min_iter": 3}, "early_terminate.type"),
        ({"type": "hyperband", "min_iter": 3, "foo": 1}, "early_terminate.foo"),
        ({"type": "hyperband", "max_iter": 27, "s": 2.5}, "early_terminate.s"),
        ({"type": "hyperband", "max_iter": 2, "s": 1}, "early_terminate"),
    ],
)
def test_hyperband_violations(violations: Violations, et: dict[str, Any], path: str) -> None:
    assert paths(violations(cfg(metric={"name": "l"}, early_terminate=et))) == [path]


def test_early_terminate_needs_a_metric(violations: Violations) -> None:
    raw = cfg(early_terminate={"type": "hyperband", "min_iter": 3})
    assert paths(violations(raw)) == ["metric"]


def test_run_cap_and_strings_are_read() -> None:
    parsed = parse_config(
        cfg(run_cap=10, program="train.py", name="n", description="d", project="p", entity="e")
    )
    assert parsed.run_cap == 10
    assert (parsed.program, parsed.name, parsed.description) == ("train.py", "n", "d")
    assert (parsed.project, parsed.entity) == ("p", "e")


@pytest.mark.parametrize(("value", "fine"), [(0, False), (-1, False), (2.5, False), (5.0, True)])
def test_run_cap_must_be_a_positive_whole_number(value: float, fine: bool) -> None:
    if fine:
        assert parse_config(cfg(run_cap=value)).run_cap == 5
    else:
        with pytest.raises(ValueError, match="run_cap"):
            parse_config(cfg(run_cap=value))


def test_command_is_a_tuple_of_strings() -> None:
    parsed = parse_config(cfg(command=["${env}", "python", "${program}", "${args}"]))
    assert parsed.command == ("${env}", "python", "${program}", "${args}")


def test_empty_command_means_the_default() -> None:
    assert parse_config(cfg(command=[])).command is None


def test_command_items_that_are_not_strings_are_str_of_them_as_in_wandbs_agent() -> None:
    assert parse_config(cfg(command=["python", "train.py", 3])).command == (
        "python",
        "train.py",
        "3",
    )


def test_command_must_be_a_list(violations: Violations) -> None:
    assert paths(violations(cfg(command="python train.py"))) == ["command"]


@pytest.mark.parametrize(
    ("extra", "path"),
    [
        ({"kind": "job"}, "kind"),
        ({"program": ["train.py"]}, "program"),
        ({"name": 3}, "name"),
        ({"controller": {"type": "remote"}}, "controller.type"),
        ({"controller": {}}, "controller.type"),
        ({"scheduler": {"engine": "optuna"}}, "method"),
        ({"metrics": [{"name": "a"}, {"name": "b"}]}, "metrics"),
    ],
)
def test_other_top_level_violations(
    violations: Violations, extra: dict[str, Any], path: str
) -> None:
    assert paths(violations(cfg(**extra))) == [path]


def test_wandb_only_keys_are_accepted() -> None:
    parsed = parse_config(
        cfg(
            apiVersion="v1",
            kind="sweep",
            controller={"type": "cloud"},
            scheduler={"engine": "wandb"},
        )
    )
    assert parsed.raw["controller"] == {"type": "cloud"}


def test_local_controller_is_accepted() -> None:
    assert parse_config(cfg(controller={"type": "local"})).raw["controller"] == {"type": "local"}


def test_scheduler_cannot_go_with_a_local_controller(violations: Violations) -> None:
    raw = cfg(controller={"type": "local"}, scheduler={"engine": "wandb"})
    assert paths(violations(raw)) == ["controller"]


def test_launch_keys_are_accepted_with_a_warning() -> None:
    parsed = parse_config(cfg(job="j", image_uri="img"))
    assert [w.split(":")[0] for w in parsed.warnings] == ["job", "image_uri"]


def test_extension_key_sets_options() -> None:
    parsed = parse_config(cfg(localsweep={"seed": 7, "sampler": "tpe"}))
    assert parsed.options == Options(seed=7, sampler="tpe")


def test_options_default_without_the_extension_key() -> None:
    assert parse_config(BASE).options == Options(seed=None, sampler="auto")


@pytest.mark.parametrize(
    ("ext", "path"),
    [
        ({"seed": "x"}, "localsweep.seed"),
        ({"seed": 1.5}, "localsweep.seed"),
        ({"sampler": "cmaes"}, "localsweep.sampler"),
        ({"seeed": 1}, "localsweep.seeed"),
        ("fast", "localsweep"),
    ],
)
def test_extension_key_violations(violations: Violations, ext: Any, path: str) -> None:
    assert paths(violations(cfg(localsweep=ext))) == [path]


def test_raw_is_a_plain_copy_of_the_config() -> None:
    given = cfg(metric={"name": "l"})
    parsed = parse_config(given)
    assert parsed.raw == given
    parsed.raw["parameters"]["x"]["values"].append(3)  # type: ignore[index]
    assert given["parameters"]["x"]["values"] == [1, 2]


def test_non_mapping_config_is_a_config_error(violations: Violations) -> None:
    assert paths(violations([1, 2])) == [""]  # type: ignore[arg-type]
