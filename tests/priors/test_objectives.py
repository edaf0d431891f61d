"""Prior runs of a multi-objective sweep (``metrics:``) are checked for each objective, read
as the search reads its own runs; a run without one, or with one that ended NaN, is
skipped with the reason. Only a grid's prior runs "hold grid points only"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from localsweep.config import parse_config
from localsweep.priors import load_prior_runs

MULTI: dict[str, Any] = {
    "method": "custom",
    "metrics": [
        {"name": "val_loss", "goal": "minimize"},
        {"name": "latency_ms", "goal": "minimize"},
    ],
    "parameters": {
        "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 0.1},
        "width": {"values": [64, 128, 256, 512]},
    },
}


def test_a_multi_objective_sweep_skips_runs_with_no_objective_or_a_diverged_one() -> None:
    Path("mo.csv").write_text(
        "Name,State,lr,width,val_loss,latency_ms,acc\n"
        "a,finished,0.001,64,0.5,10,0.9\n"
        "b,finished,0.01,128,,,0.8\n"
        "c,finished,0.02,256,0.4,inf,0.7\n"
        "d,finished,0.03,512,0.1,NaN,0.7\n"
    )
    found = load_prior_runs(parse_config(MULTI), ["mo.csv"])
    assert [t.candidate.name for t in found.taken] == ["a"]
    assert [(s.candidate.name, s.reason) for s in found.skipped] == [
        ("b", "has no value of any objective (val_loss, latency_ms): nothing to learn"),
        ("c", "ended with the objective latency_ms = inf: no result (did it diverge?)"),
        ("d", "ended with the objective latency_ms = nan: no result (did it diverge?)"),
    ]
    assert found.summary_lines()[-1] == "prior runs: 1 taken, 3 skipped"


def test_a_run_missing_one_objective_is_taken_and_the_summary_says_what_it_gives() -> None:
    # As a sweep's own run: shown by the objective it has, on no Pareto front.
    Path("mo.csv").write_text(
        "Name,State,lr,width,val_loss,latency_ms\n"
        "a,finished,0.001,64,0.5,10\n"
        "b,finished,0.01,128,0.3,\n"
    )
    found = load_prior_runs(parse_config(MULTI), ["mo.csv"])
    assert [t.missing_objectives for t in found.taken] == [(), ("latency_ms",)]
    assert found.summary_lines()[-1] == (
        "prior runs: 2 taken (1 of them without every objective: on no Pareto front, and "
        "failed runs to the search), 0 skipped"
    )


def test_a_define_metric_summary_gives_an_objective_as_the_search_reads_it() -> None:
    Path("mo.json").write_text(
        '[{"config": {"lr": 0.001, "width": 64},'
        ' "summary": {"val_loss": {"min": 0.2}, "latency_ms": 7}}]'
    )
    found = load_prior_runs(parse_config(MULTI), ["mo.json"])
    assert len(found.taken) == 1 and not found.skipped


def test_a_sweep_without_a_metric_says_nothing_of_grid_points() -> None:
    config = {"method": "random", "parameters": {"lr": {"min": 0.0, "max": 1.0}}}
    Path("nm.csv").write_text("lr,loss\n0.1,1\n")
    lines = load_prior_runs(parse_config(config), ["nm.csv"]).summary_lines()
    assert lines[-1] == "prior runs: 1 taken, 0 skipped"
    assert not [line for line in lines if "grid points" in line]


def test_a_grids_prior_run_without_the_metric_holds_its_point() -> None:
    config = {
        "method": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"lr": {"values": [0.1, 0.2]}},
    }
    Path("g.csv").write_text("lr,loss\n0.1,\n0.2,0.5\n")
    lines = load_prior_runs(parse_config(config), ["g.csv"]).summary_lines()
    assert lines[-1] == (
        "prior runs: 2 taken (1 of them without the metric loss: they hold grid points "
        "only), 0 skipped"
    )
