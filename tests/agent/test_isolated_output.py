"""isolation="process": the run's output (its prints, wandb's lines) reaches the agent's
stdout and stderr as it comes, as a function's prints do under wandb.agent and a program's
under program mode, and is kept in the run's .out and .err files; with several workers each
line names its run. A failure's traceback is shown once."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from faults_support import PROGRAMS, Agent, wait_for

import localsweep

sys.path.insert(0, str(Path(__file__).parents[1] / "helpers"))
from cli_process import cli_at

pytestmark = pytest.mark.slow


def _start(tmp: Path, *extra: str, values: str) -> tuple[Agent, Path]:
    """`localsweep run` of a grid over ``values`` with go_on_train:prints_then_waits,
    isolated; its stdout in one file, its stderr in another."""
    (tmp / "g.yaml").write_text(
        f"method: grid\nmetric: {{name: loss}}\nparameters:\n  x: {{values: {values}}}\n"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(PROGRAMS), env.get("PYTHONPATH", "")])
    argv = [sys.executable, "-m", "localsweep", "run", "g.yaml", "--db", "s.db"]
    argv += ["-f", "go_on_train:prints_then_waits", "--isolation", "process", *extra]
    stdout = tmp / "agent.out"
    with stdout.open("wb") as out, (tmp / "agent.err").open("wb") as err:
        process = subprocess.Popen(argv, env=env, stdout=out, stderr=err)
    return Agent(process, tmp / "agent.err"), stdout


def test_an_isolated_runs_print_reaches_the_agents_stdout_while_it_runs(
    offline: Path, signals: Path
) -> None:
    agent, stdout = _start(offline, values="[1]")
    try:
        # Shown while the run still runs (it waits for this test to release it).
        wait_for(lambda: "hello-from-1\n" in stdout.read_text(), "the print shown", agents=[agent])
        (signals / "release").touch()
        assert agent.wait() == 0, agent.output()
    finally:
        agent.kill()
    (run,) = localsweep.Api(offline / "s.db").sweeps()[0].runs
    assert run.state == "finished"
    shown = stdout.read_text()
    assert shown.count("hello-from-1") == 1 and f"{run.id} | " not in shown, shown
    assert run.stdout_path is not None
    assert "hello-from-1\n" in Path(run.stdout_path).read_text()


def test_with_two_workers_each_line_names_its_run(offline: Path, signals: Path) -> None:
    (signals / "release").touch()
    agent, stdout = _start(offline, "--workers", "2", values="[1, 2]")
    try:
        assert agent.wait() == 0, agent.output()
    finally:
        agent.kill()
    runs = localsweep.Api(offline / "s.db").sweeps()[0].runs
    shown = stdout.read_text()
    for run in runs:
        assert f"{run.id} | hello-from-{run.config['x']}\n" in shown, shown
        assert run.stdout_path is not None
        assert f"hello-from-{run.config['x']}\n" in Path(run.stdout_path).read_text()


def test_an_isolated_runs_traceback_shows_once(offline: Path) -> None:
    (offline / "t.py").write_text(
        "import wandb\n\ndef train():\n    with wandb.init():\n"
        "        raise RuntimeError('broken on purpose')\n\n"
        "def plain():\n    wandb.init()\n    raise RuntimeError('broken on purpose')\n\n"
        "def bare(config):\n    raise RuntimeError('broken on purpose')\n"
    )
    (offline / "g.yaml").write_text("method: grid\nparameters:\n  x: {values: [1]}\n")
    for function in ("t:train", "t:plain", "t:bare"):
        sweep_id = cli_at(offline, "sweep", "g.yaml", "--db", "s.db").stdout.strip()
        proc = cli_at(
            offline, "agent", sweep_id, "--db", "s.db", "-f", function, "--isolation", "process"
        )
        said = proc.stdout + proc.stderr
        assert said.count("raise RuntimeError('broken on purpose')") == 1, (function, said)
        assert "RuntimeError: broken on purpose" in said
        (run,) = localsweep.Api(offline / "s.db").sweep(sweep_id).runs
        assert run.state == "failed"
        # Kept in the run's .err file too.
        assert run.stderr_path is not None
        assert "broken on purpose" in Path(run.stderr_path).read_text(), function
