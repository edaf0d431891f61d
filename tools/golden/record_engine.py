"""Record golden data from wandb's sweeps engine (PyPI ``sweeps`` 0.3.0) for the conformance tests.

Run it with the engine's own interpreter, never the project's (the engine pins numpy<2)::

    /opt/sweeps-venv/bin/python tools/golden/record_engine.py

It writes ``tests/golden/grid.json``, ``tests/golden/random.json`` and
``tests/golden/validation.json``. The wandb client's half of validation
(``_validate_config_and_fill_distribution``) needs wandb 0.31, which lives in the
project's interpreter, so this script hands those configs to
``tools/golden/record_client.py`` in a subprocess (``--client-python``).

Every config is passed through a JSON round trip before the engine sees it, so the
engine and the tests read exactly the same values (ints stay ints, floats stay floats).
The output is deterministic: fixed seeds, sorted keys.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import sweeps
from sweeps import RunState, SweepRun, next_run, schema_violations_from_proposed_config

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "golden"
CLIENT_SCRIPT = Path(__file__).resolve().parent / "record_client.py"

#: How many suggestions each random case records.
RANDOM_SAMPLES = 50


def plain(value: Any) -> Any:
    """``value`` with every numpy scalar or array turned into plain Python values."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def roundtrip(config: dict[str, Any]) -> dict[str, Any]:
    """The config as the tests will load it from JSON."""
    return json.loads(json.dumps(config, allow_nan=False))


def unwrap(run_config: dict[str, Any]) -> dict[str, Any]:
    """Strip the engine's top-level ``{"value": ...}`` wrapper from a run config."""
    return {k: plain(v["value"]) for k, v in run_config.items()}


def wrap(nested: dict[str, Any]) -> dict[str, Any]:
    """A nested run config as the engine stores it (top level wrapped in ``value``)."""
    return {k: {"value": v} for k, v in nested.items()}


# --------------------------------------------------------------------------- grid


def grid_config(parameters: dict[str, Any]) -> dict[str, Any]:
    return {"method": "grid", "parameters": parameters}


def nested(parameters: dict[str, Any]) -> dict[str, Any]:
    return {"parameters": parameters}


