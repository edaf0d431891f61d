"""A sweep whose space is a define-by-run ``search_space`` (no ``parameters:``): its
parameters are the keys its runs got, by dotted name, in ``export``, ``show`` and the
report, as they are for a ``parameters:`` sweep."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import localsweep
from localsweep.report import export_optuna, export_runs, write_report

SPACE = """
def space(trial):
    opt = trial.suggest_categorical("optimizer", ["adam", "sgd"])
    config = {"optimizer": {"name": opt}, "lr": trial.suggest_float("lr", 1e-5, 1e-1, log=True)}
    if opt == "sgd":
        config["optimizer"]["momentum"] = trial.suggest_float("momentum", 0.0, 0.99)
    return config
"""

NAMES = ["lr", "optimizer.momentum", "optimizer.name"]


def train(config: dict[str, Any]) -> float:
    return float(config["lr"]) * (2 if config["optimizer"]["name"] == "sgd" else 1)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("space")


@pytest.fixture(scope="module")
def sweep(folder: Path) -> localsweep.Sweep:
    tmp = folder
    (tmp / "study.py").write_text(SPACE, encoding="utf-8")
    config = {
        "method": "custom",
        "metric": {"name": "loss", "goal": "minimize"},
        "scheduler": {"engine": "optuna", "source": "study.py", "search_space": "space"},
        "localsweep": {"seed": 5},
    }
    (tmp / "opt.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    sweep = localsweep.run(tmp / "opt.yaml", train, count=8, db=tmp / "s.db")
    kinds = {r.params["optimizer"]["name"] for r in sweep.runs}
    assert kinds == {"adam", "sgd"}, "the seed should give both branches"
    return sweep


def test_export_has_a_column_per_parameter_the_runs_got(sweep: localsweep.Sweep) -> None:
    stream = io.StringIO()
    export_runs(sweep, "csv", stream)
    rows = list(csv.DictReader(io.StringIO(stream.getvalue())))

    assert set(NAMES) <= set(rows[0])
    for run, row in zip(sweep.runs, rows, strict=True):
        assert float(row["lr"]) == run.params["lr"]
        assert row["optimizer.name"] == run.params["optimizer"]["name"]
        momentum = run.params["optimizer"].get("momentum")
        assert row["optimizer.momentum"] == ("" if momentum is None else str(momentum))

    stream = io.StringIO()
    export_runs(sweep, "json", stream)
    first = json.loads(stream.getvalue())[0]
    assert first["lr"] == sweep.runs[0].params["lr"]


def test_the_optuna_export_has_the_parameters(sweep: localsweep.Sweep, tmp_path: Path) -> None:
    study = export_optuna(sweep, tmp_path / "optuna.db")

    for trial, run in zip(study.trials, sweep.runs, strict=True):
        assert trial.params["lr"] == run.params["lr"]
        assert trial.params["optimizer.name"] == run.params["optimizer"]["name"]


def test_show_has_a_column_per_parameter(sweep: localsweep.Sweep, folder: Path) -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "localsweep", "show", sweep.id, "--db", str(folder / "s.db")],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if k != "COLUMNS"},
    )
    assert shown.returncode == 0, shown.stderr
    # Piped, the table is printed at its natural width: one line per row.
    header = next(line for line in shown.stdout.splitlines() if " state " in line)

    for name in NAMES:
        assert name in header
    for run in sweep.runs:
        row = next(line for line in shown.stdout.splitlines() if line.startswith(f"│ {run.id}"))
        assert run.params["optimizer"]["name"] in row


def test_the_report_plots_numbers_on_axes_and_text_as_categories(
    sweep: localsweep.Sweep, tmp_path: Path
) -> None:
    pytest.importorskip("plotly")
    page = write_report(sweep, tmp_path / "r.html").read_text(encoding="utf-8")

    assert "No searchable parameters" not in page
    found = re.search(r'<script type="application/json" id="sweep-data">(.*?)</script>', page, re.S)
    assert found is not None
    plots = json.loads(found.group(1))["plots"]

    (parallel,) = [p for p in plots if p["data"][0]["type"] == "parcoords"]
    dimensions = {d["label"]: d for d in parallel["data"][0]["dimensions"]}
    assert "ticktext" not in dimensions["lr"]  # a number: a numeric axis
    assert sorted(dimensions["optimizer.name"]["ticktext"]) == ["adam", "sgd"]
    slices = {
        p["layout"]["title"]["text"]: p for p in plots if p.get("id", "").startswith("plot-slice")
    }
    assert set(slices) == set(NAMES)
    assert set(slices["optimizer.name"]["data"][0]["x"]) == {"adam", "sgd"}
    assert all(isinstance(x, float) for x in slices["lr"]["data"][0]["x"])
