"""``localsweep show`` of an Optuna sweep (real wandb offline, the CLI in a subprocess): a
conditional parameter a run did not get is an empty cell (a value the run got as None is
``null``), and a run the study's pruner stopped reads ``early_terminated (pruned @STEP)``,
not hyperband's ``@BAND``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import localsweep

STUDY = """
import optuna


class SecondValue(optuna.pruners.BasePruner):
    # Prunes every trial at its second reported value (step 1).
    def prune(self, study, trial):
        return len(trial.intermediate_values) >= 2


def make_study():
    return optuna.create_study(pruner=SecondValue())


def space(trial):
    # Only sgd gets a momentum; every run gets `tag` as None. With the seed the first two
    # runs draw lr 0.057 (sgd) and 0.036 (adam).
    config = {"lr": trial.suggest_float("lr", 0.01, 0.1), "tag": None}
    if config["lr"] > 0.05:
        config["opt"] = "sgd"
        config["momentum"] = trial.suggest_float("momentum", 0.5, 0.9)
    else:
        config["opt"] = "adam"
    return config
"""


@pytest.fixture
def shown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    import wandb

    (tmp_path / "study.py").write_text(STUDY, encoding="utf-8")
    config = {
        "method": "custom",
        "metric": {"name": "loss", "goal": "minimize"},
        "scheduler": {
            "engine": "optuna",
            "source": "study.py",
            "optimizer": "make_study",
            "search_space": "space",
        },
        "localsweep": {"seed": 1},
    }
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")

    def train() -> None:
        with wandb.init() as run:
            for step in range(4):
                run.log({"loss": run.config["lr"] + step})

    for key, value in {"WANDB_MODE": "offline", "WANDB_SILENT": "true"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    sweep = localsweep.run(tmp_path / "sweep.yaml", train, count=2, db=tmp_path / "s.db")
    proc = subprocess.run(
        [sys.executable, "-m", "localsweep", "show", sweep.id, "--db", str(tmp_path / "s.db")],
        cwd=tmp_path,
        env=dict(os.environ, COLUMNS="200"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _line(shown: str, word: str) -> str:
    return next(line for line in shown.splitlines() if f" {word} " in line)


def test_a_parameter_a_run_did_not_get_is_blank_not_null(shown: str) -> None:
    # `tag` (None for every run) is `null` in both rows; momentum (sgd's only) in neither.
    assert _line(shown, "adam").count("null") == 1, shown
    assert _line(shown, "sgd").count("null") == 1, shown
    assert "0.8698" in _line(shown, "sgd")


def test_a_run_the_pruner_stopped_says_pruned_and_its_step(shown: str) -> None:
    for word in ("adam", "sgd"):
        assert "early_terminated (pruned @1)" in _line(shown, word), shown
