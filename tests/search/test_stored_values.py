"""Searches go on from run configs as the store keeps them: whole floats as the ints the
runs got (``2.0`` as ``2``, as through W&B's server)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from optuna.trial import TrialState

from localsweep.config import SweepConfig, parse_config, whole_floats_as_ints
from localsweep.records import Proposal, RunState, RunView
from localsweep.search import make_search
from localsweep.search._bayes import BayesSearch


def stored(cfg: SweepConfig, proposal: Proposal, i: int, *, grid_key: bool = True) -> RunView:
    """The run ``proposal`` became, as the search reads it back from the store."""
    config = whole_floats_as_ints(cfg.nest(proposal.params))
    params = cfg.flatten(config)
    return RunView(
        f"r{i}",
        RunState.FINISHED,
        params,
        history=(float(i),),
        grid_key=proposal.grid_key if grid_key else None,
    )


@pytest.mark.parametrize("grid_key", [True, False], ids=["grid_key", "params_only"])
def test_grid_takes_each_point_once_from_stored_ints(grid_key: bool) -> None:
    # params_only: runs matched by their config (a prior run, a run of an older version).
    cfg = parse_config(
        {
            "method": "grid",
            "parameters": {
                "epochs": {"values": [1.0, 2.0]},
                "opt": {"values": [{"n": 1.0, "m": [2.0]}, {"n": 2.5, "m": [3.0]}]},
            },
        }
    )
    search = make_search(cfg)
    runs: list[RunView] = []
    for _ in range(10):
        proposal = search.propose(runs, random.Random(0))
        if proposal is None:
            break
        runs.append(stored(cfg, proposal, len(runs), grid_key=grid_key))
    assert len(runs) == 4
    assert {(r.params[("epochs",)], r.params[("opt",)]["n"]) for r in runs} == {
        (1, 1),
        (1, 2.5),
        (2, 1),
        (2, 2.5),
    }


CONTINUOUS: dict[str, Any] = {
    "method": "bayes",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {
        "x": {"min": 0.0, "max": 4.0},
        "q": {"distribution": "q_uniform", "min": 1, "max": 10},
        "lv": {"distribution": "log_uniform_values", "min": 1.0, "max": 100.0},
        "c": {"values": [1.0, 2.0, 3.0]},
        "n": {"distribution": "normal", "mu": 0.0, "sigma": 1.0},
    },
}


@pytest.mark.parametrize("sampler", ["tpe", "gp-numpy"])
def test_bayes_builds_a_trial_from_every_stored_config(sampler: str) -> None:
    cfg = parse_config({**CONTINUOUS, "localsweep": {"sampler": sampler}})
    search = make_search(cfg)
    assert isinstance(search, BayesSearch)
    runs: list[RunView] = []
    for i in range(12):
        proposal = search.propose(runs, random.Random(i))
        runs.append(stored(cfg, proposal, i))
    # q_uniform with the default q (1.0) samples whole floats: every run got ints.
    assert all(type(r.params[("q",)]) is int for r in runs)
    assert all(type(r.params[("c",)]) is int for r in runs)
    search.propose(runs, random.Random(99))
    trials = search._cache.study.get_trials(deepcopy=False)
    assert sum(t.state is TrialState.COMPLETE for t in trials) == len(runs)


def test_random_search_proposes_from_a_sweep_of_stored_ints() -> None:
    cfg = parse_config({**CONTINUOUS, "method": "random"})
    search = make_search(cfg)
    runs = [stored(cfg, search.propose([], random.Random(i)), i) for i in range(5)]  # type: ignore[arg-type]
    assert search.propose(runs, random.Random(5)) is not None
