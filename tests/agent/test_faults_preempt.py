"""Preemption (issue 11, item 3): a run that calls ``wandb.run.mark_preempting()`` and exits,
a program-mode child ended by SIGTERM from outside (a scheduler), and an agent sent SIGTERM
all requeue the run; an agent resumes it with the same run id and parameters
(``WANDB_RESUME=allow``), its history goes on, and it counts once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from faults_support import (
    PROGRAMS,
    Agent,
    grid,
    no_traceback_of_ours,
    start_agent,
    wait_for,
)

import localsweep

pytestmark = pytest.mark.slow


def _program_sweep(db: str, mode: str, points: int = 1) -> str:
    config: dict[str, Any] = grid(points, program=str(PROGRAMS / "preempt_program.py"))
    config["parameters"]["mode"] = {"value": mode}
    return localsweep.sweep(config, db=db)


def _assert_resumed_once(db: str, sweep_id: str, signals: Path) -> None:
    (run,) = localsweep.Api(db).sweep(sweep_id).runs
    assert run.state == "finished"
    assert run.attempt == 2
    # The first attempt got no WANDB_RESUME; the resumed one, the same run id and `allow`.
    first = signals / f"attempt-{run.id}-0"
    assert first.read_text() == ""
    (second,) = [p for p in signals.glob(f"attempt-{run.id}-*") if p != first]
    assert second.read_text() == "allow"
    # Its history goes on from the checkpoint, after the first attempt's rows.
    epochs = [row["epoch"] for row in run.history()]
    resumed_from = int(second.name.rsplit("-", 1)[1])
    assert epochs[-3:] == [resumed_from, resumed_from + 1, resumed_from + 2]
    assert epochs[:resumed_from] == list(range(resumed_from))


def test_a_program_marking_itself_preempting_is_requeued_and_resumed(
    tmp_path: Path, signals: Path
) -> None:
    db = str(tmp_path / "sweeps.db")
    sweep_id = _program_sweep(db, "mark")
    agent = start_agent(sweep_id, db, tmp_path / "agent.log")
    assert agent.wait() == 0, agent.output()
    _assert_resumed_once(db, sweep_id, signals)


@pytest.mark.parametrize("mode", ["program", "isolated"])
def test_a_resumed_run_keeps_every_attempts_output_in_its_files(
    tmp_path: Path, signals: Path, mode: str
) -> None:
    db = str(tmp_path / "sweeps.db")
    if mode == "program":
        sweep_id = _program_sweep(db, "mark")
        agent = start_agent(sweep_id, db, tmp_path / "agent.log")
    else:
        sweep_id = localsweep.sweep(grid(1), db=db)
        agent = start_agent(
            sweep_id,
            db,
            tmp_path / "agent.log",
            function="faults_train:preempt_once",
            extra=["--isolation", "process"],
        )
    assert agent.wait() == 0, agent.output()
    (run,) = localsweep.Api(db).sweep(sweep_id).runs
    assert run.attempt == 2
    assert run.stdout_path is not None and run.stderr_path is not None
    for path in (run.stdout_path, run.stderr_path):
        lines = Path(path).read_text().splitlines()
        marker = lines.index("--- localsweep: attempt 2 (resumed) ---")
        assert "attempt from step 0" in lines[:marker], lines
        assert "attempt from step 3" in lines[marker:], lines


def test_a_program_sent_sigterm_by_its_scheduler_is_requeued_and_resumed(
    tmp_path: Path, signals: Path
) -> None:
    db = str(tmp_path / "sweeps.db")
    sweep_id = _program_sweep(db, "sigterm")
    agent = start_agent(sweep_id, db, tmp_path / "agent.log")
    try:
        wait_for(lambda: any(signals.glob("pid-*")), "the program started", agents=[agent])
        (pid_file,) = signals.glob("pid-*")
        os.kill(int(pid_file.read_text()), signal.SIGTERM)
        assert agent.wait() == 0, agent.output()
    finally:
        agent.kill()
    _assert_resumed_once(db, sweep_id, signals)


def test_an_in_process_run_marking_itself_preempting_is_requeued_and_resumed(
    tmp_path: Path, signals: Path
) -> None:
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(grid(1), db=db)
    agent = start_agent(sweep_id, db, tmp_path / "agent.log", function="faults_train:preempt_once")
    assert agent.wait() == 0, agent.output()
    _assert_resumed_once(db, sweep_id, signals)


def test_an_agent_sent_sigterm_requeues_its_run_and_exits_promptly(
    tmp_path: Path, signals: Path
) -> None:
    db = str(tmp_path / "sweeps.db")
    sweep_id = _program_sweep(db, "plain")
    agent = start_agent(sweep_id, db, tmp_path / "agent.log", extra=["--grace-period", "5"])
    try:
        wait_for(lambda: any(signals.glob("pid-*")), "the program started", agents=[agent])
        os.kill(agent.pid, signal.SIGTERM)
        # Promptly: within the grace period plus wandb's finish, far below the deadline.
        assert agent.wait(timeout=60) == 143, agent.output()
    finally:
        agent.kill()
    assert "Stopped on SIGTERM: 1 run was requeued" in agent.output()
    no_traceback_of_ours(agent.output())
    (requeued,) = localsweep.Api(db).sweep(sweep_id).runs
    assert (requeued.state, requeued.end_reason) == ("preempted", "preempted")

    again = start_agent(sweep_id, db, tmp_path / "again.log")
    assert again.wait() == 0, again.output()
    _assert_resumed_once(db, sweep_id, signals)
    assert f"run {requeued.id} resumed (attempt 2; #0 of the sweep)" in again.output()


def test_an_in_process_agent_sent_sigterm_stops_its_run_at_once_and_requeues_it(
    tmp_path: Path, signals: Path
) -> None:
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(grid(1), db=db)
    agent = start_agent(
        sweep_id, db, tmp_path / "agent.log", function="faults_train:until_released"
    )
    try:
        wait_for(lambda: any(signals.glob("started-*")), "the run started", agents=[agent])

        def rows_stored() -> int:
            return sum(len(r.history()) for r in localsweep.Api(db).sweep(sweep_id).runs)

        # The signal comes once the run has logged (under load it could come before
        # the run's first log call).
        wait_for(lambda: rows_stored() > 0, "a logged row in the store", agents=[agent])
        before = rows_stored()
        os.kill(agent.pid, signal.SIGTERM)
        assert agent.wait(timeout=60) == 143, agent.output()
    finally:
        agent.kill()
    assert "Stopped on SIGTERM: 1 run was requeued" in agent.output()
    (requeued,) = localsweep.Api(db).sweep(sweep_id).runs
    assert requeued.state == "preempted"
    assert len(requeued.history()) >= before  # the rows logged before the signal are kept

    (signals / "release").touch()
    again = start_agent(
        sweep_id, db, tmp_path / "again.log", function="faults_train:until_released"
    )
    assert again.wait() == 0, again.output()
    (run,) = localsweep.Api(db).sweep(sweep_id).runs
    assert (run.id, run.state, run.attempt) == (requeued.id, "finished", 2)


GRACE = ("--grace-period", "120")


def test_an_agent_started_in_the_background_of_a_script_still_stops_its_run_with_sigint(
    tmp_path: Path, signals: Path
) -> None:
    # `localsweep agent ... &` in a script (or `nohup ... &` over ssh, as docs/cluster.md
    # shows) starts the agent with SIGINT ignored, and an ignored signal stays ignored
    # across exec: its children would ignore the SIGINT that lets wandb keep every row and
    # the program save a checkpoint, and would only stop at SIGTERM a grace period later.
    db = str(tmp_path / "sweeps.db")
    sweep_id = _program_sweep(db, "plain")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(PROGRAMS), env.get("PYTHONPATH", "")])
    log = tmp_path / "agent.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "localsweep.cli", "agent", sweep_id, "--db", db, *GRACE],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            # What a non-interactive shell does for a command it starts with `&`.
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
        )
    agent = Agent(process, log)
    try:
        wait_for(lambda: any(signals.glob("pid-*")), "the program started", agents=[agent])
        os.kill(agent.pid, signal.SIGTERM)
        # Well within the 120 s grace period: the program took the SIGINT.
        assert agent.wait(timeout=60) == 143, agent.output()
        (requeued,) = localsweep.Api(db).sweep(sweep_id).runs
        # It saved its checkpoint on KeyboardInterrupt, as it would in the foreground.
        assert (signals / f"checkpoint-{requeued.id}").exists(), agent.output()
        assert (requeued.state, requeued.end_reason) == ("preempted", "preempted")
    finally:
        agent.kill()


def test_a_preempted_run_keeps_its_metric_and_exports_as_a_running_trial(
    tmp_path: Path, signals: Path
) -> None:
    import optuna

    from localsweep.report import export_optuna

    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(grid(1), db=db)
    agent = start_agent(
        sweep_id, db, tmp_path / "agent.log", function="faults_train:until_released"
    )
    try:
        wait_for(
            lambda: any(r.history() for r in localsweep.Api(db).sweep(sweep_id).runs),
            "a logged row in the store",
            agents=[agent],
        )
        os.kill(agent.pid, signal.SIGTERM)
        assert agent.wait(timeout=60) == 143, agent.output()
    finally:
        agent.kill()
    sweep = localsweep.Api(db).sweep(sweep_id)
    (run,) = sweep.runs
    assert run.state == "preempted"
    # Its metric is its summary's value, as for a killed run (the agent's line, `show`).
    assert run.metric is not None and run.metric == run.summary["loss"]
    assert "loss=-" not in agent.output()
    # Waiting to be resumed, it has no result: not the best run, and a RUNNING trial of
    # the exported study (it will go on), not a failed one.
    assert sweep.best_run() is None
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    export_optuna(sweep, url)
    (trial,) = optuna.load_study(study_name=sweep_id, storage=url).get_trials()
    assert trial.state is optuna.trial.TrialState.RUNNING
    assert trial.user_attrs["run_state"] == "preempted"
