"""Verdicts and messages for ``method: custom``, several ``metrics`` and early termination.

wandb's engine (PyPI ``sweeps``, with the 2026 schema) accepts ``method: custom`` with a
``metric`` and ``early_terminate`` and no ``scheduler``: its hyperband stops runs by that
metric, whatever the method, and so does localsweep. With several ``metrics`` the engine
accepts the config too, but its hyperband then fails ('Hyperband stopping requires "metric"
section'): localsweep refuses it up front, and every message for such a config points to
the stopping that works with several metrics, ``localsweep: {early_stopping: ...}``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import wandb

import localsweep
from localsweep.config import parse_config
from localsweep.errors import ConfigError

PARAMS = {"x": {"min": 0.0, "max": 1.0}}
HYPERBAND = {"type": "hyperband", "min_iter": 2, "eta": 2}
METRICS = [{"name": "loss", "goal": "minimize"}, {"name": "acc", "goal": "maximize"}]


def problems(raw: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    return [(v.path, v.message) for v in info.value.violations]


def test_custom_with_a_metric_and_hyperband_is_accepted_as_by_wandbs_engine() -> None:
    cfg = parse_config(
        {
            "method": "custom",
            "metric": {"name": "loss"},
            "early_terminate": HYPERBAND,
            "parameters": PARAMS,
        }
    )
    assert cfg.early_terminate is not None and cfg.early_terminate.min_iter == 2
    assert cfg.warnings == ()


def _curve(x: float) -> list[float]:
    # The worse x, the worse at every epoch: hyperband has runs to stop.
    return [1.0 + 10 * x - 0.01 * epoch for epoch in range(8)]


def test_hyperband_stops_runs_of_a_custom_sweep(tmp_path: Path) -> None:
    config = {
        "method": "custom",
        "metric": {"name": "loss", "goal": "minimize"},
        "early_terminate": HYPERBAND,
        "parameters": PARAMS,
        "localsweep": {"seed": 3},
    }

    def train() -> None:
        with wandb.init() as run:
            for loss in _curve(run.config["x"]):
                run.log({"loss": loss})

    sweep = localsweep.run(config, train, count=8, db=tmp_path / "s.db")

    stopped = [r for r in sweep.runs if r.state == "early_terminated"]
    assert stopped, [(r.state, r.config) for r in sweep.runs]
    for run in stopped:
        assert run.end_reason == "hyperband"
        assert run.stopped_at_band == 2
        assert len(run.history()) == 2
    best = sweep.best_run()
    assert best is not None and best.state == "finished"


@pytest.mark.parametrize("scheduler", [None, {"engine": "optuna"}])
def test_several_metrics_with_hyperband_is_one_problem_naming_plateau_stopping(
    scheduler: dict[str, str] | None,
) -> None:
    raw: dict[str, Any] = {
        "method": "custom",
        "metrics": METRICS,
        "early_terminate": HYPERBAND,
        "parameters": PARAMS,
    }
    if scheduler is not None:
        raw["scheduler"] = scheduler
    ((path, message),) = problems(raw)
    assert path == "early_terminate"
    assert "localsweep: {early_stopping: {metric: loss}}" in message
    # Neither `metric:` (forbidden beside `metrics`) nor a pruner (unused with several).
    assert "`metric:`" not in message and "with a pruner" not in message

    # The fix it names gives a valid sweep.
    fixed = copy.deepcopy(raw)
    del fixed["early_terminate"]
    fixed["localsweep"] = {"early_stopping": {"metric": "loss"}}
    cfg = parse_config(fixed)
    assert cfg.options.early_stopping is not None
    assert cfg.options.early_stopping.metric == "loss"


def test_several_metrics_with_hyperband_and_plateau_stopping_says_drop_hyperband() -> None:
    ((path, message),) = problems(
        {
            "method": "custom",
            "metrics": METRICS,
            "early_terminate": HYPERBAND,
            "localsweep": {"early_stopping": {"metric": "acc"}},
            "parameters": PARAMS,
        }
    )
    assert path == "early_terminate"
    assert "remove `early_terminate`: `localsweep.early_stopping` already stops" in message


def test_bayes_with_several_metrics_says_only_method_custom() -> None:
    said = problems({"method": "bayes", "metrics": METRICS, "parameters": PARAMS})
    assert said == [
        (
            "metrics",
            "needs `method: custom` (got `method: bayes`): several objectives are searched "
            "by an Optuna study; write `method: custom`",
        )
    ]
    parse_config({"method": "custom", "metrics": METRICS, "parameters": PARAMS})


def test_grid_with_several_metrics_and_hyperband_points_one_way() -> None:
    said = problems(
        {
            "method": "grid",
            "metrics": METRICS,
            "early_terminate": HYPERBAND,
            "parameters": {"x": {"values": [1, 2]}},
        }
    )
    by_path = dict(said)
    assert sorted(by_path) == ["early_terminate", "metrics"]
    assert "write `method: custom`" in by_path["metrics"]
    assert "localsweep: {early_stopping: {metric: loss}}" in by_path["early_terminate"]


def test_a_repeated_objective_names_the_entry_and_the_fix() -> None:
    ((path, message),) = problems(
        {
            "method": "custom",
            "metrics": [{"name": "loss"}, {"name": "loss", "goal": "maximize"}],
            "parameters": PARAMS,
        }
    )
    assert path == "metrics[1].name"
    assert "name another one here, or remove metrics[1]" in message


def test_a_target_on_only_some_metrics_warns_naming_those_without() -> None:
    cfg = parse_config(
        {
            "method": "custom",
            "metrics": [
                {"name": "loss", "goal": "minimize", "target": 0.1},
                {"name": "acc", "goal": "maximize"},
                {"name": "ms", "goal": "minimize"},
            ],
            "parameters": PARAMS,
        }
    )
    (warning,) = cfg.warnings
    assert warning.startswith("metrics: no `target` on metrics[1] ('acc'), metrics[2] ('ms')")
    assert "the target of 'loss' never ends the sweep" in warning


@pytest.mark.parametrize("targets", [(None, None), (0.1, 0.9)])
def test_no_target_or_one_on_every_metric_gives_no_warning(
    targets: tuple[float | None, float | None],
) -> None:
    metrics = [dict(m) for m in METRICS]
    for metric, target in zip(metrics, targets, strict=True):
        if target is not None:
            metric["target"] = target
    cfg = parse_config({"method": "custom", "metrics": metrics, "parameters": PARAMS})
    assert cfg.warnings == ()


def test_hyperband_with_the_wandb_engine_says_to_remove_the_scheduler() -> None:
    raw: dict[str, Any] = {
        "method": "grid",
        "metric": {"name": "loss"},
        "scheduler": {"engine": "wandb"},
        "early_terminate": HYPERBAND,
        "parameters": {"x": {"values": [1, 2]}},
    }
    ((path, message),) = problems(raw)
    assert path == "early_terminate"
    assert "remove `scheduler`" in message and "pruner" not in message
    del raw["scheduler"]
    parse_config(raw)


def test_several_metrics_with_the_wandb_engine_names_both_changes() -> None:
    raw: dict[str, Any] = {
        "method": "bayes",
        "metrics": METRICS,
        "scheduler": {"engine": "wandb"},
        "parameters": PARAMS,
    }
    ((path, message),) = problems(raw)
    assert path == "metrics"
    assert "write `method: custom` and remove `scheduler`" in message
    parse_config({"method": "custom", "metrics": METRICS, "parameters": PARAMS})
