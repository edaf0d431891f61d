"""After Ctrl-C the agent says how to go on with the sweep: with a ``count``, the runs left
of it (the runs this agent recorded count, whatever their end; the ones Ctrl-C interrupted
do not, as the agent counts them), and the isolation when not the default. Followed as
printed, a random sweep runs exactly the runs left, each in its own process."""

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
from localsweep._hints import go_on_hint

pytestmark = pytest.mark.slow

RANDOM = {
    "method": "random",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"x": {"min": 0.0, "max": 1.0}},
}


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(PROGRAMS), env.get("PYTHONPATH", "")])
    return env


def _interrupted(argv: list[str], log: Path, signals: Path) -> str:
    """Start ``argv``, Ctrl-C it once its second run waits; what it said, on one line."""
    with log.open("wb") as out:
        process = subprocess.Popen(argv, env=_env(), stdout=out, stderr=subprocess.STDOUT)
    agent = Agent(process, log)
    try:
        wait_for(lambda: any(signals.glob("started-*")), "a second run started", agents=[agent])
        os.kill(agent.pid, signal.SIGINT)
        assert agent.wait() == 130, agent.output()
    finally:
        agent.kill()
    return " ".join(agent.output().split())  # the terminal may fold the line


def _runs(db: Path, sweep_id: str) -> list[localsweep.api.Run]:
    return list(localsweep.Api(str(db)).sweep(sweep_id).runs)


def _states(db: Path, sweep_id: str) -> list[str]:
    return sorted(r.state for r in _runs(db, sweep_id))


def _went_on(db: Path, sweep_id: str, before: set[str]) -> list[localsweep.api.Run]:
    return [r for r in _runs(db, sweep_id) if r.id not in before]


def test_the_command_printed_on_ctrl_c_runs_the_runs_left_of_the_count_isolated(
    offline: Path, signals: Path
) -> None:
    """`localsweep run random.yaml --count 3 --isolation process`: one run finished, Ctrl-C
    in the second. The command printed has `--count 2` and `--isolation process`; run as
    printed, it runs 2 more runs, each in a process of its own, and stops."""
    (offline / "random.yaml").write_text(
        "method: random\nmetric: {name: loss, goal: minimize}\n"
        "parameters:\n  x: {min: 0.0, max: 1.0}\n"
    )
    argv = [sys.executable, "-m", "localsweep", "run", "random.yaml", "--db", "r.db"]
    argv += ["-f", "go_on_train:first_finishes", "--count", "3", "--isolation", "process"]
    said = _interrupted(argv, offline / "run.log", signals)
    found = re.search(r"Sweep (ls-\w+) goes on with `([^`]+)`", said)
    assert found, said
    sweep_id, command = found.groups()
    assert command == (
        "localsweep agent --db r.db --function go_on_train:first_finishes "
        f"--count 2 --isolation process {sweep_id}"
    )
    db = offline / "r.db"
    assert _states(db, sweep_id) == ["finished", "killed"]
    before = {r.id for r in _runs(db, sweep_id)}

    (signals / "release").touch()
    again = subprocess.run(
        [sys.executable, "-m", *shlex.split(command)], env=_env(), capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr
    new = _went_on(db, sweep_id, before)
    assert sorted(r.state for r in new) == ["finished", "finished"]
    # Each in its own process, as the sweep's runs started: not in the agent's one.
    assert len({r.summary["pid"] for r in new}) == 2


def test_the_python_call_said_on_ctrl_c_runs_the_runs_left_of_the_count_isolated(
    offline: Path, signals: Path
) -> None:
    """`localsweep.run(cfg, train, count=3, isolation="process")`, Ctrl-C in its second run:
    the AgentInterrupted's call has `count=2` and `isolation='process'`, and run as shown it
    runs 2 more runs, each in its own process."""
    script = offline / "go_on.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import localsweep
            from go_on_train import first_finishes

            if __name__ == "__main__":
                try:
                    localsweep.run(
                        {RANDOM!r}, first_finishes, count=3, db="p.db", isolation="process",
                        quiet=True,
                    )
                except KeyboardInterrupt as exc:
                    print("SAID", exc, flush=True)
                    raise SystemExit(130)
            """
        )
    )
    said = _interrupted([sys.executable, str(script)], offline / "p.log", signals)
    found = re.search(r"SAID .*Sweep (ls-\w+) goes on with `([^`]+)` \(Python: (.*)\)\.", said)
    assert found, said
    sweep_id, command, call = found.groups()
    assert command.endswith(f" --count 2 --isolation process {sweep_id}"), command
    assert call == (
        f"localsweep.agent({sweep_id!r}, first_finishes, count=2, db='p.db', isolation='process')"
    )
    db = offline / "p.db"
    before = {r.id for r in _runs(db, sweep_id)}

    (signals / "release").touch()
    follow = offline / "follow.py"
    follow.write_text(
        f'import localsweep\nfrom go_on_train import first_finishes\n\nif __name__ == "__main__":\n'
        f"    {call}\n"
    )
    again = subprocess.run(
        [sys.executable, str(follow)], env=_env(), capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr
    new = _went_on(db, sweep_id, before)
    assert sorted(r.state for r in new) == ["finished", "finished"]
    assert len({r.summary["pid"] for r in new}) == 2


def test_without_a_count_or_with_the_default_isolation_the_hint_names_neither() -> None:
    said = go_on_hint("ls-x", "g.db", "m:train", isolation="thread")
    assert said == (
        "Sweep ls-x goes on with `localsweep agent --db g.db --function m:train ls-x` "
        "(Python: localsweep.agent('ls-x', train, db='g.db'))."
    )
    # A program sweep's runs are processes anyway: no --isolation for it.
    assert "isolation" not in go_on_hint("ls-x", "g.db", None, count=2, isolation="process")


def test_a_count_used_up_is_said_so_and_not_given_as_zero() -> None:
    said = go_on_hint("ls-x", None, "m:train", count=0)
    assert said.startswith("Sweep ls-x ran the runs of its count; more go on with ")
    assert "--count" not in said and "count=" not in said
