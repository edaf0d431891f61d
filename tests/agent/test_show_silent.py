"""A run whose agent was killed (``kill -9``, a machine gone) stays ``running`` in the
store until another agent claims a run and reaps it: ``show`` says it has gone silent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from faults_support import grid, start_agent, wait_for

import localsweep

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("agent_timeout", "viewer_timeout", "silent"),
    [("2", "600", True), ("600", "1", False)],
    ids=["past-its-agents-timeout", "within-its-agents-timeout"],
)
def test_show_marks_a_running_run_whose_agent_is_gone(
    tmp_path: Path, signals: Path, agent_timeout: str, viewer_timeout: str, silent: bool
) -> None:
    # Judged by the heartbeat timeout of the agent that held the run (kept with its claim),
    # not by the timeout of whoever runs `show`.
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(grid(2), db=db)
    agent = start_agent(
        sweep_id, db, tmp_path / "agent.log", function="faults_train:until_released",
        env={"LOCALSWEEP_HEARTBEAT_TIMEOUT": agent_timeout},
    )  # fmt: skip
    try:
        wait_for(lambda: any(signals.glob("started-*")), "the run started", agents=[agent])
        os.kill(agent.pid, signal.SIGKILL)
        agent.wait(timeout=60)
    finally:
        agent.kill()
        (signals / "release").touch()  # the run's own process, if the guard left it
    time.sleep(3)
    env = {**os.environ, "LOCALSWEEP_HEARTBEAT_TIMEOUT": viewer_timeout, "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-m", "localsweep", "show", sweep_id, "--db", db],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    listed = subprocess.run(
        [sys.executable, "-m", "localsweep", "ls", "--db", db],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    if silent:
        assert "running (silent " in out, out
        assert "the agent is most likely gone" in " ".join(out.split())
        # `ls` flags the sweep too, so a stuck sweep shows in the list of many.
        assert "1 (1 silent)" in listed.stdout, listed.stdout
        assert "most likely gone" in " ".join(listed.stdout.split())
    else:
        assert "silent" not in out, out  # within its agent's timeout: just running
        assert "silent" not in listed.stdout, listed.stdout


def test_a_killed_programs_end_line_does_not_quote_wandbs_banner_as_its_error() -> None:
    # SIGKILL leaves a program no last words: its stderr ends with wandb's start banner,
    # which is no reason for the failure. wandb's errors are still quoted.
    from localsweep.agent._progress import error_summary

    banner = (
        "the program was killed by SIGKILL (exit status 137)\n"
        "--- last lines of stderr ---\n"
        "wandb: Tracking run with wandb version 0.31.0\n"
        "wandb: View this run in the terminal with `wandb leet`\n"
    )
    assert error_summary(banner) == ": the program was killed by SIGKILL (exit status 137)"
    failed = banner + "ValueError: bad batch\n"
    assert error_summary(failed).endswith(": ValueError: bad batch")
    wandb_error = banner + "wandb: ERROR Run initialization has timed out\n"
    assert error_summary(wandb_error).endswith("wandb: ERROR Run initialization has timed out")
