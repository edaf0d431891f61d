""" "2 and 2.0 are the same value" and "a float within 1e-6 of a value is that value" hold
inside dict and list values too (a config that went through W&B's server, or held as
float32), and for an ``int_uniform`` grid's whole numbers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from localsweep.config import parse_config
from localsweep.priors import load_prior_runs

NESTED: dict[str, Any] = {
    "method": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {
        "sched": {"values": [{"type": "cos", "warm": 5}, {"type": "step", "gamma": 0.1}]},
        "layers": {"values": [[64, 64], [128]]},
    },
}


def _dump(*configs: dict[str, Any]) -> None:
    Path("runs.json").write_text(
        json.dumps([{"config": c, "summary": {"loss": 1}} for c in configs])
    )


def test_a_whole_float_inside_a_dict_or_list_value_is_the_int_it_equals() -> None:
    _dump(
        {"sched": {"type": "cos", "warm": 5.0}, "layers": [128.0]},
        {"sched": {"type": "cos", "warm": 5}, "layers": [64.0, 64]},
    )
    found = load_prior_runs(parse_config(NESTED), ["runs.json"])
    assert not found.skipped
    assert [t.params for t in found.taken] == [
        {("sched",): {"type": "cos", "warm": 5}, ("layers",): [128]},
        {("sched",): {"type": "cos", "warm": 5}, ("layers",): [64, 64]},
    ]


def test_a_float32_inside_a_dict_value_is_the_configs_value() -> None:
    _dump({"sched": {"type": "step", "gamma": 0.10000000149011612}, "layers": [128]})
    (prior,) = load_prior_runs(parse_config(NESTED), ["runs.json"]).taken
    assert prior.params[("sched",)] == {"type": "step", "gamma": 0.1}


def test_a_nested_value_further_off_is_still_skipped() -> None:
    _dump(
        {"sched": {"type": "step", "gamma": 0.1001}, "layers": [128]},
        {"sched": {"type": "cos", "warm": 5}, "layers": [128]},
    )
    found = load_prior_runs(parse_config(NESTED), ["runs.json"])
    (skip,) = found.skipped
    assert skip.reason.startswith("sched = {'type': 'step', 'gamma': 0.1001} is not one of")


def test_an_int_uniform_grid_takes_a_float_a_hair_off_a_whole_number() -> None:
    config = {
        "method": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"n": {"distribution": "int_uniform", "min": 1, "max": 4}},
    }
    Path("runs.json").write_text(
        '[{"config": {"n": 3.0000001}, "summary": {"loss": 1}},'
        ' {"config": {"n": 2.5}, "summary": {"loss": 1}}]'
    )
    found = load_prior_runs(parse_config(config), ["runs.json"])
    assert [t.params for t in found.taken] == [{("n",): 3}]
    assert [s.reason for s in found.skipped] == ["n = 2.5 is not a whole number"]
