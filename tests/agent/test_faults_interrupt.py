"""Ctrl-C then restart (issue 11, item 4): the runs Ctrl-C interrupted are no result; their
points run again when an agent restarts, and the agent says so as it stops."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from faults_support import PROGRAMS, grid, no_traceback_of_ours, start_agent, wait_for

import localsweep

pytestmark = pytest.mark.slow


def test_ctrl_c_then_restart_runs_the_interrupted_points_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    signals = tmp_path / "signals"
    signals.mkdir()
    monkeypatch.setenv("LOCALSWEEP_TEST_SIGNALS", str(signals))
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(grid(3, program=str(PROGRAMS / "until_released.py")), db=db)
    workers = ["--workers", "2", "--grace-period", "5"]
    agent = start_agent(sweep_id, db, tmp_path / "agent.log", extra=workers)
    try:
        wait_for(
            lambda: len(list(signals.glob("started-*"))) == 2,
            "both workers started a run",
            agents=[agent],
        )
        os.kill(agent.pid, signal.SIGINT)
        assert agent.wait(timeout=120) == 130, agent.output()
    finally:
        agent.kill()
    assert "2 runs interrupted; their points will run again." in agent.output()
    no_traceback_of_ours(agent.output())
    interrupted = localsweep.Api(db).sweep(sweep_id).runs
    assert [(r.state, r.end_reason) for r in interrupted] == [("killed", "interrupted")] * 2

    (signals / "release").touch()
    again = start_agent(sweep_id, db, tmp_path / "again.log", extra=workers)
    assert again.wait() == 0, again.output()
    sweep = localsweep.Api(db).sweep(sweep_id)
    assert sorted(r.config["x"] for r in sweep.runs if r.state == "finished") == [0, 1, 2]
    assert (sweep.state, sweep.finished_reason) == ("finished", "exhausted")
