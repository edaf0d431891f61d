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


LAUNCHER = """\
import os, subprocess, sys, time
rank = (
    "import os, signal, sys, time\\n"
    "signal.signal(signal.SIGINT, signal.SIG_IGN)\\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\\n"
    "open(os.path.join(sys.argv[1], f'rank-{os.getpid()}'), 'w').close()\\n"
    "time.sleep(600)\\n"
)
# Each rank in a session of its own, as torchrun starts them.
for _ in range(2):
    subprocess.Popen([sys.executable, "-c", rank, sys.argv[1]], start_new_session=True)
time.sleep(600)  # ends at the first SIGINT, leaving its ranks
"""


def test_a_stopped_runs_processes_outside_its_group_do_not_outlive_it(tmp_path: Path) -> None:
    # A launcher that starts its ranks in sessions of their own and dies at the first
    # signal: the signal to its group never reaches them, and they ignore SIGINT and
    # SIGTERM. Once the grace periods are over they get SIGKILL.
    from localsweep.agent._process import ProcessWatch, StopReason

    launcher = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, str(tmp_path)], start_new_session=True
    )
    ranks: list[int] = []
    try:
        wait_for(lambda: len(list(tmp_path.glob("rank-*"))) == 2, "both ranks started")
        ranks = [int(p.name.split("-")[1]) for p in tmp_path.glob("rank-*")]
        watch = ProcessWatch(launcher, timeout=None, grace_period=0.5, stop_event=None)
        watch.request_stop(StopReason.STOPPED)
        assert watch.wait() == -signal.SIGINT
        wait_for(lambda: not any(alive(pid) for pid in ranks), "the ranks ended", timeout=10)
    finally:
        launcher.kill()
        for pid in ranks:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
