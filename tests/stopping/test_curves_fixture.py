"""The learning-curve fixture of ``benchmarks/hyperband.py`` is well-formed, and replaying it
through the real agent with hyperband stops runs."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

import localsweep

FIXTURE = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "curves_digits.json"


@pytest.fixture(scope="module")
def table() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text())


def test_fixture_is_smaller_than_one_megabyte() -> None:
    assert FIXTURE.stat().st_size < 1_000_000


def test_fixture_has_one_curve_per_config(table: dict[str, Any]) -> None:
    assert len(table["curves"]) == len(table["configs"]) > 0
    assert [c["index"] for c in table["configs"]] == list(range(len(table["configs"])))


def test_every_curve_has_a_finite_positive_loss_per_epoch(table: dict[str, Any]) -> None:
    for curve in table["curves"]:
        assert len(curve) == table["epochs"]
        assert all(isinstance(v, float) and math.isfinite(v) and v > 0 for v in curve)


def test_configs_lie_in_the_declared_space(table: dict[str, Any]) -> None:
    space = table["space"]
    for config in table["configs"]:
        for name, spec in space.items():
            value = config[name]
            if "values" in spec:
                assert value in spec["values"]
            else:
                assert spec["min"] <= value <= spec["max"]


def test_curves_differ_between_configs(table: dict[str, Any]) -> None:
    # Hyperband can only separate runs whose curves differ.
    finals = {curve[-1] for curve in table["curves"]}
    assert len(finals) > len(table["curves"]) // 2


@pytest.mark.slow
def test_replaying_curves_through_the_agent_stops_runs_at_bands(table: dict[str, Any]) -> None:
    import wandb

    curves = table["curves"][:9]
    config = {
        "method": "grid",
        "metric": {"name": "val_loss", "goal": "minimize"},
        "early_terminate": {"type": "hyperband", "min_iter": 3, "eta": 3},
        "parameters": {"index": {"values": list(range(len(curves)))}},
    }

    def train() -> None:
        run = wandb.init()
        for loss in curves[run.config["index"]]:
            run.log({"val_loss": loss})
        run.finish()

    sweep = localsweep.run(config, train, count=None, db="sweep.db")

    runs = sweep.runs
    assert len(runs) == len(curves)
    stopped = [r for r in runs if r.state == "early_terminated"]
    assert stopped, "hyperband stopped no run of the fixture"
    for run in runs:
        logged = [row["val_loss"] for row in run.history() if "val_loss" in row]
        curve = curves[run.config["index"]]
        assert logged == curve[: len(logged)]
        if run.state == "early_terminated":
            assert len(logged) == run.stopped_at_band
        else:
            assert run.state == "finished" and logged == curve
