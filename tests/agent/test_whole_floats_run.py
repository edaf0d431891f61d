"""Whole-number floats reach a run as ints, as through W&B's server: ``values: [2.0, 3.0]``
gives ``--epochs=2`` and ``wandb.config.epochs == 2``, and the store keeps the same."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import localsweep
from localsweep.records import RunState
from localsweep.store import Store

PROGRAM = """\
import argparse, ast, json, sys
import wandb

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, required=True)
parser.add_argument("--lr", type=float, required=True)
parser.add_argument("--opt", type=ast.literal_eval, required=True)
parser.add_argument("--json", type=json.loads, required=True)
args = parser.parse_args()
with wandb.init() as run:
    for e in range(run.config.epochs):
        run.log({"loss": args.lr / (e + 1)})
    run.summary["argv"] = sys.argv[1:]
    run.summary["json"] = args.json
    run.summary["types"] = {k: type(v).__name__ for k, v in run.config.items()}
"""

FUNCTIONS = """\
import sys
import wandb


def train():
    with wandb.init() as run:
        for e in range(run.config.epochs):  # a float would raise TypeError here
            run.log({"loss": run.config.lr / (e + 1)})
        run.summary["types"] = {k: type(v).__name__ for k, v in run.config.items()}
        run.summary["steps"] = run.config.opt["steps"]
        run.summary["step_types"] = [type(v).__name__ for v in run.config.opt["steps"]]
"""

CONFIG: dict[str, Any] = {
    "method": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {
        "epochs": {"values": [2.0, 1e2]},
        "lr": {"values": [0.5]},
        "opt": {"value": {"steps": [1.0, 2.5], "big": 1e21}},
    },
}


@pytest.fixture
def user_module(offline: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``whole_floats_user.train``, importable here and in a run's own process."""
    (offline / "whole_floats_user.py").write_text(FUNCTIONS)
    monkeypatch.syspath_prepend(str(offline))
    import whole_floats_user

    yield whole_floats_user
    sys.modules.pop("whole_floats_user", None)


def test_program_gets_whole_floats_as_ints_in_its_argv_and_wandb_config(
    store: Store, offline: Path
) -> None:
    (offline / "train.py").write_text(PROGRAM)
    config = {
        **CONFIG,
        "program": "train.py",
        "command": ["${env}", "${interpreter}", "${program}", "${args}", "--json", "${args_json}"],
    }
    config["parameters"] = {**CONFIG["parameters"], "epochs": {"values": [2.0]}}
    sweep_id = localsweep.sweep(config, db=store.url)
    localsweep.agent(sweep_id, db=store.url, quiet=True)
    [run] = store.list_runs(sweep_id)
    assert run.state is RunState.FINISHED, run.error
    assert run.summary["argv"] == [
        "--epochs=2",
        "--lr=0.5",
        "--opt={'big': 1e+21, 'steps': [1, 2.5]}",
        "--json",
        '{"epochs": 2, "lr": 0.5, "opt": {"big": 1e+21, "steps": [1, 2.5]}}',
    ]
    assert run.summary["types"] == {"epochs": "int", "lr": "float", "opt": "dict"}
    assert run.config == {"epochs": 2, "lr": 0.5, "opt": {"steps": [1, 2.5], "big": 1e21}}
    assert type(run.config["epochs"]) is int
    assert type(run.config["opt"]["big"]) is float  # Go writes 1e21 as 1e+21: a float


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_function_gets_whole_floats_as_ints_in_wandb_config(
    store: Store, user_module: Any, isolation: str
) -> None:
    sweep_id = localsweep.sweep(CONFIG, db=store.url)
    report = localsweep.agent(
        sweep_id, function=user_module.train, db=store.url, isolation=isolation, quiet=True
    )
    assert report.states == {"finished": 2}
    runs = store.list_runs(sweep_id)
    assert [r.config["epochs"] for r in runs] == [2, 100]
    for run in runs:
        assert run.summary["types"] == {"epochs": "int", "lr": "float", "opt": "dict"}
        assert run.summary["step_types"] == ["int", "float"]
        assert type(run.config["epochs"]) is int


def test_show_the_api_and_the_export_give_the_int_the_run_got(
    store: Store, user_module: Any, offline: Path
) -> None:
    sweep_id = localsweep.sweep(CONFIG, db=store.url)
    localsweep.agent(sweep_id, function=user_module.train, db=store.url, count=1, quiet=True)
    [run] = localsweep.Api(store=store).sweep(sweep_id).runs
    assert run.config["epochs"] == 2 and type(run.config["epochs"]) is int
    exported = subprocess.run(
        [
            sys.executable,
            "-m",
            "localsweep.cli",
            "export",
            sweep_id,
            "--db",
            store.url,
            "--format",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    [row] = json.loads(exported[: exported.rindex("]") + 1])
    assert row["epochs"] == 2 and type(row["epochs"]) is int
    shown = subprocess.run(
        [sys.executable, "-m", "localsweep.cli", "show", sweep_id, "--db", store.url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "epochs" in shown and "2.0" not in shown
