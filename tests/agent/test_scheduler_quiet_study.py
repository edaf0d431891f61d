"""The study a user's ``optimizer()`` creates does not print Optuna's "A new study created
in memory" line: not in the agent, not in the child of a ``--isolation process`` run, not
with a ``program``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

STUDY = """
import optuna


def make_study():
    return optuna.create_study(
        direction="minimize",
        sampler=optuna.samplers.RandomSampler(seed=1),
        pruner=optuna.pruners.MedianPruner(),
    )
"""

TRAIN = """
import wandb


def train():
    with wandb.init() as run:
        for step in range(2):
            run.log({"loss": run.config["x"] + step})


if __name__ == "__main__":
    train()
"""


def write_sweep(folder: Path, program: bool) -> Path:
    (folder / "study.py").write_text(STUDY, encoding="utf-8")
    (folder / "train.py").write_text(TRAIN, encoding="utf-8")
    config = {
        "method": "custom",
        "metric": {"name": "loss", "goal": "minimize"},
        "scheduler": {"engine": "optuna", "source": "study.py", "optimizer": "make_study"},
        "parameters": {"x": {"min": 0.0, "max": 1.0}},
    }
    if program:
        config["program"] = "train.py"
    path = folder / "opt.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "how",
    [
        ["--function", "train:train"],
        ["--function", "train:train", "--isolation", "process"],
        [],  # the config's program
    ],
    ids=["thread", "process", "program"],
)
def test_no_study_created_line(tmp_path: Path, how: list[str]) -> None:
    path = write_sweep(tmp_path, program=not how)
    env = dict(os.environ, WANDB_MODE="offline", WANDB_SILENT="true", WANDB_DIR=str(tmp_path))
    db = str(tmp_path / "s.db")
    proc = subprocess.run(
        [sys.executable, "-m", "localsweep", "run", str(path), "--count", "1", *how, "--db", db],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    assert "finished" in proc.stderr + proc.stdout
    assert "A new study created" not in proc.stderr + proc.stdout
