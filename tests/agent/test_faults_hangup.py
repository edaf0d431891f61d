"""SIGHUP: the terminal closes or the ssh session drops, and the shell sends SIGHUP to the
agent's process group. The agent stops its running runs and requeues them as preempted, as
on SIGTERM, and exits 129; no run's process outlives it (a program-mode child runs in its
own session, so the hangup does not reach it), and the next agent resumes the run with the
same id and counts it once. An agent under ``nohup`` ignores the hangup."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from faults_support import (
    DEADLINE,
    PROGRAMS,
    Agent,
    alive,
    grid,
    no_traceback_of_ours,
    start_agent,
    wait_for,
)

import localsweep
from localsweep.wandb_bridge._patch import scan_run_file

pytestmark = pytest.mark.slow

HANGUP_MESSAGE = "Stopped on SIGHUP (the terminal closed): {} requeued as preempted"


def _program_sweep(db: str, points: int = 1) -> str:
    config: dict[str, Any] = grid(points, program=str(PROGRAMS / "preempt_program.py"))
    config["parameters"]["mode"] = {"value": "plain"}
    return localsweep.sweep(config, db=db)


def _pids(signals: Path, pattern: str) -> list[int]:
    """The process ids the runs wrote: ``pid-<run id>`` (a program) holds it; for a
    function, ``started-<pid>-<x>`` names it."""
    if pattern == "pid-*":
        return [int(p.read_text()) for p in signals.glob(pattern)]
    return [int(p.name.split("-")[1]) for p in signals.glob(pattern)]


def _raised(output: str) -> list[str]:
    """The exception line that ends each traceback in ``output``."""
    raised = []
    for block in output.split("Traceback (most recent call last):")[1:]:
        lines = block.splitlines()[1:]
        raised.append(next((line for line in lines if line and not line[0].isspace()), ""))
    return raised


def _hang_up(agent: Agent) -> None:
    """What a closing terminal does: SIGHUP to the agent's process group."""
    os.killpg(agent.pid, signal.SIGHUP)


def _assert_program_resumed_once(db: str, sweep_id: str, signals: Path) -> None:
    for run in localsweep.Api(db).sweep(sweep_id).runs:
        assert (run.state, run.attempt) == ("finished", 2)
        first = signals / f"attempt-{run.id}-0"
        assert first.read_text() == ""
        (second,) = [p for p in signals.glob(f"attempt-{run.id}-*") if p != first]
        assert second.read_text() == "allow"
        # The first attempt's rows, then the resumed attempt's from its checkpoint.
        epochs = [row["epoch"] for row in run.history()]
        resumed_from = int(second.name.rsplit("-", 1)[1])
        assert epochs == [*range(resumed_from), *range(resumed_from, resumed_from + 3)]


def test_a_hung_up_agent_requeues_its_program_run_leaves_no_child_and_exits_129(
    tmp_path: Path, signals: Path
) -> None:
    db = str(tmp_path / "sweeps.db")
    sweep_id = _program_sweep(db)
    agent = start_agent(
        sweep_id, db, tmp_path / "agent.log", extra=["--grace-period", "5"], new_session=True
    )
    try:
        wait_for(lambda: any(signals.glob("pid-*")), "the program started", agents=[agent])
        (child,) = _pids(signals, "pid-*")
        _hang_up(agent)
        assert agent.wait(timeout=60) == 129, agent.output()
    finally:
        agent.kill()
    assert not alive(child), "the run's program outlived its agent"
    assert HANGUP_MESSAGE.format("1 run was") in agent.output()
    no_traceback_of_ours(agent.output())
    (requeued,) = localsweep.Api(db).sweep(sweep_id).runs
    assert (requeued.state, requeued.end_reason) == ("preempted", "preempted")

    again = start_agent(sweep_id, db, tmp_path / "again.log")
    assert again.wait() == 0, again.output()
    _assert_program_resumed_once(db, sweep_id, signals)


def test_sighup_to_the_agent_alone_does_the_same(tmp_path: Path, signals: Path) -> None:
    db = str(tmp_path / "sweeps.db")
    sweep_id = _program_sweep(db)
    agent = start_agent(sweep_id, db, tmp_path / "agent.log", extra=["--grace-period", "5"])
    try:
        wait_for(lambda: any(signals.glob("pid-*")), "the program started", agents=[agent])
        (child,) = _pids(signals, "pid-*")
        os.kill(agent.pid, signal.SIGHUP)
        assert agent.wait(timeout=60) == 129, agent.output()
    finally:
        agent.kill()
    assert not alive(child)
    (requeued,) = localsweep.Api(db).sweep(sweep_id).runs
    assert requeued.state == "preempted"


