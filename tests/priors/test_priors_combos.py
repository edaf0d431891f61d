"""Prior runs together with other features: a multi-objective sweep warm-started from its
own export, the export's ``pareto`` column, a seeded sweep warm-started from a sweep of
the same config and seed, and the agent's "Pareto front" line. Real sweeps, real wandb
offline runs, real SQLite files."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest

import localsweep
from localsweep.agent._progress import SweepProgress
from localsweep.report import export_runs
from localsweep.store import Store

MULTI: dict[str, Any] = {
    "method": "custom",
    "metrics": [{"name": "loss", "goal": "minimize"}, {"name": "acc", "goal": "maximize"}],
    "parameters": {"x": {"min": 0.0, "max": 1.0}},
    "localsweep": {"seed": 1},
}


def train_acc_max() -> None:
    """A wandb training whose ``acc`` objective is a ``define_metric`` max summary: wandb
    keeps ``{"max": ...}`` under the key, and the export writes an ``acc.max`` column."""
    import wandb

    with wandb.init() as run:
        run.define_metric("acc", summary="max")
        x = run.config.x
        for acc in (0.2, 0.9 - x * 0.1, 0.1):
            run.log({"loss": (x - 0.3) ** 2, "acc": acc})


def train_plain(config: dict[str, Any]) -> dict[str, float]:
    x = config["x"]
    return {"loss": (x - 0.3) ** 2, "acc": 1 - abs(x - 0.7)}


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_a_define_metric_objective_of_an_exported_table_is_read_as_from_the_database(
    fmt: str,
) -> None:
    old = localsweep.run(MULTI, train_acc_max, count=3, db="old.db")
    assert all(isinstance(r.summary["acc"], dict) for r in old.runs)
    export_runs(old, fmt, f"runs.{fmt}")  # type: ignore[arg-type]
    assert "acc.max" in Path(f"runs.{fmt}").read_text()

    from_table = localsweep.sweep(MULTI, db="new.db", prior_runs=[f"runs.{fmt}"])
    from_db = localsweep.sweep(MULTI, db="new.db", prior_runs=[f"old.db#{old.id}"])
    api = localsweep.Api("new.db")
    table_sweep, db_sweep = api.sweep(from_table), api.sweep(from_db)
    # Every prior has both objectives: the warm start is the one the database gives.
    assert len(table_sweep.prior_runs) == 3
    on_front = sorted(r.id for r in table_sweep.pareto_runs())
    assert on_front == sorted(r.id for r in db_sweep.pareto_runs())
    assert on_front == sorted(r.id for r in old.pareto_runs())
    # And the search learns them as results, not as failed trials.
    from localsweep.search._outcomes import multi_outcome

    metrics = table_sweep.parsed_config.metrics
    views = Store("new.db").run_views(from_table)
    assert [multi_outcome(v, metrics).state.name for v in views] == ["COMPLETE"] * 3


def test_the_exports_pareto_column_is_no_summary_key_of_a_prior_run() -> None:
    old = localsweep.run(MULTI, train_plain, count=4, db="old.db")
    export_runs(old, "csv", "runs.csv")
    assert "pareto" in Path("runs.csv").read_text().splitlines()[0].split(",")
    single = {**MULTI, "method": "bayes", "metric": {"name": "loss", "goal": "minimize"}}
    del single["metrics"]
    new = localsweep.sweep(single, db="new.db", prior_runs=["runs.csv"])
    priors = localsweep.Api("new.db").sweep(new).prior_runs
    assert len(priors) == 4
    for run in priors:
        assert set(run.summary) == {"loss", "acc"}, run.summary


@pytest.mark.parametrize("method", ["bayes", "random"])
def test_a_seeded_sweep_warm_started_from_its_twin_runs_new_points_reproducibly(
    method: str,
) -> None:
    config: dict[str, Any] = {
        "method": method,
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {
            "x": {"min": 0.0, "max": 1.0},
            "y": {"min": 0.0, "max": 1.0},
            "z": {"values": ["a", "b", "c"]},
        },
        "run_cap": 3,
        "localsweep": {"seed": 7},
    }

    def train(c: dict[str, Any]) -> float:
        return float(c["x"] + c["y"])

    def points(sweep: localsweep.Sweep) -> list[tuple[Any, ...]]:
        return [(r.config["x"], r.config["y"], r.config["z"]) for r in sweep.runs]

    old = localsweep.run(config, train, db="s.db")
    # Without prior runs a seeded sweep draws as it always did: the same points again.
    assert points(localsweep.run(config, train, db="s.db")) == points(old)
    warm = localsweep.run(config, train, db="s.db", prior_runs=[old.id])
    assert len(warm.prior_runs) == 3
    assert not set(points(warm)) & set(points(old))
    # The same config, seed and prior runs give the same proposals.
    again = localsweep.run(config, train, db="s.db", prior_runs=[old.id])
    assert points(again) == points(warm)


def test_the_agents_pareto_front_counts_the_prior_runs_as_pareto_runs_does() -> None:
    old = localsweep.run({**MULTI, "run_cap": 6}, train_plain, db="old.db")
    front = len(old.pareto_runs())
    assert front >= 2
    sweep_id = localsweep.sweep(
        {**MULTI, "run_cap": 1}, db="new.db", prior_runs=[f"old.db#{old.id}"]
    )
    stream = io.StringIO()
    with SweepProgress(Store("new.db"), sweep_id, mode="lines", stream=stream) as progress:
        localsweep.agent(
            sweep_id,
            lambda c: {"loss": 5.0, "acc": 0.0},  # beaten by every prior run
            db="new.db",
            quiet=True,
            on_run_end=progress.on_run_end,
        )
    line = next(line for line in stream.getvalue().splitlines() if " finished" in line)
    said = re.search(r"Pareto front: (\d+) runs?\)$", line)
    assert said is not None, line
    pareto = localsweep.Api("new.db").sweep(sweep_id).pareto_runs()
    assert int(said.group(1)) == len(pareto) == front
    assert all(r.prior for r in pareto)


def test_a_tables_flattened_objective_that_ended_nan_diverged() -> None:
    from localsweep.config import parse_config
    from localsweep.priors import load_prior_runs

    Path("mo.csv").write_text(
        "id,name,state,number,metric,x,loss,acc.max\n"
        "a,a,finished,0,,0.5,0.1,nan\n"
        "b,b,finished,1,,0.6,0.2,0.8\n"
    )
    found = load_prior_runs(parse_config(MULTI), ["mo.csv"])
    assert [t.candidate.run_id for t in found.taken] == ["b"]
    assert not found.taken[0].missing_objectives
    assert [s.reason for s in found.skipped] == [
        "ended with the objective acc = nan: no result (did it diverge?)"
    ]
