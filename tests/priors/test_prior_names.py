"""A prior run keeps its original's name whatever source gives it: from its database
(``DB#SWEEP`` or its run id) as from an export of it (an offline run's ``run-0`` was its id
when taken from the database, ``run-0`` from the export)."""

from __future__ import annotations

from typing import Any

import pytest

import localsweep
from localsweep.report import export_runs

GRID: dict[str, Any] = {
    "method": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"x": {"values": [1, 2]}},
}


@pytest.fixture
def original() -> localsweep.Sweep:
    return localsweep.run(GRID, lambda c: float(c["x"]), db="a.db", quiet=True)


def _prior_names(sources: list[str]) -> list[tuple[str, str]]:
    sweep_id = localsweep.sweep(GRID, db="b.db", prior_runs=sources)
    return [(r.id, r.name) for r in localsweep.Api("b.db").sweep(sweep_id).prior_runs]


def test_a_prior_run_from_a_database_keeps_its_name(original: localsweep.Sweep) -> None:
    names = [(r.id, r.name) for r in original.runs]
    assert [n for _, n in names] == ["run-0", "run-1"]
    assert _prior_names([f"a.db#{original.id}"]) == names
    assert _prior_names([f"a.db#{r.id}" for r in original.runs]) == names
    export_runs(original, "csv", "a.csv")
    assert _prior_names(["a.csv"]) == names
