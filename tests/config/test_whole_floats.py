"""``whole_floats_as_ints``: a proposed run config as W&B's server hands it to the run."""

from __future__ import annotations

import math

import numpy as np

from localsweep.config import whole_floats_as_ints


def test_whole_floats_become_ints_at_any_depth() -> None:
    config = {"epochs": 2.0, "size": 1e2, "opt": {"lr": 0.5, "steps": [1.0, 2.5, (3.0,)]}}
    got = whole_floats_as_ints(config)
    assert got == {"epochs": 2, "size": 100, "opt": {"lr": 0.5, "steps": [1, 2.5, [3]]}}
    assert type(got["epochs"]) is int and type(got["opt"]["steps"][0]) is int
    assert config["epochs"] == 2.0 and type(config["epochs"]) is float  # not edited


def test_negative_zero_and_numpy_floats_become_ints() -> None:
    got = whole_floats_as_ints({"a": -0.0, "b": np.float64(4.0), "c": np.float32(8.0)})
    assert got == {"a": 0, "b": 4, "c": 8}
    assert all(type(v) is int for v in got.values())


def test_what_go_writes_with_an_exponent_stays_a_float() -> None:
    # Go's encoding/json writes 1e21 and up as 1e+21, which reads back as a float.
    got = whole_floats_as_ints({"below": 1e20, "at": 1e21, "neg": -1e21})
    assert got["below"] == 10**20 and type(got["below"]) is int
    assert type(got["at"]) is float and type(got["neg"]) is float


def test_bools_strings_none_and_non_finite_floats_are_left_alone() -> None:
    config = {"t": True, "s": "2.0", "n": None, "inf": math.inf, "i": 3}
    got = whole_floats_as_ints({**config, "nan": math.nan})
    assert {k: v for k, v in got.items() if k != "nan"} == config
    assert type(got["t"]) is bool and math.isnan(got["nan"])
