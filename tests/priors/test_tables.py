"""Runs tables as users hand them over: W&B's runs-table export given twice or copied,
its capitalized columns beside config keys of the same name, pandas dumps of
``wandb.Api()`` runs with NaN in them, a table without one of the sweep's parameters,
hand-written CSV with ``, `` separators, Excel's non-UTF-8 CSV."""

from __future__ import annotations

import shutil
from pathlib import Path

from localsweep.config import parse_config
from localsweep.priors import load_prior_runs

GRID = {
    "method": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {
        "lr": {"values": [0.001, 0.01]},
        "batch_size": {"values": [16, 32]},
        "optimizer": {"values": ["adam", "sgd"]},
    },
}

#: W&B's runs table export: no run id column, a Name and a Created column.
WB = (
    "Name,State,Notes,User,Tags,Created,Runtime,Sweep,lr,batch_size,optimizer,loss\n"
    "brisk-fog-1,finished,,me,,2026-01-01T00:00:00,12,,0.001,16,adam,0.9\n"
    "brisk-fog-2,finished,,me,,2026-01-01T01:00:00,12,,0.01,32,sgd,0.3\n"
)


def _taken(sources: list[str], config: dict[str, object] = GRID) -> list[str | None]:
    found = load_prior_runs(parse_config(config), sources)
    return [t.candidate.name for t in found.taken]


def test_a_wandb_export_given_twice_is_taken_once() -> None:
    Path("wb.csv").write_text(WB)
    found = load_prior_runs(parse_config(GRID), ["wb.csv", "wb.csv"])
    assert [t.candidate.name for t in found.taken] == ["brisk-fog-1", "brisk-fog-2"]
    assert [s.reason for s in found.skipped] == [
        "the same run as wb.csv row 1 (brisk-fog-1) (taken once)",
        "the same run as wb.csv row 2 (brisk-fog-2) (taken once)",
    ]


def test_a_wandb_export_named_and_matched_by_a_glob_is_taken_once() -> None:
    Path("exports").mkdir()
    Path("exports/wb.csv").write_text(WB)
    assert _taken(["exports/wb.csv", "exports/*.csv"]) == ["brisk-fog-1", "brisk-fog-2"]


def test_a_copy_of_a_wandb_export_is_taken_once_by_name_and_creation_time() -> None:
    Path("wb.csv").write_text(WB)
    shutil.copy("wb.csv", "wb_copy.csv")
    assert _taken(["wb.csv", "wb*.csv"]) == ["brisk-fog-1", "brisk-fog-2"]


def test_two_runs_of_one_name_created_apart_are_two_runs() -> None:
    # W&B names are not unique: the same name at another time is another run.
    Path("wb.csv").write_text(WB)
    Path("other.csv").write_text(WB.replace("T01:00:00", "T02:00:00"))
    assert _taken(["wb.csv", "other.csv"]) == ["brisk-fog-1", "brisk-fog-2", "brisk-fog-2"]
