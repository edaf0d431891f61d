"""A parameter named like a column of ``localsweep export`` (``name``, ``state``,
``metric``, ``id``, ``number``): the export keeps the run's own column and writes the
parameter as ``config.<name>``, in CSV and JSON, and the export given back as a prior-run
source takes the runs as their database does. W&B's runs table export keeps its own
capitalized ``Name`` and ``State`` apart from config keys ``name`` and ``state``."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

import localsweep
from localsweep.config import parse_config
from localsweep.priors import load_prior_runs
from localsweep.report import export_runs

CLASH: dict[str, Any] = {
    "method": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {
        "name": {"values": ["resnet", "vit"]},
        "state": {"values": ["warm"]},
        "metric": {"values": ["cosine"]},
        "number": {"values": [7]},
        "id": {"values": ["x"]},
    },
}


def _train(config: dict[str, Any]) -> float:
    return 0.1 if config["name"] == "resnet" else 0.2


@pytest.fixture
def sweep() -> localsweep.Sweep:
    return localsweep.run(CLASH, _train, count=2, db="clash.db")


def test_the_csv_export_keeps_the_runs_columns_and_writes_clashing_parameters_prefixed(
    sweep: localsweep.Sweep,
) -> None:
    export_runs(sweep, "csv", "runs.csv")
    with open("runs.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for row, run in zip(rows, sweep.runs, strict=True):
        assert (row["id"], row["name"], row["state"]) == (run.id, run.name, "finished")
        assert (row["number"], float(row["metric"])) == (str(run.number), run.metric)
        assert row["config.name"] == run.params["name"]
        assert (row["config.state"], row["config.metric"]) == ("warm", "cosine")
        assert (row["config.number"], row["config.id"]) == ("7", "x")


def test_the_json_export_keeps_the_runs_columns_and_writes_clashing_parameters_prefixed(
    sweep: localsweep.Sweep,
) -> None:
    export_runs(sweep, "json", "runs.json")
    rows = json.loads(Path("runs.json").read_text())
    assert [(r["name"], r["state"], r["metric"]) for r in rows] == [
        (run.name, "finished", run.metric) for run in sweep.runs
    ]
    assert [r["config.name"] for r in rows] == ["resnet", "vit"]
    assert rows[0]["config.state"] == "warm" and rows[0]["config.metric"] == "cosine"


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_the_export_given_back_as_a_source_is_taken_as_the_database_gives_it(
    sweep: localsweep.Sweep, fmt: str
) -> None:
    export_runs(sweep, fmt, f"runs.{fmt}")  # type: ignore[arg-type]
    from_file = load_prior_runs(parse_config(CLASH), [f"runs.{fmt}"])
    from_db = load_prior_runs(parse_config(CLASH), [f"clash.db#{sweep.id}"])
    assert not from_file.skipped
    assert [t.params for t in from_file.taken] == [t.params for t in from_db.taken]
    assert [t.metric for t in from_file.taken] == [0.1, 0.2]
    assert [t.candidate.name for t in from_file.taken] == [r.name for r in sweep.runs]


def test_a_wandb_export_reads_its_capitalized_columns_as_the_runs_and_the_others_as_config() -> (
    None
):
    Path("wbn.csv").write_text("Name,State,name,state,loss\nbrisk-1,finished,resnet,warm,0.3\n")
    config = {**CLASH, "parameters": {k: CLASH["parameters"][k] for k in ("name", "state")}}
    found = load_prior_runs(parse_config(config), ["wbn.csv"])
    assert not found.skipped
    (prior,) = found.taken
    assert prior.candidate.name == "brisk-1" and prior.candidate.state == "finished"
    assert prior.params == {("name",): "resnet", ("state",): "warm"}
    assert prior.metric == 0.3
