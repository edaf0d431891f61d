"""A resumed run's code sees, right after its ``wandb.init()``, what W&B's server gives a
resumed run online: ``run.step`` is the step it goes on from (not 0 until its first log),
and its ``run.summary`` holds what the earlier attempts left. Neither writes a
row: the run's history is its attempts' rows, once each."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from faults_support import PROGRAMS, start_agent

import localsweep

pytestmark = pytest.mark.slow


def _attempts(signals: Path, run_id: str) -> list[dict[str, Any]]:
    files = sorted(signals.glob(f"attempt-{run_id}-*"), key=lambda p: int(p.name.split("-")[-1]))
    return [json.loads(p.read_text()) for p in files]


def _run(tmp_path: Path, *, program: bool, extra: list[str]) -> localsweep.Run:
    db = str(tmp_path / "sweeps.db")
    config: dict[str, Any] = {
        "method": "grid",
        "metric": {"name": "acc", "goal": "maximize"},
        "parameters": {"x": {"value": 1}},
    }
    if program:
        config["program"] = str(PROGRAMS / "resume_step.py")
    sweep_id = localsweep.sweep(config, db=db)
    function = None if program else "resume_step:train"
    agent = start_agent(sweep_id, db, tmp_path / "agent.log", function=function, extra=extra)
    assert agent.wait() == 0, agent.output()
    (run,) = localsweep.Api(db).sweep(sweep_id).runs
    assert (run.state, run.attempt) == ("finished", 2)
    # No row of its own for the resumed start: the first attempt's two, then the third.
    assert [(row["_step"], row["acc"]) for row in run.history()] == [(0, 0.5), (1, 0.9), (2, 0.6)]
    return run


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_a_resumed_function_run_starts_at_its_step_with_its_summary(
    tmp_path: Path, signals: Path, isolation: str
) -> None:
    run = _run(tmp_path, program=False, extra=["--isolation", isolation])
    first, resumed = _attempts(signals, run.id)
    assert first == {
        "resumed": False,
        "starting_step": 0,
        "step": 0,
        "summary": {"acc": None, "best": None},
    }
    assert resumed == {
        "resumed": True,
        "starting_step": 2,
        "step": 2,
        "summary": {"acc": 0.9, "best": 0.9},
    }
    assert (run.summary["acc"], run.summary["best"]) == (0.6, 0.9)


def test_a_resumed_program_run_starts_at_its_step_with_its_summary(
    tmp_path: Path, signals: Path
) -> None:
    run = _run(tmp_path, program=True, extra=[])
    first, resumed = _attempts(signals, run.id)
    assert (first["resumed"], first["step"]) == (False, 0)
    assert (resumed["resumed"], resumed["starting_step"], resumed["step"]) == (True, 2, 2)
    assert resumed["summary"] == {"acc": 0.9, "best": 0.9}
    assert (run.summary["acc"], run.summary["best"]) == (0.6, 0.9)
