"""A table ``localsweep export`` wrote, given back as prior runs, gives each run its summary
as the original had it: the export dots nested keys (``loss.min``), the reader nests them
again, so ``run.summary["loss"]["min"]`` reads the prior run as it reads the original (it
raised KeyError). A W&B runs table export keeps its columns as they are."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import localsweep
from localsweep.report import export_runs

CONFIG: dict[str, Any] = {
    "method": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"opt": {"parameters": {"lr": {"values": [0.1, 0.2]}}}, "x": {"value": 3}},
}


def _train(config: dict[str, Any]) -> dict[str, Any]:
    lr = config["opt"]["lr"]
    return {"loss": {"min": lr / 2}, "nested": {"x": 4, "deep": {"y": "z"}}, "note": "done"}


def _user_summary(run: localsweep.Run) -> dict[str, Any]:
    return {k: v for k, v in run.summary.items() if not k.startswith("_")}


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_an_exported_sweep_given_back_keeps_its_nested_summaries(fmt: str) -> None:
    original = localsweep.run(CONFIG, _train, db="a.db", quiet=True)
    export_runs(original, fmt, f"a.{fmt}")  # type: ignore[arg-type]
    sweep_id = localsweep.sweep(CONFIG, db="b.db", prior_runs=[f"a.{fmt}"])
    priors = localsweep.Api("b.db").sweep(sweep_id).prior_runs
    assert [p.id for p in priors] == [r.id for r in original.runs]
    for prior, run in zip(priors, original.runs, strict=True):
        assert _user_summary(run)["loss"] == {"min": run.config["opt"]["lr"] / 2}
        # The parameters are the prior run's config, not its summary (opt.lr, x).
        assert _user_summary(prior) == _user_summary(run)
        assert prior.summary["nested"]["deep"]["y"] == "z"
        assert prior.metric == run.metric
        assert prior.config == run.config


def test_a_wandb_runs_table_keeps_its_dotted_columns() -> None:
    Path("wb.csv").write_text(
        "Name,State,opt.lr,x,loss.min,val.acc\nbrisk-1,finished,0.1,3,0.05,0.9\n"
    )
    sweep_id = localsweep.sweep(CONFIG, db="b.db", prior_runs=["wb.csv"])
    (prior,) = localsweep.Api("b.db").sweep(sweep_id).prior_runs
    assert _user_summary(prior) == {"loss.min": 0.05, "val.acc": 0.9}
    assert prior.metric == 0.05


def test_a_key_that_is_the_start_of_another_stays_dotted() -> None:
    # No dict held both `a` and `a.b`: the original had a key with a dot in it.
    rows = (
        "id,name,state,number,metric,opt.lr,x,loss.min,a,a.b,p.q\n"
        "abcd1234,run-0,finished,0,0.05,0.1,3,0.05,1,2,3\n"
    )
    Path("ls.csv").write_text(rows)
    sweep_id = localsweep.sweep(CONFIG, db="b.db", prior_runs=["ls.csv"])
    (prior,) = localsweep.Api("b.db").sweep(sweep_id).prior_runs
    assert _user_summary(prior) == {"loss": {"min": 0.05}, "a": 1, "a.b": 2, "p": {"q": 3}}
