"""Ctrl-C on an agent whose run has a process of its own (``--isolation process``, program
mode), as a terminal sends it: a training that catches the interrupt and ends normally is
kept as it ended, as in-process (docs/faults.md, "Ctrl-C"); a run's process interrupted
before the training started ends quietly."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from faults_support import PROGRAMS, grid, no_traceback_of_ours, start_agent, wait_for

import localsweep

pytestmark = pytest.mark.slow


def _ctrl_c_when(agent: object, condition: object, what: str) -> None:
    wait_for(condition, what, agents=[agent])  # type: ignore[arg-type, list-item]
    # A terminal's Ctrl-C: SIGINT to the agent's process group (the run's process has a
    # session of its own, so only the agent gets it).
    os.killpg(agent.pid, signal.SIGINT)  # type: ignore[attr-defined]


@pytest.mark.parametrize("mode", ["isolation", "program"])
def test_a_run_that_catches_ctrl_c_and_ends_normally_is_finished(
    tmp_path: Path, signals: Path, mode: str
) -> None:
    """It was ``killed (interrupted)`` with its point run again, where the same training
    in-process is ``finished``; the agent still stops without another run, and says how
    to go on."""
    db = str(tmp_path / "sweeps.db")
    if mode == "program":
        sweep_id = localsweep.sweep(grid(3, program=str(PROGRAMS / "caught_train.py")), db=db)
        options: dict[str, object] = {}
    else:
        sweep_id = localsweep.sweep(grid(3), db=db)
        options = {
            "function": "caught_train:catches_and_returns",
            "extra": ["--isolation", "process"],
        }
    agent = start_agent(sweep_id, db, tmp_path / "agent.log", new_session=True, **options)  # type: ignore[arg-type]
    try:
        _ctrl_c_when(agent, lambda: any(signals.glob("started-*")), "the run logged")
        assert agent.wait(timeout=120) == 130, agent.output()
    finally:
        agent.kill()
    output = agent.output()
    assert "caught, returning" in output
    no_traceback_of_ours(output)
    assert "Interrupted; no run was in progress." in output, output
    assert "interrupted; its point will run again" not in output
    assert f"Sweep {sweep_id} goes on with" in output
    runs = localsweep.Api(db).sweep(sweep_id).runs
    assert [(r.state, r.end_reason, r.config["x"]) for r in runs] == [("finished", None, 0)], output
    assert runs[0].summary["loss"] == -0.5  # what it logged after the Ctrl-C, kept
    assert runs[0].exit_code == 0


def test_ctrl_c_while_the_runs_process_imports_ends_it_without_a_traceback(
    tmp_path: Path, signals: Path
) -> None:
    """A Ctrl-C in the second a run's process takes to start printed a traceback through
    ``<string>``, localsweep's imports and sqlalchemy's: the training never ran, the run is
    interrupted (its point runs again), and that is all the agent says."""
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(grid(2), db=db)
    agent = start_agent(
        sweep_id,
        db,
        tmp_path / "agent.log",
        function="caught_train:steps",
        extra=["--isolation", "process"],
        env={"CAUGHT_TRAIN_SLOW_IMPORT": "1"},
        new_session=True,
    )
    try:
        _ctrl_c_when(agent, lambda: any(signals.glob("importing-*")), "the run's process imports")
        assert agent.wait(timeout=120) == 130, agent.output()
    finally:
        agent.kill()
    output = agent.output()
    assert "Traceback" not in output, output
    assert "1 run interrupted; its point will run again." in output
    runs = localsweep.Api(db).sweep(sweep_id).runs
    assert [(r.state, r.end_reason) for r in runs] == [("killed", "interrupted")]
    # As a process that SIGINT ended: 128 + 2.
    assert runs[0].exit_code == 130, runs[0].error


def test_with_workers_runs_that_catch_ctrl_c_and_return_are_finished_and_counted(
    tmp_path: Path, signals: Path
) -> None:
    """``--workers 2 --isolation process``: both runs caught the Ctrl-C and returned; they
    were both ``killed`` ("2 runs interrupted: no result, not counted") and the hint asked
    for them again."""
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep({**grid(3), "method": "random"}, db=db)
    agent = start_agent(
        sweep_id,
        db,
        tmp_path / "agent.log",
        function="caught_train:catches_and_returns",
        extra=["--isolation", "process", "--workers", "2", "--count", "3"],
        new_session=True,
    )
    try:
        _ctrl_c_when(agent, lambda: len(list(signals.glob("started-*"))) == 2, "both runs logged")
        assert agent.wait(timeout=120) == 130, agent.output()
    finally:
        agent.kill()
    output = agent.output()
    no_traceback_of_ours(output)
    assert output.count("caught, returning") == 2, output
    assert "Interrupted; no run was in progress." in output, output
    runs = localsweep.Api(db).sweep(sweep_id).runs
    assert [(r.state, r.summary["loss"]) for r in runs] == [
        ("finished", r.config["x"] - 0.5) for r in runs
    ], output
    assert len(runs) == 2
    # The one run left of the count, two at a time as they ran.
    assert "--count 1 --workers 2 --isolation process" in " ".join(output.split())
