"""Ctrl-C then restart (issue 11, item 4): the runs Ctrl-C interrupted are no result; their
points run again when an agent restarts, and the agent says so as it stops."""

from __future__ import annotations

import contextlib
import os
import re
import signal
from pathlib import Path

import pytest
from faults_support import (
    PROGRAMS,
    alive,
    grid,
    no_traceback_of_ours,
    start_agent,
    wait_for,
)

import localsweep

pytestmark = pytest.mark.slow


def test_ctrl_c_then_restart_runs_the_interrupted_points_again(
    tmp_path: Path, signals: Path
) -> None:
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
    # (The terminal may fold the line.) Two at a time, as they started.
    said = " ".join(agent.output().split())
    assert f"goes on with `localsweep agent --db {db} --workers 2 {sweep_id}`" in said
    assert f"localsweep.agent({sweep_id!r}, db={db!r}, workers=2)" in said
    no_traceback_of_ours(agent.output())
    interrupted = localsweep.Api(db).sweep(sweep_id).runs
    assert [(r.state, r.end_reason) for r in interrupted] == [("killed", "interrupted")] * 2

    (signals / "release").touch()
    again = start_agent(sweep_id, db, tmp_path / "again.log", extra=workers)
    assert again.wait() == 0, again.output()
    sweep = localsweep.Api(db).sweep(sweep_id)
    assert sorted(r.config["x"] for r in sweep.runs if r.state == "finished") == [0, 1, 2]
    assert (sweep.state, sweep.finished_reason) == ("FINISHED", "exhausted")


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_second_ctrl_c_terminates_runs_that_ignore_the_first_at_once(
    tmp_path: Path, signals: Path, workers: str
) -> None:
    """The first Ctrl-C says the agent waits for the runs (a program may take long to save
    its checkpoint), once; the second sends SIGTERM at once, with one worker or several,
    to the processes a run started outside its process group too, without waiting out the
    grace period."""
    db = str(tmp_path / "sweeps.db")
    config = grid(int(workers), program=str(PROGRAMS / "ignores_sigint.py"))
    config["parameters"]["detached"] = {"value": 1}
    sweep_id = localsweep.sweep(config, db=db)
    extra = ["--workers", workers, "--grace-period", "120"]
    agent = start_agent(sweep_id, db, tmp_path / "agent.log", extra=extra)
    try:
        wait_for(
            lambda: len(list(signals.glob("started-*"))) == int(workers),
            "every worker started its run",
            agents=[agent],
        )
        os.kill(agent.pid, signal.SIGINT)
        wait_for(
            lambda: agent.output().count("ignoring SIGINT") == int(workers),
            "each run got SIGINT",
            agents=[agent],
        )
        os.kill(agent.pid, signal.SIGINT)
        # Far below the 120 s grace period.
        assert agent.wait(timeout=60) == 130, agent.output()
        detached = [int(p.name.split("-")[1]) for p in signals.glob("detached-*")]
        assert len(detached) == int(workers)
        wait_for(lambda: not any(alive(pid) for pid in detached), "the detached ones ended")
    finally:
        agent.kill()
        for pid_file in signals.glob("detached-*"):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid_file.name.split("-")[1]), signal.SIGKILL)
    output = agent.output()
    said = "Ctrl-C: waiting for {} to end; press Ctrl-C again to terminate {}."
    if workers == "1":
        (run,) = localsweep.Api(db).sweep(sweep_id).runs
        assert output.count(said.format(f"run {run.id}", "it")) == 1, output
    else:
        assert output.count(said.format("the running runs", "them")) == 1, output
    assert output.count("Ctrl-C: waiting") == 1, output
    no_traceback_of_ours(output)
    runs = localsweep.Api(db).sweep(sweep_id).runs
    assert [r.state for r in runs] == ["killed"] * int(workers)
    assert all("sent SIGINT, then SIGTERM" in (r.error or "") for r in runs), output


@pytest.mark.parametrize("function", ["ctrl_c_swallowed", "ctrl_c_caught"])
def test_a_ctrl_c_that_never_reaches_the_agent_still_stops_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, function: str
) -> None:
    """A Ctrl-C that Python swallows (it landed in a ``__del__`` or an import's lock
    callback: "Exception ignored in ...") or that the user's code catches and returns from
    (PyTorch Lightning's fit does) used to let the agent go on to the next run, and the
    next: it now stops before claiming another, the run that returned kept as finished."""
    monkeypatch.setenv("LOCALSWEEP_TEST_SIGNALS", str(tmp_path))
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(grid(3), db=db)
    agent = start_agent(sweep_id, db, tmp_path / "agent.log", function=f"faults_train:{function}")
    assert agent.wait(timeout=120) == 130, agent.output()
    # Python's own "Exception ignored in ..." report of the swallowed one is not ours.
    said = re.sub(
        r"Exception ignored in: .*?\nKeyboardInterrupt: ?\n", "", agent.output(), flags=re.S
    )
    no_traceback_of_ours(said)
    assert "Interrupted; no run was in progress." in said
    runs = localsweep.Api(db).sweep(sweep_id).runs
    assert [(r.state, r.config["x"]) for r in runs] == [("finished", 0)], agent.output()
    assert runs[0].summary["loss"] in (0.0, -0.5)


def test_a_ctrl_c_the_code_catches_then_exits_on_is_an_interrupted_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PyTorch Lightning 2.6's ``Trainer.fit`` catches the KeyboardInterrupt and calls
    ``sys.exit(1)``: the run was interrupted, not failed, and its point runs again."""
    monkeypatch.setenv("LOCALSWEEP_TEST_SIGNALS", str(tmp_path))
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(grid(2), db=db)
    agent = start_agent(
        sweep_id, db, tmp_path / "agent.log", function="faults_train:ctrl_c_caught_exit"
    )
    assert agent.wait(timeout=120) == 130, agent.output()
    no_traceback_of_ours(agent.output())
    assert "1 run interrupted; its point will run again." in agent.output()
    runs = localsweep.Api(db).sweep(sweep_id).runs
    assert [(r.state, r.end_reason, r.config["x"]) for r in runs] == [("killed", "interrupted", 0)]

    again = start_agent(sweep_id, db, tmp_path / "again.log", function="faults_train:steps")
    assert again.wait(timeout=120) == 0, again.output()
    sweep = localsweep.Api(db).sweep(sweep_id)
    assert sorted(r.config["x"] for r in sweep.runs if r.state == "finished") == [0, 1]


def test_ctrl_c_on_a_random_sweep_does_not_promise_the_point_again(
    tmp_path: Path, signals: Path
) -> None:
    """A random (or bayes) sweep draws a new point for its next run: the interrupted run
    is no result, and its point is not run again as a grid's is."""
    db = str(tmp_path / "sweeps.db")
    config = {**grid(3), "method": "random"}
    sweep_id = localsweep.sweep(config, db=db)
    agent = start_agent(
        sweep_id, db, tmp_path / "agent.log", function="faults_train:until_released"
    )
    try:
        wait_for(lambda: any(signals.glob("started-*")), "the run started", agents=[agent])
        os.kill(agent.pid, signal.SIGINT)
        assert agent.wait(timeout=120) == 130, agent.output()
    finally:
        agent.kill()
    assert "1 run interrupted: no result, not counted." in agent.output()
    assert "will run again" not in agent.output()
