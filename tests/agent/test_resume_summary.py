"""A preempted run that is resumed is one run: its ``wandb.init`` resumes it as W&B's server
would (``run.resumed`` is True, ``_step`` goes on after the run's last step), and the
summaries its ``define_metric`` calls ask for cover every attempt's rows, so the sweep's
metric and best run are the run's, not its last attempt's. A running run's summary applies
them too, as W&B shows a running run."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from faults_support import PROGRAMS, start_agent, wait_for

import localsweep

pytestmark = pytest.mark.slow

FUNCTION = "resume_summary:train"


def _sweep(db: str, mode: str, *, program: bool) -> str:
    config: dict[str, Any] = {
        "method": "grid",
        "metric": {"name": "acc", "goal": "maximize"},
        "parameters": {"mode": {"value": mode}},
    }
    if program:
        config["program"] = str(PROGRAMS / "resume_summary.py")
    return localsweep.sweep(config, db=db)


def _attempts(signals: Path, run_id: str) -> list[dict[str, Any]]:
    files = sorted(signals.glob(f"attempt-{run_id}-*"), key=lambda p: int(p.name.split("-")[-1]))
    return [json.loads(p.read_text()) for p in files]


def _assert_one_run_over_both_attempts(db: str, sweep_id: str, signals: Path) -> None:
    sweep = localsweep.Api(db).sweep(sweep_id)
    (run,) = sweep.runs
    assert (run.state, run.attempt) == ("finished", 2)
    assert [row["acc"] for row in run.history()] == [0.5, 0.9, 0.4, 0.6, 0.7]
    # summary="max" over the run's whole history, not its last attempt's (0.7).
    assert run.summary["acc"] == {"max": 0.9}
    assert run.summary["loss"] == {"min": 1.0, "mean": 3.0, "first": 3.0, "last": 5.0}
    assert run.metric == 0.9
    best = sweep.best_run()
    assert best is not None and best.metric == 0.9
    # wandb.init resumed the run: the resume recipe (`if run.resumed: load the checkpoint`)
    # works, and _step goes on after the first attempt's three rows, as online.
    assert _attempts(signals, run.id) == [
        {"resumed": False, "starting_step": 0},
        {"resumed": True, "starting_step": 3},
    ]
    assert [row["_step"] for row in run.history()] == [0, 1, 2, 3, 4]


def test_an_agent_sent_sigterm_resumes_the_run_with_its_summary_over_every_attempt(
    tmp_path: Path, signals: Path
) -> None:
    db = str(tmp_path / "sweeps.db")
    sweep_id = _sweep(db, "wait", program=True)
    agent = start_agent(sweep_id, db, tmp_path / "agent.log")
    try:
        wait_for(lambda: any(signals.glob("logged-*")), "the first attempt logged", agents=[agent])
        os.kill(agent.pid, signal.SIGTERM)
        assert agent.wait() == 143, agent.output()
    finally:
        agent.kill()
    (preempted,) = localsweep.Api(db).sweep(sweep_id).runs
    assert preempted.state == "preempted"
    assert preempted.summary["acc"] == {"max": 0.9}

    again = start_agent(sweep_id, db, tmp_path / "again.log")
    assert again.wait() == 0, again.output()
    _assert_one_run_over_both_attempts(db, sweep_id, signals)


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_a_function_run_marking_itself_preempting_resumes_with_its_summary(
    tmp_path: Path, signals: Path, isolation: str
) -> None:
    db = str(tmp_path / "sweeps.db")
    sweep_id = _sweep(db, "mark", program=False)
    agent = start_agent(
        sweep_id,
        db,
        tmp_path / "agent.log",
        function=FUNCTION,
        extra=["--isolation", isolation],
    )
    assert agent.wait() == 0, agent.output()
    _assert_one_run_over_both_attempts(db, sweep_id, signals)


def test_a_run_resumed_after_an_attempt_that_never_started_wandb_is_not_marked_resumed(
    tmp_path: Path, signals: Path
) -> None:
    # Online there would be no run to resume either: wandb.init starts it afresh.
    db = str(tmp_path / "sweeps.db")
    sweep_id = _sweep(db, "early", program=True)
    agent = start_agent(sweep_id, db, tmp_path / "agent.log")
    assert agent.wait() == 0, agent.output()
    (run,) = localsweep.Api(db).sweep(sweep_id).runs
    assert (run.state, run.attempt) == ("finished", 2)
    assert _attempts(signals, run.id) == [{"resumed": False, "starting_step": 0}]
    assert [row["_step"] for row in run.history()] == [0, 1, 2]


@pytest.mark.parametrize("program", [False, True], ids=["in-process", "program"])
def test_a_running_runs_summary_applies_its_define_metric(
    tmp_path: Path, signals: Path, program: bool
) -> None:
    db = str(tmp_path / "sweeps.db")
    sweep_id = _sweep(db, "live", program=program)
    agent = start_agent(
        sweep_id, db, tmp_path / "agent.log", function=None if program else FUNCTION
    )
    api = localsweep.Api(db)

    def live() -> localsweep.Run | None:
        # The summary so far is written with the rows: once a row after the three with
        # acc and loss is there, it covers them.
        runs = api.sweep(sweep_id).runs
        return runs[0] if runs and any("tick" in row for row in runs[0].history()) else None

    try:
        wait_for(lambda: live() is not None, "the running run's summary", agents=[agent])
        run = live()
        assert run is not None and run.state == "running"
        # summary="max": 0.9, not the last value logged (0.4), as W&B shows it.
        assert run.summary["acc"] == {"max": 0.9}
        assert run.summary["loss"] == {"min": 1.0, "mean": 2.0, "first": 3.0, "last": 2.0}
        assert run.metric == 0.9
    finally:
        (signals / "release").touch()
    assert agent.wait() == 0, agent.output()
    (run,) = api.sweep(sweep_id).runs
    assert (run.state, run.metric, run.summary["acc"]) == ("finished", 0.9, {"max": 0.9})
