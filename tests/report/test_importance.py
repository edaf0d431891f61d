"""Parameter importance: W&B's random forest importance and correlation, and fANOVA."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import localsweep
from localsweep.report import parameter_importance

NOISY: dict[str, Any] = {
    "method": "random",
    "metric": {"name": "loss", "goal": "minimize"},
    "localsweep": {"seed": 3},
    "parameters": {
        "x": {"min": -3.0, "max": 3.0},
        "noise": {"min": 0.0, "max": 1.0},
        "color": {"values": ["red", "green", "blue"]},
    },
}


def test_the_parameter_that_decides_the_metric_ranks_first(tmp_path: Path) -> None:
    def train(config: dict[str, Any]) -> float:
        return config["x"] ** 2 + 0.01 * config["noise"]

    sweep = localsweep.run(NOISY, train, count=60, db=tmp_path / "s.db")
    rows = parameter_importance(sweep)
    assert rows[0].name == "x"
    top = rows[0]
    assert top.importance is not None and top.importance > 0.8
    assert top.fanova is not None and top.fanova > 0.8
    assert all((r.importance or 0.0) < 0.1 for r in rows[1:])


def test_rows_are_sorted_by_importance(tmp_path: Path) -> None:
    def train(config: dict[str, Any]) -> float:
        return 2 * config["noise"] + 0.3 * config["x"]

    sweep = localsweep.run(NOISY, train, count=60, db=tmp_path / "s.db")
    values = [r.importance for r in parameter_importance(sweep)]
    assert values == sorted(values, key=lambda v: -(v or 0.0))
    assert parameter_importance(sweep)[0].name == "noise"


def test_correlation_carries_the_sign_of_the_relation(tmp_path: Path) -> None:
    def train(config: dict[str, Any]) -> float:
        return -4 * config["x"] + config["noise"]

    sweep = localsweep.run(NOISY, train, count=40, db=tmp_path / "s.db")
    by_name = {r.name: r for r in parameter_importance(sweep)}
    assert by_name["x"].correlation is not None and by_name["x"].correlation < -0.9
    assert by_name["noise"].correlation is not None
    assert abs(by_name["noise"].correlation) < 0.5


def test_a_categorical_parameter_has_importance_but_no_correlation(tmp_path: Path) -> None:
    def train(config: dict[str, Any]) -> float:
        return {"red": 0.0, "green": 5.0, "blue": 10.0}[config["color"]] + 0.01 * config["x"]

    sweep = localsweep.run(NOISY, train, count=40, db=tmp_path / "s.db")
    rows = parameter_importance(sweep)
    assert rows[0].name == "color"
    assert rows[0].correlation is None


def test_a_values_list_of_numbers_has_a_correlation_as_in_wandb(tmp_path: Path) -> None:
    """``batch_size: {values: [16, 32, 64, 128]}`` is categorical to the search, but its
    values are numbers: W&B's importance panel correlates it with the metric, and the
    report must not show "—" for it."""
    config = {
        "method": "random",
        "metric": {"name": "loss"},
        "localsweep": {"seed": 2},
        "parameters": {
            "batch_size": {"values": [16, 32, 64, 128]},
            "noise": {"min": 0.0, "max": 1.0},
        },
    }

    def train(cfg: dict[str, Any]) -> float:
        return cfg["batch_size"] / 128 + 0.01 * cfg["noise"]

    sweep = localsweep.run(config, train, count=30, db=tmp_path / "s.db", quiet=True)
    by_name = {r.name: r for r in parameter_importance(sweep)}
    assert by_name["batch_size"].correlation is not None
    assert by_name["batch_size"].correlation > 0.9


def test_a_values_list_of_ints_and_floats_has_a_correlation(tmp_path: Path) -> None:
    """``dropout: {values: [0, 0.1, 0.5]}`` mixes ints and floats; they are still numbers
    (W&B correlates them). Only values that are equal across types (1 and 1.0, True and
    1) must be told apart, and then the parameter has no order."""
    config = {
        "method": "grid",
        "metric": {"name": "loss"},
        "parameters": {"dropout": {"values": [0, 0.1, 0.5, 1, 2.5]}},
    }
    sweep = localsweep.run(config, lambda c: c["dropout"], db=tmp_path / "s.db", quiet=True)
    by_name = {r.name: r for r in parameter_importance(sweep)}
    assert by_name["dropout"].correlation == 1.0

    config["parameters"] = {"flag": {"values": [1, True, 2]}}
    sweep = localsweep.run(config, lambda c: float(c["flag"]), db=tmp_path / "t.db", quiet=True)
    assert sorted(repr(r.config["flag"]) for r in sweep.runs) == ["1", "2", "True"]
    assert {r.name: r for r in parameter_importance(sweep)}["flag"].correlation is None


def test_a_log_scale_parameter_correlates_by_its_logarithm(tmp_path: Path) -> None:
    config = {
        "method": "random",
        "metric": {"name": "loss"},
        "localsweep": {"seed": 1},
        "parameters": {"lr": {"distribution": "log_uniform_values", "min": 1e-6, "max": 1.0}},
    }

    def train(cfg: dict[str, Any]) -> float:
        return math.log10(cfg["lr"])

    sweep = localsweep.run(config, train, count=30, db=tmp_path / "s.db")
    (row,) = parameter_importance(sweep)
    assert row.correlation is not None and row.correlation > 0.999


def test_nested_parameters_are_named_by_their_dotted_path(tmp_path: Path) -> None:
    config = {
        "method": "random",
        "metric": {"name": "loss"},
        "parameters": {"optimizer": {"parameters": {"lr": {"min": 0.0, "max": 1.0}}}},
    }
    sweep = localsweep.run(config, lambda c: c["optimizer"]["lr"], count=5, db=tmp_path / "s.db")
    assert [r.name for r in parameter_importance(sweep)] == ["optimizer.lr"]


def test_a_single_run_gives_no_importance(tmp_path: Path) -> None:
    sweep = localsweep.run(NOISY, lambda c: c["x"], count=1, db=tmp_path / "s.db")
    rows = parameter_importance(sweep)
    assert {r.name for r in rows} == {"x", "noise", "color"}
    assert all(r.importance is None and r.fanova is None for r in rows)


def test_failed_runs_do_not_count(tmp_path: Path) -> None:
    def train(config: dict[str, Any]) -> float:
        if config["noise"] > 0.5:
            raise RuntimeError("diverged")
        return config["x"] ** 2

    db = tmp_path / "s.db"
    sweep_id = localsweep.sweep(NOISY, db=db)
    localsweep.agent(sweep_id, train, count=40, db=db, max_consecutive_failures=40)
    sweep = localsweep.Api(db).sweep(sweep_id)
    assert any(r.state == "failed" for r in sweep.runs)
    assert parameter_importance(sweep)[0].name == "x"