def test_an_agent_whose_terminal_closed_requeues_its_run_and_exits_129(
    tmp_path: Path, signals: Path
) -> None:
    """The real thing: the agent's output is a terminal that goes away (every write to it
    fails from then on) and its process group gets SIGHUP."""
    db = str(tmp_path / "sweeps.db")
    sweep_id = _program_sweep(db)
    master, terminal = pty.openpty()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(PROGRAMS), env.get("PYTHONPATH", "")])
    process = subprocess.Popen(
        [sys.executable, "-m", "localsweep.cli", "agent", sweep_id, "--db", db],
        env=env,
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        start_new_session=True,
    )
    os.close(terminal)
    agent = Agent(process, tmp_path / "unused.log")
    agent.log.write_text("(the agent's output went to its terminal)")
    try:
        seen = bytearray()

        def started() -> bool:
            # Read the terminal as a terminal emulator does, so the agent never blocks on it.
            import select

            while select.select([master], [], [], 0)[0]:
                try:
                    chunk = os.read(master, 65536)
                except OSError:
                    break
                if not chunk:
                    break
                seen.extend(chunk)
            return any(signals.glob("pid-*"))

        wait_for(started, "the program started", agents=[agent])
        (child,) = _pids(signals, "pid-*")
        os.close(master)  # the terminal window closes...
        master = -1
        _hang_up(agent)  # ...and the shell hangs up its jobs
        assert agent.wait(timeout=60) == 129
    finally:
        agent.kill()
        if master >= 0:
            os.close(master)
    assert not alive(child), "the run's program outlived its agent"
    (requeued,) = localsweep.Api(db).sweep(sweep_id).runs
    assert (requeued.state, requeued.end_reason) == ("preempted", "preempted")


def test_a_hung_up_agent_with_workers_requeues_every_run(tmp_path: Path, signals: Path) -> None:
    db = str(tmp_path / "sweeps.db")
    sweep_id = _program_sweep(db, points=2)
    agent = start_agent(
        sweep_id,
        db,
        tmp_path / "agent.log",
        extra=["--workers", "2", "--grace-period", "5"],
        new_session=True,
    )
    try:
        wait_for(
            lambda: len(list(signals.glob("pid-*"))) == 2, "both programs started", agents=[agent]
        )
        children = _pids(signals, "pid-*")
        _hang_up(agent)
        assert agent.wait(timeout=60) == 129, agent.output()
    finally:
        agent.kill()
    assert not any(alive(pid) for pid in children)
    assert HANGUP_MESSAGE.format("2 runs were") in agent.output()
    no_traceback_of_ours(agent.output())
    runs = localsweep.Api(db).sweep(sweep_id).runs
    assert sorted(r.state for r in runs) == ["preempted", "preempted"]

    again = start_agent(sweep_id, db, tmp_path / "again.log")
    assert again.wait() == 0, again.output()
    _assert_program_resumed_once(db, sweep_id, signals)


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_a_hung_up_agent_requeues_its_function_run(
    isolation: str, tmp_path: Path, signals: Path
) -> None:
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(grid(1), db=db)
    extra = ["--isolation", isolation, "--grace-period", "5"]
    function = "faults_train:until_released"
    agent = start_agent(
        sweep_id, db, tmp_path / "agent.log", function=function, extra=extra, new_session=True
    )
    try:
        wait_for(lambda: any(signals.glob("started-*")), "the run started", agents=[agent])
        (pid,) = _pids(signals, "started-*")

        def rows_stored() -> int:
            return sum(len(r.history()) for r in localsweep.Api(db).sweep(sweep_id).runs)

        wait_for(lambda: rows_stored() > 0, "a logged row in the store", agents=[agent])
        before = rows_stored()
        _hang_up(agent)
        assert agent.wait(timeout=60) == 129, agent.output()
    finally:
        agent.kill()
    if isolation == "process":
        assert not alive(pid), "the run's process outlived its agent"
    assert HANGUP_MESSAGE.format("1 run was") in agent.output()
    if isolation == "thread":
        # localsweep's own stop, raised in the code: wandb finishes the run, prints nothing.
        assert "Traceback" not in agent.output(), agent.output()
    else:
        # The run's process got SIGINT, as a program does (it may checkpoint on it): the
        # only traceback is that KeyboardInterrupt's, which wandb prints where it landed
        # (in the code, or in wandb's log through localsweep's hook); no error of ours.
        assert _raised(agent.output()) == ["KeyboardInterrupt"], agent.output()
    (requeued,) = localsweep.Api(db).sweep(sweep_id).runs
    assert (requeued.state, requeued.end_reason) == ("preempted", "preempted")
    assert len(requeued.history()) >= before  # the rows logged before the hangup are kept
    # wandb's file says the run did not finish (W&B would show a 0 as a finished run).
    (run_file,) = tmp_path.glob(f"wandb/offline-run-*-{requeued.id}/run-{requeued.id}.wandb")
    assert scan_run_file(run_file).exit_code == 1

    (signals / "release").touch()
    again = start_agent(sweep_id, db, tmp_path / "again.log", function=function, extra=extra)
    assert again.wait() == 0, again.output()
    (run,) = localsweep.Api(db).sweep(sweep_id).runs
    assert (run.id, run.state, run.attempt) == (requeued.id, "finished", 2)


def test_an_agent_under_nohup_ignores_the_hangup(tmp_path: Path, signals: Path) -> None:
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(grid(1), db=db)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(PROGRAMS), env.get("PYTHONPATH", "")])
    argv = [sys.executable, "-m", "localsweep.cli", "agent", sweep_id, "--db", db]
    argv += ["--function", "faults_train:until_released"]
    log = tmp_path / "agent.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # What `nohup` does before it runs the command.
            preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN),
        )
    agent = Agent(process, log)
    try:
        wait_for(lambda: any(signals.glob("started-*")), "the run started", agents=[agent])
        _hang_up(agent)  # ignored: discarded as it is sent
        (signals / "release").touch()
        assert agent.wait(timeout=DEADLINE) == 0, agent.output()
    finally:
        agent.kill()
    (run,) = localsweep.Api(db).sweep(sweep_id).runs
    assert (run.state, run.attempt) == ("finished", 1)
