"""A new sweep's project and entity are found as ``wandb sweep`` finds them (wandb 0.31,
``wandb/cli/cli.py``): the argument (``--project`` / ``-e``), then ``WANDB_PROJECT`` /
``WANDB_ENTITY``, then the config, then wandb's settings files, then (project only) the git
repository's name, else ``uncategorized``; for ``localsweep sweep``, ``localsweep run``,
``localsweep.sweep`` and ``localsweep.run`` alike, and the runs are filed under it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import wandb

import localsweep
from localsweep.wandb_bridge import sweep_entity, sweep_project

CONFIG = {
    "method": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"x": {"values": [1]}},
}


@pytest.fixture
def no_wandb_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No WANDB_PROJECT/ENTITY, and a global settings folder of the test's own."""
    for name in ("WANDB_PROJECT", "WANDB_ENTITY"):
        monkeypatch.delenv(name, raising=False)
    config_dir = tmp_path / "wandb-config"
    config_dir.mkdir()
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(config_dir))
    return config_dir


def test_wandb_project_and_entity_name_the_python_apis_sweep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_wandb_settings: Path
) -> None:
    monkeypatch.setenv("WANDB_PROJECT", "from-env")
    monkeypatch.setenv("WANDB_ENTITY", "team-env")
    db = str(tmp_path / "s.db")
    sweep = localsweep.Api(db).sweep(localsweep.sweep(CONFIG, db=db))
    assert (sweep.project, sweep.entity) == ("from-env", "team-env")
    # The argument beats the environment, as --project does for `wandb sweep`.
    other = localsweep.Api(db).sweep(localsweep.sweep(CONFIG, project="arg", entity="e", db=db))
    assert (other.project, other.entity) == ("arg", "e")


def test_localsweep_run_files_its_runs_under_wandb_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_wandb_settings: Path
) -> None:
    from localsweep.wandb_bridge._datastore import wait_for_exit_record

    monkeypatch.setenv("WANDB_PROJECT", "from-env")

    def train() -> None:
        with wandb.init() as run:
            run.log({"loss": run.config.x})

    sweep = localsweep.run(CONFIG, train, db=tmp_path / "s.db", quiet=True)
    assert sweep.project == "from-env"
    (run,) = sweep.runs
    assert run.dir is not None
    summary = wait_for_exit_record(Path(run.dir) / f"run-{run.id}.wandb", timeout=60)
    assert summary.project == "from-env"


def test_the_environment_beats_the_config_which_beats_the_settings_files(
    tmp_path: Path, no_wandb_settings: Path
) -> None:
    (no_wandb_settings / "settings").write_text("[default]\nproject = global\nentity = g\n")
    env = {"WANDB_CONFIG_DIR": str(no_wandb_settings)}
    assert sweep_project(None, None, None, environ=env, cwd=tmp_path) == "global"
    assert sweep_entity(None, None, environ=env, cwd=tmp_path) == "g"
    # The workspace file (wandb/settings here) beats the global one.
    (tmp_path / "wandb").mkdir()
    (tmp_path / "wandb" / "settings").write_text("[default]\nmode = offline\nproject = here\n")
    assert sweep_project(None, None, None, environ=env, cwd=tmp_path) == "here"
    assert sweep_project(None, "cfg", None, environ=env, cwd=tmp_path) == "cfg"
    assert sweep_entity(None, "cfg-e", environ=env, cwd=tmp_path) == "cfg-e"
    env["WANDB_PROJECT"], env["WANDB_ENTITY"] = "env", "env-e"
    assert sweep_project(None, "cfg", None, environ=env, cwd=tmp_path) == "env"
    assert sweep_entity(None, "cfg-e", environ=env, cwd=tmp_path) == "env-e"
    assert sweep_project("arg", "cfg", None, environ=env, cwd=tmp_path) == "arg"


def test_without_any_the_project_is_the_git_repositorys_name_as_wandb_names_it(
    tmp_path: Path, no_wandb_settings: Path
) -> None:
    env = {"WANDB_CONFIG_DIR": str(no_wandb_settings)}
    assert sweep_project(None, None, "train.py", environ=env, cwd=tmp_path) is None
    repo = tmp_path / "myrepo"
    (repo / "sub" / "dir").mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    assert sweep_project(None, None, None, environ=env, cwd=repo) == "myrepo"
    assert sweep_project(None, None, "train.py", environ=env, cwd=repo) == "myrepo"
    assert sweep_project(None, None, "sub/dir/t.py", environ=env, cwd=repo) == "myrepo-sub_dir"
    assert sweep_project(None, None, "t.py", environ=env, cwd=repo / "sub") == "myrepo-sub"
    # wandb's own function gives the same names.
    from wandb.util import auto_project_name

    os.chdir(repo)
    assert auto_project_name("sub/dir/t.py") == "myrepo-sub_dir"
    assert auto_project_name(None) == "myrepo"


@pytest.mark.slow
@pytest.mark.parametrize("command", ["sweep", "run"])
def test_the_cli_takes_wandb_project_and_entity(
    tmp_path: Path, no_wandb_settings: Path, command: str
) -> None:
    (tmp_path / "sweep.yaml").write_text(
        "program: train.py\nmethod: grid\nmetric: {name: loss}\nparameters:\n  x: {values: [1]}\n"
    )
    (tmp_path / "train.py").write_text(
        "import wandb\nwith wandb.init() as run:\n    run.log({'loss': run.config.x})\n"
    )
    env = {**os.environ, "WANDB_PROJECT": "from-env", "WANDB_ENTITY": "team-env"}
    db = str(tmp_path / "s.db")
    done = subprocess.run(
        [sys.executable, "-m", "localsweep", command, "sweep.yaml", "--db", db],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    (sweep,) = localsweep.Api(db).sweeps()
    assert (sweep.project, sweep.entity) == ("from-env", "team-env")
    dry = subprocess.run(
        [sys.executable, "-m", "localsweep", "sync", sweep.id, "--db", db, "--dry-run"],
        env={**env, "WANDB_PROJECT": "", "WANDB_ENTITY": "", "COLUMNS": "300"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert dry.returncode == 0, dry.stderr
    assert "from-env" in dry.stdout and "uncategorized" not in dry.stdout
