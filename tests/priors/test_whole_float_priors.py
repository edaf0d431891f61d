"""A prior run is stored with the values it ran with, as a run of the sweep gets them: a
config written with whole floats (``values: [2.0, 3.0]``) gives its runs ``2`` (as W&B's
server does), and a prior run that had ``2`` keeps ``2``, so show, the Api, exports and
the report see one value for both, and the grid still skips the point the prior holds."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

import localsweep
from localsweep.report import export_runs


def _grid(a: list[Any], b: list[Any], c: list[Any]) -> dict[str, Any]:
    return {
        "method": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"a": {"values": a}, "b": {"values": b}, "c": {"values": c}},
    }


def _train(config: dict[str, Any]) -> float:
    return float(config["a"])


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_a_prior_run_keeps_the_ints_it_ran_with(tmp_path: Path, fmt: str) -> None:
    first = localsweep.run(_grid([2], [[1, 2]], [{"x": 1}]), _train, db=tmp_path / "a.db")
    table = tmp_path / f"runs.{fmt}"
    export_runs(first, fmt, table)  # type: ignore[arg-type]

    config = _grid([2.0, 3.0], [[1.0, 2]], [{"x": 1.0}])
    sweep = localsweep.run(config, _train, db=tmp_path / "b.db", prior_runs=table)

    (prior,) = sweep.prior_runs
    (own,) = sweep.runs  # the prior holds a=2: the grid runs a=3 only
    assert prior.config == {"a": 2, "b": [1, 2], "c": {"x": 1}}
    assert type(prior.config["a"]) is int and type(prior.config["b"][0]) is int
    assert type(prior.config["c"]["x"]) is int
    assert own.config == {"a": 3, "b": [1, 2], "c": {"x": 1}}

    out = io.StringIO()
    export_runs(sweep, "csv", out)
    rows = {r["number"]: r for r in csv.DictReader(io.StringIO(out.getvalue()))}
    assert (rows["-1"]["a"], rows["-1"]["b"], rows["-1"]["c"]) == ("2", "[1, 2]", '{"x": 1}')
    assert (rows["0"]["b"], rows["0"]["c"]) == (rows["-1"]["b"], rows["-1"]["c"])
