"""`method: bayes` through the agent: concurrent agents, metric.target, run_cap, bad metrics."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import localsweep

HELPERS = Path(__file__).resolve().parents[1] / "helpers"


def bayes(**extra: Any) -> dict[str, Any]:
    return {
        "method": "bayes",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {
            "x": {"min": -2.0, "max": 2.0},
            "y": {"min": -2.0, "max": 2.0},
            "layers": {"values": [1, 2, 3]},
        },
        "localsweep": {"sampler": "tpe", "seed": 3},
        **extra,
    }


def quadratic(config: dict[str, Any]) -> float:
    return (config["x"] - 0.5) ** 2 + (config["y"] + 0.5) ** 2 + 0.1 * config["layers"]


def test_target_finishes_the_sweep_and_no_run_starts_after_it(tmp_path: Path) -> None:
    config = bayes(metric={"name": "loss", "goal": "minimize", "target": 1.0})
    sweep = localsweep.run(config, quadratic, count=60, db=tmp_path / "s.db")

    assert sweep.state == "FINISHED"
    assert sweep.finished_reason == "target_reached"
    reached = [i for i, run in enumerate(sweep.runs) if run.metric <= 1.0]
    assert reached, "no run reached the target, so the test proves nothing"
    assert reached[0] == len(sweep.runs) - 1, "runs were started after the target was reached"


def test_run_cap_holds_for_bayes(tmp_path: Path) -> None:
    sweep = localsweep.run(bayes(run_cap=6), quadratic, count=None, db=tmp_path / "s.db")

    assert len(sweep.runs) == 6
    assert (sweep.state, sweep.finished_reason) == ("FINISHED", "run_cap")


def test_runs_without_a_usable_metric_do_not_break_the_sweep(tmp_path: Path) -> None:
    calls = []

    def sometimes_bad(config: dict[str, Any]) -> Any:
        calls.append(config)
        kind = len(calls) % 4
        if kind == 1:
            return math.nan
        if kind == 2:
            return {"accuracy": 0.5}  # the metric is never logged
        if kind == 3:
            return math.inf
        return quadratic(config)

    sweep = localsweep.run(bayes(), sometimes_bad, count=16, db=tmp_path / "s.db")

    assert [run.state for run in sweep.runs] == ["finished"] * 16
    assert sweep.best_run() is not None
    assert math.isfinite(sweep.best_run().metric)


@pytest.mark.slow
def test_two_agents_at_once_never_get_the_same_proposal(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    sweep_id = localsweep.sweep(bayes(run_cap=16), db=db)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HELPERS), *sys.path])}
    command = [sys.executable, "-m", "localsweep.cli", "agent", sweep_id, "--db", str(db)]
    agents = [
        subprocess.Popen(
            [*command, "--function", "sweep_train:steady"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    for agent in agents:
        _, stderr = agent.communicate(timeout=600)
        assert agent.returncode == 0, stderr

    runs = localsweep.Api(db).sweep(sweep_id).runs
    assert len(runs) == 16
    points = [(run.config["x"], run.config["y"], run.config["layers"]) for run in runs]
    assert len(set(points)) == len(points), "two runs were proposed the same point"
    overlapping = [
        (a, b)
        for i, a in enumerate(runs)
        for b in runs[i + 1 :]
        if a.created_at < (b.finished_at or b.created_at)
        and b.created_at < (a.finished_at or a.created_at)
    ]
    assert overlapping, "the two agents never ran at the same time, so the test proves nothing"
