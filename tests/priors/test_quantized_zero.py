"""A prior value of 0 for ``q_log_uniform_values``, ``q_log_uniform`` and
``q_log_normal``: wandb's rounding (``round(exp(u) / q) * q``) gives 0 for a draw below
q/2, and localsweep's own sweeps draw it too, so such a run is taken, and a bayes sweep
that learns from it says nothing about a log of zero."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

import localsweep
from localsweep.config import parse_config
from localsweep.priors import load_prior_runs


def _config(param: dict[str, Any], method: str = "bayes") -> dict[str, Any]:
    return {
        "method": method,
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"b": param},
    }


Q_LOG_VALUES = _config({"distribution": "q_log_uniform_values", "min": 1, "max": 1000, "q": 8})


@pytest.mark.parametrize(
    "param",
    [
        {"distribution": "q_log_uniform_values", "min": 1, "max": 1000, "q": 8},
        {"distribution": "q_log_uniform", "min": 0, "max": 7, "q": 8},
        {"distribution": "q_log_normal", "mu": 0, "sigma": 1, "q": 1},
    ],
    ids=["q_log_uniform_values", "q_log_uniform", "q_log_normal"],
)
def test_a_prior_value_of_0_that_wandbs_rounding_gives_is_taken(param: dict[str, Any]) -> None:
    Path("runs.csv").write_text("b,loss\n0,0.5\n8,0.4\n")
    found = load_prior_runs(parse_config(_config(param)), ["runs.csv"])
    assert not found.skipped
    assert [t.params[("b",)] for t in found.taken] == [0, 8]


def test_a_negative_q_log_normal_value_is_skipped() -> None:
    Path("runs.csv").write_text("b,loss\n-1,0.5\n1,0.4\n")
    config = _config({"distribution": "q_log_normal", "mu": 0, "sigma": 1, "q": 1})
    found = load_prior_runs(parse_config(config), ["runs.csv"])
    assert [s.reason for s in found.skipped] == ["b = -1 is negative (q_log_normal)"]


def test_a_value_past_the_bounds_names_the_sweeps_range_and_its_multiples_of_q() -> None:
    Path("runs.csv").write_text("b,loss\n1008,0.5\n992,0.4\n")
    found = load_prior_runs(parse_config(Q_LOG_VALUES), ["runs.csv"])
    assert [s.reason for s in found.skipped] == [
        "b = 1008 is outside the sweep's range [1, 1000] (with q = 8: 0 to 1000)"
    ]


def test_a_bayes_sweep_learns_from_prior_runs_at_0_without_a_log_of_zero_warning() -> None:
    Path("runs.csv").write_text("b,loss\n0,0.5\n0,0.6\n8,0.4\n992,0.3\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        sweep = localsweep.run(
            Q_LOG_VALUES, lambda c: abs(c["b"] - 100), count=1, prior_runs=["runs.csv"]
        )
    assert len(sweep.prior_runs) == 4
    assert sweep.runs[0].state == "finished"


def test_a_sweeps_own_runs_at_0_are_taken_by_the_next_sweep() -> None:
    # Its own draws: random search over q_log_uniform_values with min below q/2 gives 0.
    config = _config(
        {"distribution": "q_log_uniform_values", "min": 0.01, "max": 10, "q": 4}, "random"
    )
    old = localsweep.run(config, lambda c: c["b"] + 1, count=8, db="old.db")
    assert 0 in [r.params["b"] for r in old.runs]
    found = load_prior_runs(parse_config(config), [f"old.db#{old.id}"])
    assert not found.skipped and len(found.taken) == 8
