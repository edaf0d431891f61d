"""Runs tables as users hand them over: W&B's runs-table export given twice or copied,
its capitalized columns beside config keys of the same name, pandas dumps of
``wandb.Api()`` runs with NaN in them, a table without one of the sweep's parameters,
hand-written CSV with ``, `` separators, Excel's non-UTF-8 CSV."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

from prior_configs import GRID

from localsweep.config import parse_config
from localsweep.priors import load_prior_runs

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


# --------------------------------------------------- wandb.Api dumps written by pandas

LR_BAYES = {
    "method": "bayes",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"lr": {"min": 0.0001, "max": 0.1}},
}


def test_a_pandas_dump_with_nan_and_inf_in_its_dicts_is_read_whole() -> None:
    # W&B's export recipe: pd.DataFrame({"summary": ..., "config": ..., "name": ...})
    # .to_csv(); str() of a dict writes nan, inf and -inf as bare names.
    Path("project.csv").write_text(
        ",summary,config,name\n"
        "0,\"{'loss': 0.3, 'grad_norm': nan, '_runtime': 5}\",\"{'lr': 0.01}\",a-1\n"
        "1,\"{'loss': 0.4, 'aux': -inf}\",\"{'lr': 0.02}\",b-2\n"
        "2,\"{'loss': 0.2}\",\"{'lr': 0.03, 'clip': inf}\",c-3\n"
    )
    found = load_prior_runs(parse_config(LR_BAYES), ["project.csv"])
    assert not found.skipped
    assert [(t.params[("lr",)], t.metric) for t in found.taken] == [
        (0.01, 0.3),
        (0.02, 0.4),
        (0.03, 0.2),
    ]
    a, b, c = (t.candidate for t in found.taken)
    assert math.isnan(a.summary["grad_norm"]) and b.summary["aux"] == -math.inf
    assert c.config["clip"] == math.inf


def test_a_dump_cell_that_is_no_dict_says_it_cannot_be_read() -> None:
    Path("project.csv").write_text(
        ",summary,config,name\n"
        "0,\"{'loss': 0.3}\",\"{'lr': 0.01, 'f': foo()}\",a-1\n"
        "1,\"{'loss': 0.4}\",\"{'lr': 0.02}\",b-2\n"
    )
    found = load_prior_runs(parse_config(LR_BAYES), ["project.csv"])
    assert [t.candidate.name for t in found.taken] == ["b-2"]
    (skip,) = found.skipped
    assert skip.reason.startswith("its config cell cannot be read as a dict (")


# ------------------------------------------------ a parameter the table has no column for

HALF = (
    "id,name,state,number,metric,lr,batch_size,optimizer,loss\n"
    "r1,run-0,finished,0,0.5,0.001,16,adam,0.5\n"
)


def test_a_table_without_one_parameters_column_is_skipped_row_by_row_and_the_rest_taken() -> None:
    # The most common warm start: the new sweep adds a parameter (optimizer).
    Path("noopt.csv").write_text("lr,batch_size,loss\n0.001,16,0.5\n0.01,32,0.4\n")
    Path("half.csv").write_text(HALF)
    found = load_prior_runs(parse_config(GRID), ["noopt.csv", "half.csv"])
    assert [t.candidate.run_id for t in found.taken] == ["r1"]
    assert [s.reason for s in found.skipped] == ["has no value for parameter optimizer"] * 2


def test_a_hand_written_table_with_spaces_after_its_commas_is_read() -> None:
    Path("spaces.csv").write_text(
        "lr, batch_size, optimizer, loss\n0.001, 16, adam, 0.5\n0.01 , 32 , sgd , 0.4\n"
    )
    found = load_prior_runs(parse_config(GRID), ["spaces.csv"])
    assert not found.skipped
    assert [t.params for t in found.taken] == [
        {("lr",): 0.001, ("batch_size",): 16, ("optimizer",): "adam"},
        {("lr",): 0.01, ("batch_size",): 32, ("optimizer",): "sgd"},
    ]