GRID_CASES: list[dict[str, Any]] = [
    {"id": "single_param", "config": grid_config({"a": {"values": [1, 2, 3]}})},
    {"id": "single_value", "config": grid_config({"a": {"values": ["only"]}})},
    {
        "id": "two_params_last_name_fastest",
        "config": grid_config({"z": {"values": [1, 2]}, "a": {"values": ["x", "y"]}}),
    },
    {
        "id": "three_params",
        "config": grid_config(
            {
                "c": {"values": [1, 2, 3]},
                "b": {"values": ["p", "q"]},
                "a": {"values": [0.5, 1.5, 2.5]},
            }
        ),
    },
    {
        "id": "uppercase_sorts_first",
        "config": grid_config({"b": {"values": [1, 2]}, "B": {"values": [3, 4]}}),
    },
    {"id": "type_str", "config": grid_config({"s": {"values": ["adam", "sgd", "", "ünï"]}})},
    {"id": "type_int", "config": grid_config({"i": {"values": [0, -3, 7, 10**12]}})},
    {"id": "type_float", "config": grid_config({"f": {"values": [0.1, -2.5, 1e-5, 3.0e8]}})},
    {"id": "type_bool", "config": grid_config({"b": {"values": [True, False]}})},
    {"id": "type_null", "config": grid_config({"n": {"values": [None, 0, "", False]}})},
    {"id": "type_list", "config": grid_config({"l": {"values": [[1, 2], [], ["a", [3]]]}})},
    {
        "id": "type_dict",
        "config": grid_config({"d": {"values": [{"x": 1}, {}, {"y": {"z": [1, 2]}}]}}),
    },
    {
        "id": "dict_values_same_keys_other_order",
        "config": grid_config({"d": {"values": [{"b": 1, "a": 2}, {"a": 2, "b": 1}, {"a": 3}]}}),
    },
    {
        "id": "list_values_int_vs_float_inside",
        "config": grid_config({"l": {"values": [[1, 2], [1, 2.0]]}}),
    },
    {
        "id": "all_json_types_product",
        "config": grid_config(
            {
                "s": {"values": ["a", "b"]},
                "i": {"values": [1, 2]},
                "f": {"values": [0.25]},
                "t": {"values": [True, False]},
                "n": {"values": [None]},
                "l": {"values": [[1, "x"]]},
                "d": {"values": [{"k": "v"}]},
            }
        ),
    },
    {
        "id": "duplicates_in_one_list",
        "config": grid_config({"a": {"values": [1, 1, 2, True, 1.0]}}),
    },
    {"id": "int_float_equal", "config": grid_config({"a": {"values": [1, 1.0, 2.0, 2, 3.5]}})},
    {"id": "bool_vs_int", "config": grid_config({"a": {"values": [True, 1, False, 0]}})},
    {"id": "int_uniform", "config": grid_config({"a": {"min": 1, "max": 4}})},
    {
        "id": "int_uniform_explicit_negative",
        "config": grid_config({"a": {"distribution": "int_uniform", "min": -2, "max": 1}}),
    },
    {
        "id": "q_uniform_int_q",
        "config": grid_config({"a": {"distribution": "q_uniform", "min": 0, "max": 10, "q": 2}}),
    },
    {
        "id": "q_uniform_float_q",
        "config": grid_config({"a": {"distribution": "q_uniform", "min": 0, "max": 1, "q": 0.25}}),
    },
    {
        "id": "q_uniform_default_q",
        "config": grid_config({"a": {"distribution": "q_uniform", "min": 0, "max": 3}}),
    },
    {
        "id": "q_uniform_float_steps",
        "config": grid_config(
            {"a": {"distribution": "q_uniform", "min": 0.1, "max": 0.5, "q": 0.1}}
        ),
    },
    {
        "id": "q_uniform_negative_range",
        "config": grid_config(
            {"a": {"distribution": "q_uniform", "min": -1.5, "max": 1.0, "q": 0.5}}
        ),
    },
    {
        "id": "q_uniform_max_not_on_step",
        "config": grid_config({"a": {"distribution": "q_uniform", "min": 1, "max": 10, "q": 4}}),
    },
    {
        "id": "q_uniform_arange_overshoot",
        "config": grid_config({"a": {"distribution": "q_uniform", "min": 1, "max": 1.3, "q": 0.1}}),
    },
    {
        "id": "q_uniform_float_q_int_bounds",
        "config": grid_config({"a": {"distribution": "q_uniform", "min": 0, "max": 10, "q": 2.5}}),
    },
    {
        "id": "q_uniform_float_min_int_q",
        "config": grid_config({"a": {"distribution": "q_uniform", "min": 0.5, "max": 3, "q": 1}}),
    },
    {
        "id": "dict_values_int_vs_float_inside",
        "config": grid_config({"d": {"values": [{"x": 1}, {"x": 1.0}, {"x": 2.0}]}}),
    },
    {"id": "string_vs_number", "config": grid_config({"a": {"values": ["1", 1, "1.0", 1.5]}})},
    {"id": "integral_float_alone", "config": grid_config({"a": {"values": [2.0, 3.0]}})},
    {
        "id": "nested_only_constants_block",
        "config": grid_config(
            {"a": {"values": [1, 2]}, "fixed": nested({"k": {"value": 1}, "j": {"value": [2]}})}
        ),
    },
    {
        "id": "nested_dict_values",
        "config": grid_config({"opt": nested({"cfg": {"values": [{"lr": 1}, {"lr": 2}]}})}),
    },
    {
        "id": "constants_between",
        "config": grid_config(
            {
                "b": {"value": 5},
                "a": {"values": [1, 2]},
                "c": {"value": {"k": [1, 2]}},
                "d": {"values": ["x", "y"]},
                "e": {"distribution": "constant", "value": None},
            }
        ),
    },
    {
        "id": "only_constants",
        "config": grid_config({"a": {"value": 1}, "b": {"value": "x"}}),
    },
    {
        "id": "nested_depth_1",
        "config": grid_config(
            {
                "opt": nested({"lr": {"values": [0.1, 0.01]}, "mom": {"values": [0.9, 0.99]}}),
                "a": {"values": [1, 2]},
            }
        ),
    },
    {
        "id": "nested_depth_2",
        "config": grid_config(
            {
                "model": nested(
                    {
                        "enc": nested({"layers": {"values": [2, 4]}, "act": {"value": "relu"}}),
                        "dropout": {"values": [0.0, 0.5]},
                    }
                ),
                "seed": {"values": [1, 2]},
            }
        ),
    },
    {
        "id": "nested_sorts_recursively",
        "config": grid_config(
            {
                "a": nested({"z": {"values": [1, 2]}, "b": {"values": ["u", "v"]}}),
                "a-b": {"values": [3, 4]},
                "a_b": {"values": [5, 6]},
                "a.c": {"values": [7, 8]},
            }
        ),
    },
    {
        "id": "nested_int_uniform_and_q_uniform",
        "config": grid_config(
            {
                "x": nested(
                    {
                        "n": {"min": 1, "max": 3},
                        "q": {"distribution": "q_uniform", "min": 0, "max": 1, "q": 0.5},
                    }
                )
            }
        ),
    },
    {
        "id": "nested_same_leaf_name",
        "config": grid_config(
            {
                "lr": {"values": [1, 2]},
                "opt": nested({"lr": {"values": [3, 4]}}),
            }
        ),
    },
    {
        "id": "big_product",
        "config": grid_config(
            {
                "a": {"values": [1, 2, 3]},
                "b": {"min": 0, "max": 2},
                "c": {"values": ["x", "y", "z"]},
            }
        ),
    },
    {
        "id": "existing_some_points",
        "config": grid_config({"a": {"values": [1, 2, 3]}, "b": {"values": ["x", "y"]}}),
        "existing": [{"a": 2, "b": "x"}, {"a": 1, "b": "y"}, {"a": 3, "b": "y"}],
    },
    {
        "id": "existing_nested",
        "config": grid_config(
            {"opt": nested({"lr": {"values": [0.1, 0.01]}}), "a": {"values": [1, 2]}}
        ),
        "existing": [{"a": 1, "opt": {"lr": 0.01}}],
    },
    {
        "id": "existing_all_points",
        "config": grid_config({"a": {"values": [1, 2]}}),
        "existing": [{"a": 2}, {"a": 1}],
    },
    # The engine refuses these for grid search.
    # The engine refuses these for grid search. Parameter names are distinctive so that a
    # test can check the error message names the parameter.
    {
        "id": "error_uniform",
        "config": grid_config({"ok": {"values": [1]}, "width": {"min": 0.0, "max": 1.0}}),
    },
    {"id": "error_uniform_float_ints", "config": grid_config({"width": {"min": 1.0, "max": 5.0}})},
    {
        "id": "error_categorical_w_probabilities",
        "config": grid_config({"choice": {"values": [1, 2], "probabilities": [0.5, 0.5]}}),
    },
    {"id": "error_normal", "config": grid_config({"noise": {"distribution": "normal"}})},
    {
        "id": "error_log_uniform_values",
        "config": grid_config(
            {"rate": {"distribution": "log_uniform_values", "min": 0.001, "max": 0.1}}
        ),
    },
    {
        "id": "error_nested_uniform",
        "config": grid_config(
            {"b": {"values": [1]}, "opt": nested({"rate": {"min": 0.001, "max": 0.1}})}
        ),
    },
    {"id": "error_beta", "config": grid_config({"ratio": {"distribution": "beta"}})},
]


