"""After Ctrl-C the agent says how to go on with the sweep; what it prints must work as
printed: the same database (``--db``, ``db=``) and, for a function sweep, the function."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from faults_support import PROGRAMS, Agent, wait_for

import localsweep

pytestmark = pytest.mark.slow

GRID = {
    "method": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"x": {"values": [0, 1]}},
}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(PROGRAMS), env.get("PYTHONPATH", "")])
    return env


def _start(argv: list[str], log: Path) -> Agent:
    with log.open("wb") as out:
        process = subprocess.Popen(argv, env=_env(), stdout=out, stderr=subprocess.STDOUT)
    return Agent(process, log)


def _interrupt(agent: Agent, signals: Path) -> str:
    try:
        wait_for(lambda: any(signals.glob("started-*")), "a run started", agents=[agent])
        os.kill(agent.pid, signal.SIGINT)
        assert agent.wait() == 130, agent.output()
    finally:
        agent.kill()
    return " ".join(agent.output().split())  # the terminal may fold the line


def _finished_points(db: Path, sweep_id: str) -> list[int]:
    runs = localsweep.Api(str(db)).sweep(sweep_id).runs
    return sorted(r.config["x"] for r in runs if r.state == "finished")


def test_the_command_printed_on_ctrl_c_goes_on_with_the_sweep(offline: Path, signals: Path) -> None:
    """`localsweep run grid.yaml -f MOD:FUNC --db g.db`, Ctrl-C: the printed command names
    g.db and the function, and running it as printed finishes the sweep."""
    (offline / "grid.yaml").write_text(
        "method: grid\nmetric: {name: loss, goal: minimize}\nparameters:\n  x: {values: [0, 1]}\n"
    )
    argv = [sys.executable, "-m", "localsweep", "run", "grid.yaml"]
    argv += ["-f", "faults_train:until_released", "--db", "g.db"]
    said = _interrupt(_start(argv, offline / "run.log"), signals)
    found = re.search(r"Sweep (ls-\w+) goes on with `([^`]+)`", said)
    assert found, said
    sweep_id, command = found.groups()
    assert command == (
        f"localsweep agent --db g.db --function faults_train:until_released {sweep_id}"
    )

    (signals / "release").touch()
    words = shlex.split(command)
    again = subprocess.run(
        [sys.executable, "-m", *words], env=_env(), capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr
    assert _finished_points(offline / "g.db", sweep_id) == [0, 1]


def test_the_python_call_said_on_ctrl_c_goes_on_with_the_sweep(
    offline: Path, signals: Path
) -> None:
    """`localsweep.run(cfg, train, db="ci.db")`, Ctrl-C: the AgentInterrupted's message
    names db="ci.db", the function (by its import path for the shell) and the runs left of
    run's count, and the call it shows, run as shown, finishes the sweep."""
    script = offline / "ci_run.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import localsweep
            from faults_train import until_released

            if __name__ == "__main__":
                try:
                    localsweep.run({GRID!r}, until_released, db="ci.db", quiet=True)
                except KeyboardInterrupt as exc:
                    print("SAID", exc, flush=True)
                    raise SystemExit(130)
            """
        )
    )
    said = _interrupt(_start([sys.executable, str(script)], offline / "ci.log"), signals)
    found = re.search(r"SAID .*Sweep (ls-\w+) goes on with `([^`]+)` \(Python: (.*)\)\.", said)
    assert found, said
    sweep_id, command, call = found.groups()
    # localsweep.run's count (10 by default): none of them ran, so 10 are left.
    assert command == (
        f"localsweep agent --db ci.db --function faults_train:until_released --count 10 {sweep_id}"
    )
    assert call == f"localsweep.agent({sweep_id!r}, until_released, count=10, db='ci.db')"

    (signals / "release").touch()
    code = f"import localsweep\nfrom faults_train import until_released\n{call}\n"
    again = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert _finished_points(offline / "ci.db", sweep_id) == [0, 1]
