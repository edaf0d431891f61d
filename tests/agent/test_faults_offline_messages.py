"""What localsweep says about offline runs is true: a warning about ``WANDB_MODE=online``
blames where it came from (the shell the agent was started from, or the training code), and
a program-mode run whose ``wandb.init`` started a run of another id (its ``WANDB_*``
variables removed) says so, naming that run and its folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from faults_support import PROGRAMS, grid, start_agent

import localsweep

pytestmark = pytest.mark.slow


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A user's shell without a login (an empty ``HOME``), in ``tmp_path``."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in os.environ:
        if name.startswith("WANDB_") or name == "NETRC":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return {"WANDB_SILENT": "true", "WANDB_DISABLE_GIT": "true", "HERE": str(tmp_path)}


def _output(tmp_path: Path, agent_output: str) -> str:
    """The agent's output and its runs' stderr files (an isolated run's own warnings)."""
    return agent_output + "".join(p.read_text() for p in tmp_path.glob("wandb/sweep-*/*.err"))


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_wandb_mode_online_in_the_shell_is_not_blamed_on_the_training_code(
    tmp_path: Path, env: dict[str, str], isolation: str
) -> None:
    """``WANDB_MODE=online localsweep agent -f ...`` and a plain ``wandb.init()``: the run is
    offline, and nothing says the training code set ``WANDB_MODE`` (as in program mode, the
    run's processes get ``WANDB_MODE=offline``)."""
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(grid(1), db=db)
    agent = start_agent(
        sweep_id,
        db,
        tmp_path / "agent.log",
        function="offline_tree:train",
        extra=["--isolation", isolation],
        env={**env, "WANDB_MODE": "online", "CASE": "plain"},
    )
    assert agent.wait() == 0, agent.output()
    assert (tmp_path / "run-0.mode").read_text() == "offline"
    output = _output(tmp_path, agent.output())
    assert "the training code sets WANDB_MODE" not in output, output


def test_a_train_config_run_under_the_shells_wandb_mode_online_blames_no_code(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """A ``train(config)`` function's own ``wandb.init()`` under the shell's
    ``WANDB_MODE=online``: offline, as a sweep run is (the run holds the agent's
    environment offline), and nothing blames the training code."""
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(grid(1), db=db)
    agent = start_agent(
        sweep_id,
        db,
        tmp_path / "agent.log",
        function="offline_tree:train_config",
        env={**env, "WANDB_MODE": "online"},
    )
    assert agent.wait() == 0, agent.output()
    assert (tmp_path / "run-0.mode").read_text() == "offline"
    output = agent.output()
    assert "the training code" not in output, output


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_wandb_mode_online_set_by_the_training_code_is_not_blamed_on_the_shell(
    tmp_path: Path, env: dict[str, str], isolation: str
) -> None:
    """The training code sets ``WANDB_MODE=online`` and starts a ``spawn`` worker that
    calls ``wandb.init()``; the agent was started without any ``WANDB_MODE``. The worker's
    run is offline, and the warning names the training code, not "the environment
    localsweep was started with" (the worker's own start-up environment, which the code
    had set)."""
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(grid(1), db=db)
    agent = start_agent(
        sweep_id,
        db,
        tmp_path / "agent.log",
        function="offline_tree:train",
        extra=["--isolation", isolation],
        env={**env, "CASE": "spawn"},
    )
    assert agent.wait() == 0, agent.output()
    assert (tmp_path / "worker.mode").read_text() == "offline"
    output = _output(tmp_path, agent.output())
    assert "the training code sets WANDB_MODE='online'" in output, output
    assert "the environment localsweep was started with" not in output, output


def test_a_program_that_removes_the_wandb_variables_is_told_which_run_it_started(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """Its ``wandb.init`` starts a run of another id, offline, in the agent's own ``wandb``
    folder: the error names that run and its folder, and the removed variables, rather than
    blaming ``dir=`` or ``WANDB_DIR``."""
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(grid(1, program=str(PROGRAMS / "clears_wandb_env.py")), db=db)
    agent = start_agent(sweep_id, db, tmp_path / "agent.log", env=env)
    agent.wait()
    (run,) = localsweep.Api(db).sweep(sweep_id).runs
    (folder,) = (tmp_path / "wandb").glob("offline-run-*")
    other = folder.name.rsplit("-", 1)[-1]
    assert other != run.id
    assert run.state == "failed", agent.output()
    error = run.error or ""
    assert f"started run {other} in {folder.resolve()}, not run {run.id}" in error, error
    assert "WANDB_RUN_ID and WANDB_SWEEP_ID" in error
    assert "dir=" not in error and "WANDB_DIR" not in error
    assert "Traceback" not in agent.output()
