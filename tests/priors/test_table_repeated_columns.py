"""A CSV runs table whose header names a column twice (``lr,lr,opt,loss``): which cell is
the run's value cannot be told, so the table is refused, naming the repeated columns."""

from __future__ import annotations

from pathlib import Path

import pytest
from prior_configs import GRID

from localsweep.config import parse_config
from localsweep.errors import PriorRunsError
from localsweep.priors import load_prior_runs


def _error(sources: list[str]) -> str:
    with pytest.raises(PriorRunsError) as info:
        load_prior_runs(parse_config(GRID), sources)
    return str(info.value)


def test_a_table_naming_a_column_twice_is_refused_naming_it() -> None:
    Path("dup.csv").write_text(
        "lr,lr,batch_size,optimizer,loss, optimizer\n0.001,0.01,16,adam,1.0,sgd\n",
        encoding="utf-8",
    )
    said = _error(["dup.csv"])
    assert "dup.csv: its header names a column more than once" in said
    assert "'lr' (columns 1, 2); 'optimizer' (columns 4, 6)" in said


def test_unnamed_columns_of_trailing_commas_are_no_repeat() -> None:
    Path("ok.csv").write_text(
        "lr,batch_size,optimizer,loss,,\n0.001,16,adam,1.0,,\n", encoding="utf-8"
    )
    found = load_prior_runs(parse_config(GRID), ["ok.csv"])
    assert len(found.taken) == 1
