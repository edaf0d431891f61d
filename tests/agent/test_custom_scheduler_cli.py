"""``method: custom`` sweeps through the CLI in a subprocess, as users start them: the
docs' ``search_space``-only config (no ``parameters``) runs, and ``localsweep run`` leaves
no sweep behind when its agent cannot start."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from localsweep.store import Store

TRAIN = """
import wandb


def train():
    with wandb.init() as run:
        lr = run.config["lr"]
        run.log({"loss": lr * 10})
"""

SPACE = """
def space(trial):
    opt = trial.suggest_categorical("optimizer", ["adam", "sgd"])
    config = {"optimizer": {"name": opt}, "lr": trial.suggest_float("lr", 1e-5, 1e-1, log=True)}
    if opt == "sgd":
        config["optimizer"]["momentum"] = trial.suggest_float("momentum", 0.0, 0.99)
    return config


def make_study():
    return 42
"""


def write_sweep(tmp_path: Path, scheduler: dict[str, str]) -> Path:
    # Not named `setup`: pytest 8.0 calls a module-level `setup` as nose's module setup.
    (tmp_path / "train.py").write_text(TRAIN, encoding="utf-8")
    (tmp_path / "study.py").write_text(textwrap.dedent(SPACE), encoding="utf-8")
    config = {
        "method": "custom",
        "metric": {"name": "loss", "goal": "minimize"},
        "scheduler": {"engine": "optuna", "source": "study.py", **scheduler},
        "localsweep": {"seed": 4},
    }
    path = tmp_path / "opt.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def localsweep_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.update(WANDB_MODE="offline", WANDB_SILENT="true", WANDB_DISABLE_GIT="true")
    env["WANDB_DIR"] = str(tmp_path)
    return subprocess.run(
        [sys.executable, "-m", "localsweep", *args, "--db", str(tmp_path / "s.db")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


def sweeps_in(tmp_path: Path) -> list[str]:
    store = Store(tmp_path / "s.db")
    try:
        return [s.id for s in store.list_sweeps()]
    finally:
        store.close()


def test_a_search_space_sweep_runs_from_the_run_and_agent_commands(tmp_path: Path) -> None:
    write_sweep(tmp_path, {"search_space": "space"})

    ran = localsweep_cli(tmp_path, "run", "opt.yaml", "--function", "train:train", "--count", "2")
    assert ran.returncode == 0, ran.stderr
    (sweep_id,) = sweeps_in(tmp_path)
    agent = localsweep_cli(tmp_path, "agent", sweep_id, "--function", "train:train", "--count", "1")
    assert agent.returncode == 0, agent.stderr

    store = Store(tmp_path / "s.db")
    try:
        runs = store.list_runs(sweep_id)
    finally:
        store.close()
    assert [r.state.value for r in runs] == ["finished"] * 3
    assert all("lr" in r.config and "optimizer" in r.config for r in runs)


def test_run_leaves_no_sweep_behind_when_its_agent_cannot_start(tmp_path: Path) -> None:
    write_sweep(tmp_path, {"search_space": "space", "optimizer": "make_study"})

    ran = localsweep_cli(tmp_path, "run", "opt.yaml", "--function", "train:train", "--count", "2")

    assert ran.returncode == 2, ran.stderr
    assert "scheduler.optimizer" in ran.stderr and "Traceback" not in ran.stderr
    assert "Removed sweep" in ran.stderr
    assert sweeps_in(tmp_path) == []


def test_python_run_leaves_no_sweep_behind_when_its_agent_cannot_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import localsweep
    from localsweep.errors import ConfigError

    config = write_sweep(tmp_path, {"search_space": "space", "optimizer": "make_study"})
    monkeypatch.chdir(tmp_path)

    with pytest.raises(ConfigError, match=r"scheduler\.optimizer"):
        localsweep.run(str(config), lambda c: c["lr"], count=2, db=tmp_path / "s.db", quiet=True)

    assert sweeps_in(tmp_path) == []
    assert "Removed sweep" in caplog.text


BAD_SPACES = """
CALLS = []


def raises_on_third(trial):
    CALLS.append(1)
    lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
    if len(CALLS) == 3:
        raise KeyError("oops-in-space")
    return {"lr": lr}


def two_kinds(trial):
    lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
    trial.suggest_int("lr", 0, 10)
    return {"lr": lr}
"""


@pytest.mark.parametrize(
    ("space", "said", "line", "runs"),
    [
        ("raises_on_third", "raised KeyError: 'oops-in-space'", 9, 2),
        ("two_kinds", "raised ValueError: Cannot set different distribution kind", 15, 0),
    ],
)
def test_a_search_space_that_raises_is_said_as_the_config_field(
    tmp_path: Path, space: str, said: str, line: int, runs: int
) -> None:
    """The user's ``search_space`` raising (its own error, or Optuna's for a parameter
    named twice with two kinds) stops the agent with one message naming the field, the
    error and the user's line, exit 2; the runs before it are kept. It was a traceback
    through localsweep's and Optuna's code."""
    write_sweep(tmp_path, {"search_space": space})
    (tmp_path / "study.py").write_text(BAD_SPACES, encoding="utf-8")
    sweep = localsweep_cli(tmp_path, "sweep", "opt.yaml")
    assert sweep.returncode == 0, sweep.stderr
    (sweep_id,) = sweeps_in(tmp_path)
    agent = localsweep_cli(tmp_path, "agent", sweep_id, "--function", "train:train")
    assert agent.returncode == 2, agent.stderr
    assert "Traceback" not in agent.stderr
    assert "scheduler.search_space" in agent.stderr and said in agent.stderr
    assert f"study.py:{line}" in agent.stderr
    store = Store(tmp_path / "s.db")
    try:
        assert [r.state.value for r in store.list_runs(sweep_id)] == ["finished"] * runs
    finally:
        store.close()