def grid_enumerate(config: dict[str, Any], existing: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every run the engine suggests, one ``next_run`` at a time, until it returns None."""
    runs = [SweepRun(config=wrap(e), state=RunState.finished) for e in existing]
    out: list[dict[str, Any]] = []
    while True:
        run = next_run(config, runs)
        if run is None:
            return out
        out.append(unwrap(run.config))
        runs.append(SweepRun(config=run.config, state=RunState.finished))
        if len(out) > 10_000:
            raise RuntimeError("grid does not end")


def record_grid() -> list[dict[str, Any]]:
    cases = []
    for case in GRID_CASES:
        config = roundtrip(case["config"])
        existing = roundtrip({"e": case.get("existing", [])})["e"]
        out: dict[str, Any] = {"id": case["id"], "config": config}
        if "existing" in case:
            out["existing"] = existing
        try:
            out["runs"] = grid_enumerate(config, existing)
        except ValueError as exc:
            out["error"] = str(exc)
        if case["id"].startswith("error_") != ("error" in out):
            raise RuntimeError(f"{case['id']}: unexpected outcome {out}")
        cases.append(out)
    return cases


# ------------------------------------------------------------------------- random


def random_config(parameters: dict[str, Any]) -> dict[str, Any]:
    return {"method": "random", "parameters": parameters}


RANDOM_CASES: list[dict[str, Any]] = [
    {"id": "constant", "seed": 1, "config": random_config({"a": {"value": 0.5}})},
    {
        "id": "categorical",
        "seed": 2,
        "config": random_config({"a": {"values": ["x", 2, 3.5, None, True, [1], {"k": 1}]}}),
    },
    {
        "id": "categorical_w_probabilities",
        "seed": 3,
        "config": random_config(
            {"a": {"values": ["lo", "mid", "hi"], "probabilities": [0.2, 0.5, 0.3]}}
        ),
    },
    {"id": "int_uniform", "seed": 4, "config": random_config({"a": {"min": -3, "max": 7}})},
    {"id": "uniform", "seed": 5, "config": random_config({"a": {"min": -1.0, "max": 3.0}})},
    {
        "id": "uniform_explicit_int_bounds",
        "seed": 6,
        "config": random_config({"a": {"distribution": "uniform", "min": 1, "max": 5}}),
    },
    {
        "id": "q_uniform_int_q",
        "seed": 7,
        "config": random_config({"a": {"distribution": "q_uniform", "min": 1, "max": 10, "q": 4}}),
    },
    {
        "id": "q_uniform_float_q",
        "seed": 8,
        "config": random_config(
            {"a": {"distribution": "q_uniform", "min": 0.0, "max": 1.0, "q": 0.1}}
        ),
    },
    {
        "id": "q_uniform_default_q",
        "seed": 9,
        "config": random_config({"a": {"distribution": "q_uniform", "min": 0, "max": 5}}),
    },
    {
        "id": "log_uniform",
        "seed": 10,
        "config": random_config({"a": {"distribution": "log_uniform", "min": -7, "max": 0}}),
    },
    {
        "id": "log_uniform_values",
        "seed": 11,
        "config": random_config(
            {"a": {"distribution": "log_uniform_values", "min": 1e-5, "max": 0.1}}
        ),
    },
    {
        "id": "q_log_uniform",
        "seed": 12,
        "config": random_config(
            {"a": {"distribution": "q_log_uniform", "min": 0, "max": 6, "q": 8}}
        ),
    },
    {
        "id": "q_log_uniform_values",
        "seed": 13,
        "config": random_config(
            {"a": {"distribution": "q_log_uniform_values", "min": 1, "max": 1024}}
        ),
    },
    {
        "id": "q_log_uniform_values_float_q",
        "seed": 14,
        "config": random_config(
            {"a": {"distribution": "q_log_uniform_values", "min": 0.01, "max": 10, "q": 0.05}}
        ),
    },
    {
        "id": "inv_log_uniform",
        "seed": 15,
        "config": random_config({"a": {"distribution": "inv_log_uniform", "min": 0, "max": 5}}),
    },
    {
        "id": "inv_log_uniform_values",
        "seed": 16,
        "config": random_config(
            {"a": {"distribution": "inv_log_uniform_values", "min": 0.001, "max": 1.0}}
        ),
    },
    {"id": "normal", "seed": 17, "config": random_config({"a": {"distribution": "normal"}})},
    {
        "id": "normal_mu_sigma",
        "seed": 18,
        "config": random_config({"a": {"distribution": "normal", "mu": 10, "sigma": 2.5}}),
    },
    {
        "id": "q_normal",
        "seed": 19,
        "config": random_config({"a": {"distribution": "q_normal", "mu": 5, "sigma": 3, "q": 2}}),
    },
    {
        "id": "q_normal_default_q",
        "seed": 20,
        "config": random_config({"a": {"distribution": "q_normal"}}),
    },
    {
        "id": "log_normal",
        "seed": 21,
        "config": random_config({"a": {"distribution": "log_normal"}}),
    },
    {
        "id": "log_normal_mu_sigma",
        "seed": 22,
        "config": random_config({"a": {"distribution": "log_normal", "mu": -2, "sigma": 0.5}}),
    },
    {
        "id": "q_log_normal",
        "seed": 23,
        "config": random_config(
            {"a": {"distribution": "q_log_normal", "mu": 1, "sigma": 1, "q": 0.5}}
        ),
    },
    {"id": "beta", "seed": 24, "config": random_config({"a": {"distribution": "beta"}})},
    {
        "id": "beta_a_b",
        "seed": 25,
        "config": random_config({"a": {"distribution": "beta", "a": 2, "b": 5}}),
    },
    {
        "id": "q_beta",
        "seed": 26,
        "config": random_config({"a": {"distribution": "q_beta", "a": 0.5, "b": 0.5, "q": 0.1}}),
    },
    {
        "id": "q_beta_int_q",
        "seed": 27,
        "config": random_config({"a": {"distribution": "q_beta", "q": 1}}),
    },
    {
        "id": "log_uniform_values_int_bounds",
        "seed": 28,
        "config": random_config(
            {"a": {"distribution": "log_uniform_values", "min": 1, "max": 1000}}
        ),
    },
    {
        "id": "q_uniform_negative_float_q",
        "seed": 29,
        "config": random_config(
            {"a": {"distribution": "q_uniform", "min": -2.0, "max": 2.0, "q": 1.0}}
        ),
    },
    {"id": "categorical_single", "seed": 30, "config": random_config({"a": {"values": [7]}})},
    {
        "id": "categorical_w_probabilities_zero",
        "seed": 31,
        "config": random_config(
            {"a": {"values": [1, 2, 3, 4], "probabilities": [0.0, 0.5, 0.0, 0.5]}}
        ),
    },
    {
        "id": "nested_depth_3",
        "seed": 106,
        "config": random_config(
            {
                "a": nested({"b": nested({"c": nested({"d": {"min": 0, "max": 3}})})}),
                "b": {"values": [True, False]},
            }
        ),
    },
    {
        "id": "multi_param_with_constants",
        "seed": 100,
        "config": random_config(
            {
                "lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1},
                "batch": {"values": [16, 32, 64]},
                "epochs": {"value": 10},
                "dropout": {"min": 0.0, "max": 0.5},
                "layers": {"min": 1, "max": 4},
                "act": {"distribution": "constant", "value": "relu"},
            }
        ),
    },
    {
        "id": "multi_param_all_kinds",
        "seed": 101,
        "config": random_config(
            {
                "c": {"distribution": "normal", "mu": 1, "sigma": 0.1},
                "b": {"distribution": "beta", "a": 3, "b": 2},
                "a": {"values": [1, 2], "probabilities": [0.9, 0.1]},
                "d": {"distribution": "q_uniform", "min": 0, "max": 100, "q": 5},
                "e": {"distribution": "inv_log_uniform_values", "min": 1, "max": 100},
            }
        ),
    },
    {
        "id": "nested_depth_1",
        "seed": 102,
        "config": random_config(
            {
                "opt": nested(
                    {
                        "lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-2},
                        "name": {"values": ["adam", "sgd"]},
                    }
                ),
                "a": {"min": 0.0, "max": 1.0},
                "z": {"value": 3},
            }
        ),
    },
    {
        "id": "nested_depth_2",
        "seed": 103,
        "config": random_config(
            {
                "model": nested(
                    {
                        "enc": nested({"width": {"min": 16, "max": 64}, "kind": {"value": "mlp"}}),
                        "dropout": {"distribution": "uniform", "min": 0, "max": 1},
                    }
                ),
                "seed": {"min": 0, "max": 1000},
            }
        ),
    },
    {
        "id": "nested_sorts_recursively",
        "seed": 104,
        "config": random_config(
            {
                "a": nested({"z": {"min": 0.0, "max": 1.0}, "b": {"min": 0, "max": 9}}),
                "a-b": {"min": 10.0, "max": 20.0},
                "a_b": {"values": ["p", "q", "r"]},
                "a.c": {"distribution": "normal"},
            }
        ),
    },
    {
        "id": "nested_mixed_int_float_bounds",
        "seed": 105,
        "config": random_config({"x": nested({"m": {"min": 1, "max": 2.5}})}),
    },
]


def record_random() -> list[dict[str, Any]]:
    cases = []
    for case in RANDOM_CASES:
        config = roundtrip(case["config"])
        violations = schema_violations_from_proposed_config(config)
        if [v for v in violations if "base-e exponents" not in v]:
            raise RuntimeError(f"{case['id']}: engine rejects {violations}")
        random.seed(case["seed"])
        samples = []
        for _ in range(RANDOM_SAMPLES):
            run = next_run(config, [])
            assert run is not None
            samples.append(unwrap(run.config))
        cases.append({"id": case["id"], "config": config, "seed": case["seed"], "samples": samples})
    return cases


# --------------------------------------------------------------------- validation


def cfg(parameters: Any = None, method: Any = "random", **extra: Any) -> dict[str, Any]:
    """A sweep config; ``parameters=None`` means a one-parameter default block."""
    out: dict[str, Any] = {"method": method}
    out["parameters"] = {"a": {"values": [1, 2]}} if parameters is None else parameters
    out.update(extra)
    return out


def et(early_terminate: Any, **extra: Any) -> dict[str, Any]:
    """A config with ``early_terminate`` and the metric it needs."""
    return cfg(metric={"name": "loss"}, early_terminate=early_terminate, **extra)


def p(**spec: Any) -> dict[str, Any]:
    """A config with the single parameter ``lr`` defined by ``spec``."""
    return cfg({"lr": spec})


VALIDATION_CASES: list[tuple[str, dict[str, Any]]] = [
    # every distribution, valid
    ("valid_categorical", p(values=[1, "a", None])),
    ("valid_constant", p(value=3)),
    ("valid_constant_null", p(value=None)),
    ("valid_constant_explicit", p(distribution="constant", value=[1, 2])),
    ("valid_categorical_w_probabilities", p(values=[1, 2], probabilities=[0.25, 0.75])),
    ("valid_int_uniform", p(min=1, max=5)),
    ("valid_int_uniform_explicit", p(distribution="int_uniform", min=-5, max=5)),
    ("valid_uniform", p(min=0.001, max=0.1)),
    ("valid_uniform_explicit_int_bounds", p(distribution="uniform", min=1, max=5)),
    ("valid_uniform_float_integral_bounds", p(min=1.0, max=5.0)),
    ("valid_q_uniform", p(distribution="q_uniform", min=0, max=10, q=2)),
    ("valid_q_uniform_default_q", p(distribution="q_uniform", min=0, max=10)),
    ("valid_log_uniform_values", p(distribution="log_uniform_values", min=1e-5, max=0.1)),
    ("valid_q_log_uniform_values", p(distribution="q_log_uniform_values", min=1, max=256, q=2)),
    ("valid_inv_log_uniform_values", p(distribution="inv_log_uniform_values", min=0.1, max=10)),
    ("valid_normal", p(distribution="normal")),
    ("valid_normal_mu_sigma", p(distribution="normal", mu=2, sigma=0.5)),
    ("valid_normal_sigma_zero", p(distribution="normal", sigma=0)),
    ("valid_q_normal", p(distribution="q_normal", q=0.5)),
    ("valid_log_normal", p(distribution="log_normal", mu=-1, sigma=2)),
    ("valid_q_log_normal", p(distribution="q_log_normal")),
    ("valid_beta", p(distribution="beta", a=2, b=3)),
    ("valid_q_beta", p(distribution="q_beta", q=0.1)),
    ("valid_categorical_explicit", p(distribution="categorical", values=[1, 2])),
    ("valid_beta_a_zero", p(distribution="beta", a=0)),
    (
        "probabilities_sum_close",
        p(values=[1, 2, 3], probabilities=[0.3333333, 0.3333333, 0.3333333]),
    ),
    ("probabilities_sum_not_close", p(values=[1, 2, 3], probabilities=[0.333, 0.333, 0.333])),
    # deprecated: accepted by both, the engine reports a deprecation message
    ("deprecated_log_uniform", p(distribution="log_uniform", min=-5, max=0)),
    ("deprecated_q_log_uniform", p(distribution="q_log_uniform", min=0, max=5, q=1)),
    ("deprecated_inv_log_uniform", p(distribution="inv_log_uniform", min=0, max=5)),
    # bad fields
    ("uniform_min_gt_max", p(min=0.5, max=0.1)),
    ("uniform_min_eq_max", p(min=0.5, max=0.5)),
    ("int_uniform_min_gt_max", p(min=5, max=1)),
    ("int_uniform_min_eq_max", p(min=3, max=3)),
    ("int_uniform_float_bounds_explicit", p(distribution="int_uniform", min=1.0, max=5.0)),
    ("uniform_missing_max", p(distribution="uniform", min=0.1)),
    ("min_only", p(min=0.1)),
    ("q_uniform_missing_min", p(distribution="q_uniform", max=10)),
    ("q_uniform_q_zero", p(distribution="q_uniform", min=0, max=10, q=0)),
    ("q_uniform_q_negative", p(distribution="q_uniform", min=0, max=10, q=-1)),
    ("q_normal_q_zero", p(distribution="q_normal", q=0)),
    ("normal_sigma_negative", p(distribution="normal", sigma=-1)),
    ("log_normal_sigma_negative", p(distribution="log_normal", sigma=-0.5)),
    ("beta_a_negative", p(distribution="beta", a=-1)),
    ("probabilities_wrong_length", p(values=[1, 2, 3], probabilities=[0.5, 0.5])),
    ("probabilities_bad_sum", p(values=[1, 2], probabilities=[0.5, 0.6])),
    ("probabilities_negative", p(values=[1, 2], probabilities=[1.5, -0.5])),
    ("log_uniform_values_min_zero", p(distribution="log_uniform_values", min=0, max=1)),
    (
        "log_uniform_values_min_negative",
        p(distribution="log_uniform_values", min=-1.0, max=1.0),
    ),
    ("log_uniform_values_min_gt_max", p(distribution="log_uniform_values", min=1.0, max=0.1)),
    ("categorical_empty_values", p(values=[])),
    ("categorical_values_not_list", p(values=5)),
    ("unknown_distribution", p(distribution="gaussian", mu=0)),
    ("distribution_wrong_fields", p(distribution="normal", min=0, max=1)),
    ("parameter_extra_key", p(values=[1, 2], default=1)),
    ("parameter_empty_dict", p()),
    ("parameter_not_a_dict", cfg({"lr": 0.1})),
    ("bool_bound", p(min=True, max=5)),
    ("constant_without_value", p(distribution="constant")),
    ("value_and_values", p(value=1, values=[1, 2])),
    ("bound_null", p(min=None, max=1)),
    ("q_uniform_min_gt_max", p(distribution="q_uniform", min=5, max=1)),
    ("inv_log_uniform_values_min_zero", p(distribution="inv_log_uniform_values", min=0, max=1)),
    ("q_log_uniform_values_min_zero", p(distribution="q_log_uniform_values", min=0, max=8)),
    ("log_uniform_values_max_negative", p(distribution="log_uniform_values", min=0.1, max=-1)),
    ("q_string", p(distribution="q_uniform", min=0, max=10, q="2")),
    # numbers written as strings (PyYAML reads 1e-5 as a string)
    ("string_number_min", p(min="1e-5", max=0.1)),
    ("string_number_log_uniform_values", p(distribution="log_uniform_values", min="1e-5", max=1)),
    ("string_number_both", p(min="1e-5", max="1e-1")),
    # mixed int/float bounds
    ("mixed_int_float_top", p(min=1, max=2.5)),
    ("mixed_float_int_top", p(min=0.5, max=2)),
    ("mixed_int_float_nested", cfg({"opt": {"parameters": {"m": {"min": 1, "max": 2.5}}}})),
    ("mixed_int_float_explicit_uniform", p(distribution="uniform", min=1, max=2.5)),
    # metric
    ("metric_valid", cfg(metric={"name": "loss", "goal": "minimize"})),
    (
        "metric_full",
        cfg(
            metric={
                "name": "acc",
                "goal": "maximize",
                "target": 0.99,
                "impute": "best",
                "impute_while_running": "latest",
            }
        ),
    ),
    ("metric_bad_goal", cfg(metric={"name": "loss", "goal": "minimise"})),
    ("metric_missing_name", cfg(metric={"goal": "minimize"})),
    ("metric_extra_key", cfg(metric={"name": "loss", "mode": "min"})),
    ("metric_bad_impute", cfg(metric={"name": "loss", "impute": "zero"})),
    ("metric_target_string", cfg(metric={"name": "loss", "target": "0.1"})),
    ("metric_goal_capitalised", cfg(metric={"name": "loss", "goal": "Minimize"})),
    ("metric_not_a_dict", cfg(metric="loss")),
    ("metric_impute_while_running_bool", cfg(metric={"name": "l", "impute_while_running": False})),
    ("metric_name_not_string", cfg(metric={"name": 3})),
    # top level
    ("unknown_top_level_key", cfg(epochs=3)),
    ("localsweep_options_key", cfg(localsweep={"seed": 1})),
    ("wrapped_config", {"sweep": cfg()}),
    ("method_missing", {"parameters": {"a": {"values": [1]}}}),
    ("method_bad", cfg(method="grid_search")),
    ("method_custom", cfg(method="custom")),
    ("method_grid", cfg(method="grid")),
    ("method_bayes", cfg(method="bayes", metric={"name": "loss"})),
    ("method_bayes_no_metric", cfg(method="bayes")),
    ("bayes_only_constants", cfg({"a": {"value": 1}}, method="bayes", metric={"name": "loss"})),
    ("grid_with_uniform", cfg({"lr": {"min": 0.1, "max": 0.5}}, method="grid")),
    (
        "grid_with_probabilities",
        cfg({"c": {"values": [1, 2], "probabilities": [0.5, 0.5]}}, method="grid"),
    ),
    (
        "grid_with_q_uniform",
        cfg({"c": {"distribution": "q_uniform", "min": 0, "max": 1}}, method="grid"),
    ),
    ("run_cap_valid", cfg(run_cap=10)),
    ("run_cap_zero", cfg(run_cap=0)),
    ("run_cap_negative", cfg(run_cap=-1)),
    ("run_cap_float", cfg(run_cap=2.5)),
    ("run_cap_string", cfg(run_cap="10")),
    ("program_and_names", cfg(program="train.py", name="s", description="d", project="p")),
    ("entity_and_kind", cfg(entity="me", kind="sweep", apiVersion="v1")),
    ("kind_bad", cfg(kind="job")),
    ("program_not_string", cfg(program=["train.py"])),
    ("command_list", cfg(command=["${env}", "${interpreter}", "${program}", "${args}"])),
    ("command_not_list", cfg(command="python train.py")),
    ("command_non_string_item", cfg(command=["python", "train.py", 3])),
    ("command_empty", cfg(command=[])),
    ("name_not_string", cfg(name=3)),
    ("job_and_image_uri", cfg(job="j", image_uri="u")),
    # early_terminate
    ("et_min_iter_only", et({"type": "hyperband", "min_iter": 3})),
    ("et_max_iter_s", et({"type": "hyperband", "max_iter": 27, "s": 2})),
    ("et_max_iter_without_s", et({"type": "hyperband", "max_iter": 27})),
    (
        "et_max_iter_min_iter_without_s",
        et({"type": "hyperband", "max_iter": 27, "min_iter": 3}),
    ),
    ("et_eta_1", et({"type": "hyperband", "min_iter": 3, "eta": 1})),
    ("et_eta_half", et({"type": "hyperband", "min_iter": 3, "eta": 0.5})),
    ("et_eta_float", et({"type": "hyperband", "min_iter": 3, "eta": 2.5})),
    ("et_unknown_key", et({"type": "hyperband", "min_iter": 3, "foo": 1})),
    ("et_strict_false", et({"type": "hyperband", "min_iter": 3, "strict": False})),
    (
        "et_strict_not_bool",
        et({"type": "hyperband", "min_iter": 3, "strict": "yes"}),
    ),
    ("et_missing_type", et({"min_iter": 3})),
    ("et_bad_type", et({"type": "median", "min_iter": 3})),
    ("et_min_iter_zero", et({"type": "hyperband", "min_iter": 0})),
    ("et_min_iter_float", et({"type": "hyperband", "min_iter": 2.5})),
    ("et_no_bounds", et({"type": "hyperband"})),
    ("et_s_float", et({"type": "hyperband", "max_iter": 27, "s": 2.5})),
    ("et_no_band", et({"type": "hyperband", "max_iter": 2, "s": 1})),
    ("et_without_metric", cfg(early_terminate={"type": "hyperband", "min_iter": 3})),
    ("et_s_zero", et({"type": "hyperband", "max_iter": 27, "s": 0})),
    ("et_all_three", et({"type": "hyperband", "max_iter": 27, "s": 2, "min_iter": 3})),
    ("et_not_a_dict", et("hyperband")),
    ("et_eta_string", et({"type": "hyperband", "min_iter": 3, "eta": "3"})),
    ("et_max_iter_float", et({"type": "hyperband", "max_iter": 27.5, "s": 2})),
    # parameter names
    ("name_starts_with_digit", cfg({"1lr": {"values": [1]}})),
    ("name_with_space", cfg({"my lr": {"values": [1]}})),
    ("name_with_dollar", cfg({"lr$": {"values": [1]}})),
    ("name_empty", cfg({"": {"values": [1]}})),
    ("name_dots_dashes_ok", cfg({"_a.b-c": {"values": [1]}})),
    ("nested_name_bad", cfg({"opt": {"parameters": {"l r": {"values": [1]}}}})),
    # parameters block
    ("parameters_empty", cfg({})),
    ("parameters_missing", {"method": "random"}),
    ("parameters_not_a_dict", cfg([{"a": 1}])),
    # nesting
    (
        "nested_valid",
        cfg(
            {
                "opt": {
                    "parameters": {
                        "lr": {"min": 0.001, "max": 0.1},
                        "inner": {"parameters": {"k": {"values": [1, 2]}}},
                    }
                }
            }
        ),
    ),
    ("nested_min_gt_max", cfg({"opt": {"parameters": {"lr": {"min": 0.5, "max": 0.1}}}})),
    ("nested_empty_parameters", cfg({"opt": {"parameters": {}}})),
    ("nested_bad_distribution", cfg({"opt": {"parameters": {"lr": {"distribution": "nope"}}}})),
    (
        "nested_parameters_and_values",
        cfg({"opt": {"parameters": {"lr": {"values": [1]}}, "values": [1]}}),
    ),
    (
        "nested_bad_probabilities",
        cfg({"opt": {"parameters": {"c": {"values": [1, 2], "probabilities": [0.9, 0.9]}}}}),
    ),
    (
        "nested_deprecated",
        cfg({"opt": {"parameters": {"lr": {"distribution": "log_uniform", "min": -5, "max": 0}}}}),
    ),
    (
        "nested_log_uniform_values_min_zero",
        cfg(
            {
                "opt": {
                    "parameters": {"lr": {"distribution": "log_uniform_values", "min": 0, "max": 1}}
                }
            }
        ),
    ),
    ("parameters_null", {"method": "random", "parameters": None}),
    ("method_null", cfg(method=None)),
    ("controller_not_a_dict", cfg(controller="local")),
    # controller, scheduler, metrics
    ("controller_local", cfg(controller={"type": "local"})),
    ("controller_cloud", cfg(controller={"type": "cloud"})),
    ("controller_bad_type", cfg(controller={"type": "remote"})),
    ("controller_missing_type", cfg(controller={})),
    ("scheduler_optuna_custom", cfg(method="custom", scheduler={"engine": "optuna"})),
    ("scheduler_wandb_random", cfg(scheduler={"engine": "wandb"})),
    ("scheduler_optuna_random", cfg(scheduler={"engine": "optuna"})),
    (
        "scheduler_with_local_controller",
        cfg(method="custom", scheduler={"engine": "optuna"}, controller={"type": "local"}),
    ),
    (
        "scheduler_with_early_terminate",
        cfg(
            scheduler={"engine": "wandb"},
            early_terminate={"type": "hyperband", "min_iter": 3},
        ),
    ),
    (
        "scheduler_search_space_no_parameters",
        {
            "method": "custom",
            "scheduler": {"engine": "optuna", "source": "s.py", "search_space": "space"},
        },
    ),
    ("metrics_custom", cfg(method="custom", metrics=[{"name": "a"}, {"name": "b"}])),
    ("metrics_random", cfg(metrics=[{"name": "a"}, {"name": "b"}])),
    ("metrics_one_item", cfg(method="custom", metrics=[{"name": "a"}])),
    ("metric_and_metrics", cfg(metric={"name": "a"}, metrics=[{"name": "a"}, {"name": "b"}])),
]


def engine_violations(config: Any) -> list[str]:
    try:
        return [str(v) for v in schema_violations_from_proposed_config(config)]
    except Exception as exc:  # recorded, since a crash is the engine's way of rejecting
        return [f"EXCEPTION: {type(exc).__name__}: {exc}"]


def client_errors(configs: list[Any], client_python: str) -> list[str | None]:
    """wandb 0.31's client-side verdict on each config, computed in its own interpreter."""
    proc = subprocess.run(
        [client_python, str(CLIENT_SCRIPT)],
        input=json.dumps(configs),
        capture_output=True,
        text=True,
        check=True,
    )
    errors = json.loads(proc.stdout)
    if len(errors) != len(configs):
        raise RuntimeError("client script returned the wrong number of answers")
    return errors


def record_validation(client_python: str) -> list[dict[str, Any]]:
    ids = [case_id for case_id, _ in VALIDATION_CASES]
    if len(set(ids)) != len(ids):
        raise RuntimeError("duplicate validation case id")
    configs = [roundtrip(config) for _, config in VALIDATION_CASES]
    client = client_errors(configs, client_python)
    return [
        {
            "id": case_id,
            "config": config,
            "engine_violations": engine_violations(config),
            "client_error": error,
        }
        for case_id, config, error in zip(ids, configs, client, strict=True)
    ]


def write(name: str, cases: list[dict[str, Any]]) -> None:
    ids = [c["id"] for c in cases]
    if len(set(ids)) != len(ids):
        raise RuntimeError(f"{name}: duplicate case id")
    text = json.dumps(cases, indent=1, sort_keys=True, allow_nan=False, ensure_ascii=False)
    (GOLDEN / name).write_text(text + "\n", encoding="utf-8")
    print(f"wrote {len(cases)} cases to {GOLDEN / name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--client-python",
        default="python3",
        help="an interpreter with wandb 0.31 installed (default: python3 on PATH)",
    )
    args = parser.parse_args()
    if sweeps.__version__ != "0.3.0":
        sys.exit(f"expected sweeps 0.3.0, found {sweeps.__version__}")
    GOLDEN.mkdir(parents=True, exist_ok=True)
    write("grid.json", record_grid())
    write("random.json", record_random())
    write("validation.json", record_validation(args.client_python))


if __name__ == "__main__":
    main()
