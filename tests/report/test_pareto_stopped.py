"""Runs stopped early (here by the plateau rule, real wandb offline) count as results on
the Pareto set, as they do for ``best_run``: in ``pareto_runs``, ``show``, ``export`` and
the report."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner

import localsweep
from localsweep.cli import cli
from localsweep.report import export_runs, write_report

MULTI = {
    "method": "custom",
    "metrics": [{"name": "loss", "goal": "minimize"}, {"name": "acc", "goal": "maximize"}],
    "parameters": {"x": {"min": 0.0, "max": 1.0}},
    "localsweep": {"seed": 3, "early_stopping": {"metric": "acc", "patience": 1}},
}

SINGLE = {
    "method": "random",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"x": {"min": 0.0, "max": 1.0}},
    "localsweep": {"seed": 3, "early_stopping": {"patience": 1}},
}


def train() -> None:
    """acc and loss flat from the first value: the plateau rule stops every run at its
    second value, before the loop ends."""
    import wandb

    with wandb.init() as run:
        x = run.config["x"]
        for _ in range(6):
            run.log({"loss": (x - 0.3) ** 2, "acc": x})


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("stopped")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WANDB_MODE", "offline")
        mp.setenv("WANDB_SILENT", "true")
        mp.setenv("WANDB_DISABLE_GIT", "true")
        mp.setenv("WANDB_DIR", str(tmp))
        mp.chdir(tmp)
        multi = localsweep.run(MULTI, train, count=4, db=tmp / "m.db")
        single = localsweep.run(SINGLE, train, count=3, db=tmp / "s.db")
    yield {"multi": multi, "single": single, "dir": tmp}


def test_every_run_stopped_on_a_plateau(sweeps: dict[str, Any]) -> None:
    for sweep in (sweeps["multi"], sweeps["single"]):
        assert {(r.state, r.end_reason) for r in sweep.runs} == {("early_terminated", "plateau")}


def expected_front(sweep: localsweep.Sweep) -> set[str]:
    """The runs no other run beats on both objectives, by brute force."""
    points = {r.id: (r.summary["loss"], r.summary["acc"]) for r in sweep.runs}
    return {
        i
        for i, (loss, acc) in points.items()
        if not any(
            (lo <= loss and ac >= acc) and (lo, ac) != (loss, acc) for lo, ac in points.values()
        )
    }


def test_runs_stopped_early_make_the_pareto_set(sweeps: dict[str, Any]) -> None:
    sweep = sweeps["multi"]

    assert {r.id for r in sweep.pareto_runs()} == expected_front(sweep) != set()


def test_with_one_metric_the_pareto_set_is_the_best_run_even_stopped(
    sweeps: dict[str, Any],
) -> None:
    sweep = sweeps["single"]
    best = sweep.best_run()

    assert best is not None and best.state == "early_terminated"
    assert [r.id for r in sweep.pareto_runs()] == [best.id]


def test_show_and_export_mark_the_stopped_pareto_runs(sweeps: dict[str, Any]) -> None:
    sweep = sweeps["multi"]
    front = expected_front(sweep)
    db = str(sweeps["dir"] / "m.db")

    shown = CliRunner().invoke(cli, ["show", sweep.id, "--db", db])
    assert shown.exit_code == 0, shown.output
    assert f"Pareto set: {len(front)} runs" in shown.output

    stream = io.StringIO()
    export_runs(sweep, "csv", stream)
    rows = list(csv.DictReader(io.StringIO(stream.getvalue())))
    assert {row["id"] for row in rows if row["pareto"] == "True"} == front


def test_the_reports_front_plot_draws_the_stopped_runs(sweeps: dict[str, Any]) -> None:
    pytest.importorskip("plotly")
    sweep = sweeps["multi"]
    page = write_report(sweep, sweeps["dir"] / "r.html").read_text(encoding="utf-8")
    found = re.search(r'<script type="application/json" id="sweep-data">(.*?)</script>', page, re.S)
    assert found is not None
    blob = json.dumps(json.loads(found.group(1)))

    assert 'id="plot-pareto"' in page
    for run_id in expected_front(sweep):
        assert f"({run_id})" in blob


def test_the_agents_progress_counts_the_stopped_runs_on_its_front(
    sweeps: dict[str, Any],
) -> None:
    from localsweep.agent._progress import SweepTally
    from localsweep.store import Store

    sweep = sweeps["multi"]
    store = Store(sweeps["dir"] / "m.db")
    try:
        tally = SweepTally(sweep.parsed_config)
        tally.read(store, sweep.id)
    finally:
        store.close()

    assert {run.id for run, _ in tally.front} == expected_front(sweep)
