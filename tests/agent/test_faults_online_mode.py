"""Nothing leaves the machine, even when the training code asks for online mode: an explicit
``wandb.init(mode="online")`` (or ``settings=`` with a mode) beats ``WANDB_MODE`` and wandb's
settings file, so localsweep makes ``wandb.init`` itself offline, in function mode (in the
agent's process) and in program mode (in the child, through the ``sitecustomize`` it puts
first on the child's ``PYTHONPATH``). A wandb login is set up (``WANDB_API_KEY``) and
``WANDB_BASE_URL`` points at an unused loopback port, so nothing could leave anyway: without
the fix, each run fails trying to reach it."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
from faults_support import PROGRAMS, grid, start_agent

import localsweep

pytestmark = pytest.mark.slow


def _unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def logged_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A login to a W&B server that cannot be reached: the environment for the agent."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("WANDB_CONFIG_DIR", "NETRC", "WANDB_MODE", "WANDB_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return {
        "WANDB_API_KEY": "k" * 40,
        "WANDB_BASE_URL": f"http://127.0.0.1:{_unused_port()}",
        "WANDB_SILENT": "true",
        "WANDB_DISABLE_GIT": "true",
    }


def _check(
    tmp_path: Path, db: str, sweep_id: str, output: str, asked: str, *, how: str = ""
) -> None:
    runs = localsweep.Api(db).sweep(sweep_id).runs
    assert sorted(r.state for r in runs) == ["finished", "finished"], output
    assert sorted(r.summary["loss"] for r in runs) == [0.0, 1.0]
    assert [p.read_text() for p in sorted(tmp_path.glob("mode-*.txt"))] == ["offline"] * 2
    assert len(list((tmp_path / "wandb").glob("offline-run-*"))) == 2
    assert not list((tmp_path / "wandb").glob("run-*"))
    # One warning for the sweep, naming what was asked and what happens instead.
    how = how or f"calls wandb.init with mode={asked!r}"
    warning = f"{how}; localsweep runs every run of sweep"
    assert output.count(warning) == 1, output
    assert output.count(f"{asked!r}") == 1, output
    assert "localsweep sync" in output


@pytest.mark.parametrize("ask", ["mode", "settings", "dict", "shared"])
def test_a_function_asking_for_online_mode_runs_offline(
    tmp_path: Path, logged_in: dict[str, str], ask: str
) -> None:
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(grid(2), db=db)
    agent = start_agent(
        sweep_id,
        db,
        tmp_path / "agent.log",
        function="online_mode:train",
        env={**logged_in, "ASK": ask},
    )
    assert agent.wait() == 0, agent.output()
    _check(tmp_path, db, sweep_id, agent.output(), "shared" if ask == "shared" else "online")


def test_a_train_config_function_starting_its_own_online_run_stays_offline(
    tmp_path: Path, logged_in: dict[str, str]
) -> None:
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(grid(2), db=db)
    function = "online_mode:train_with_config"
    agent = start_agent(sweep_id, db, tmp_path / "agent.log", function=function, env=logged_in)
    assert agent.wait() == 0, agent.output()
    _check(tmp_path, db, sweep_id, agent.output(), "online")


@pytest.mark.parametrize("ask", ["mode", "settings"])
def test_a_program_asking_for_online_mode_runs_offline(
    tmp_path: Path, logged_in: dict[str, str], ask: str
) -> None:
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(grid(2, program=str(PROGRAMS / "online_mode.py")), db=db)
    agent = start_agent(sweep_id, db, tmp_path / "agent.log", env={**logged_in, "ASK": ask})
    assert agent.wait() == 0, agent.output()
    _check(tmp_path, db, sweep_id, agent.output(), "online")


@pytest.mark.parametrize("mode", ["online", "run"])
def test_a_program_setting_wandb_mode_online_itself_runs_offline(
    tmp_path: Path, logged_in: dict[str, str], mode: str
) -> None:
    """``os.environ["WANDB_MODE"] = "online"`` before a bare ``wandb.init()`` (a
    ``--wandb_mode`` option's default) does not take the run online."""
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(grid(2, program=str(PROGRAMS / "env_online.py")), db=db)
    agent = start_agent(sweep_id, db, tmp_path / "agent.log", env={**logged_in, "SET_MODE": mode})
    assert agent.wait() == 0, agent.output()
    how = f"sets WANDB_MODE={mode!r} before wandb.init"
    _check(tmp_path, db, sweep_id, agent.output(), mode, how=how)


def test_a_function_setting_wandb_mode_online_itself_runs_offline(
    tmp_path: Path, logged_in: dict[str, str]
) -> None:
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(grid(2), db=db)
    agent = start_agent(
        sweep_id, db, tmp_path / "agent.log", function="env_online:train", env=logged_in
    )
    assert agent.wait() == 0, agent.output()
    how = "sets WANDB_MODE='online' before wandb.init"
    _check(tmp_path, db, sweep_id, agent.output(), "online", how=how)


def test_a_program_keeps_its_own_sitecustomize(tmp_path: Path, logged_in: dict[str, str]) -> None:
    """The user's ``sitecustomize`` (on their ``PYTHONPATH``) still runs in the child."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(
        "import pathlib\npathlib.Path('user-sitecustomize-ran').write_text('yes')\n"
    )
    path = os.environ.get("PYTHONPATH", "")
    db = str(tmp_path / "sweeps.db")
    config = grid(2, program=str(PROGRAMS / "online_mode.py"))
    sweep_id = localsweep.sweep(config, db=db)
    agent = start_agent(
        sweep_id,
        db,
        tmp_path / "agent.log",
        env={**logged_in, "ASK": "mode", "PYTHONPATH": os.pathsep.join([str(site), path])},
    )
    assert agent.wait() == 0, agent.output()
    assert (tmp_path / "user-sitecustomize-ran").read_text() == "yes"
    _check(tmp_path, db, sweep_id, agent.output(), "online")


def test_a_process_that_escapes_the_hook_fails_saying_why_and_the_fix(
    tmp_path: Path, logged_in: dict[str, str]
) -> None:
    """``python -I`` ignores ``PYTHONPATH``, so its ``wandb.init(mode="online")`` is wandb's
    own; without a login it fails at once, having sent nothing, and the run's error (its end
    line, its last) names the cause and the fix."""
    env = {k: v for k, v in logged_in.items() if k != "WANDB_API_KEY"}
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(grid(1, program=str(PROGRAMS / "online_escape.py")), db=db)
    agent = start_agent(sweep_id, db, tmp_path / "agent.log", env=env)
    agent.wait()
    (run,) = localsweep.Api(db).sweep(sweep_id).runs
    assert run.state == "failed"
    last = (run.error or "").splitlines()[-1]
    assert 'mode="online"' in last and 'mode=os.environ.get("WANDB_MODE")' in last, run.error
    assert "python -S, -I or -E" in last and "without the run's PYTHONPATH" in last
    assert 'mode=os.environ.get("WANDB_MODE")' in agent.output()
