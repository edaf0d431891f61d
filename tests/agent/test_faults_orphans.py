"""An agent killed with SIGKILL (no handler can run) leaves no run's process training: the
guard it starts beside each child ends the child's process group once the agent is gone.
The run is the next agent's to mark crashed (tests/agent/test_multiagent.py), and its point
then runs again with no orphan training beside it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from faults_support import PROGRAMS, alive, grid, start_agent, wait_for

import localsweep
from localsweep.agent._guard import Guard


@pytest.fixture
def signals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "signals"
    folder.mkdir()
    monkeypatch.setenv("LOCALSWEEP_TEST_SIGNALS", str(folder))
    return folder


@pytest.mark.slow
def test_a_program_does_not_outlive_an_agent_killed_with_sigkill(
    tmp_path: Path, signals: Path
) -> None:
    db = str(tmp_path / "sweeps.db")
    config: dict[str, Any] = grid(1, program=str(PROGRAMS / "preempt_program.py"))
    config["parameters"]["mode"] = {"value": "plain"}
    sweep_id = localsweep.sweep(config, db=db)
    agent = start_agent(
        sweep_id, db, tmp_path / "agent.log", extra=["--grace-period", "2"], new_session=True
    )
    try:
        wait_for(lambda: any(signals.glob("pid-*")), "the program started", agents=[agent])
        (pid_file,) = signals.glob("pid-*")
        child = int(pid_file.read_text())
        os.killpg(agent.pid, signal.SIGKILL)
        assert agent.wait() == -signal.SIGKILL
    finally:
        agent.kill()
    wait_for(lambda: not alive(child), "the orphaned program ended")

    (run,) = localsweep.Api(db).sweep(sweep_id).runs
    assert run.state == "running"  # the guard writes nothing: the next agent marks it crashed


@pytest.mark.slow
def test_a_function_run_process_does_not_outlive_an_agent_killed_with_sigkill(
    tmp_path: Path, signals: Path
) -> None:
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(grid(1), db=db)
    agent = start_agent(
        sweep_id,
        db,
        tmp_path / "agent.log",
        function="faults_train:until_released",
        extra=["--isolation", "process", "--grace-period", "2"],
    )
    try:
        wait_for(lambda: any(signals.glob("started-*")), "the run started", agents=[agent])
        (started,) = signals.glob("started-*")
        child = int(started.name.split("-")[1])
        os.kill(agent.pid, signal.SIGKILL)
        assert agent.wait() == -signal.SIGKILL
    finally:
        agent.kill()
    wait_for(lambda: not alive(child), "the orphaned run's process ended")
    (run,) = localsweep.Api(db).sweep(sweep_id).runs
    assert run.state == "running"  # until another agent marks it crashed


def test_a_guard_leaves_a_living_agents_child_alone_and_ends_with_it(tmp_path: Path) -> None:
    release = tmp_path / "release"
    code = (
        "import pathlib, sys, time\nwhile not pathlib.Path(sys.argv[1]).exists(): time.sleep(0.05)"
    )
    child = subprocess.Popen([sys.executable, "-c", code, str(release)], start_new_session=True)
    guard = Guard(child.pid, grace=1.0)
    assert guard.process is not None
    try:
        # The agent (this process) is alive: the guard only watches.
        wait_for(lambda: alive(guard.process.pid), "the guard started")  # type: ignore[union-attr]
        assert child.poll() is None
        release.touch()
        assert child.wait(timeout=60) == 0  # the child ended by itself, unsignalled
        # With its child's group gone, the guard ends by itself too.
        assert guard.process.wait(timeout=60) == 0
    finally:
        child.kill()
        guard.stop()
