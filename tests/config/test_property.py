"""Any JSON-like input gives a SweepConfig or a ConfigError, never another exception."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from localsweep.config import SweepConfig, parse_config
from localsweep.errors import ConfigError

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=8),
    st.sampled_from(["1e-5", "-3e2", "1", "minimise", "hyperband", "uniform", "false"]),
)
json_like = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=20,
)

# Keys and values from wandb's own vocabulary, so the parser's deeper branches are reached.
SPEC_KEYS = [
    "distribution",
    "values",
    "value",
    "probabilities",
    "min",
    "max",
    "q",
    "mu",
    "sigma",
    "a",
    "b",
    "parameters",
]
DISTRIBUTIONS = [
    "constant", "categorical", "categorical_w_probabilities", "int_uniform", "uniform",
    "q_uniform", "log_uniform", "log_uniform_values", "q_log_uniform", "q_log_uniform_values",
    "inv_log_uniform", "inv_log_uniform_values", "normal", "q_normal", "log_normal",
    "q_log_normal", "beta", "q_beta", "gaussian",
]  # fmt: skip
numbers = st.one_of(
    st.integers(min_value=-5, max_value=5),
    st.floats(min_value=-5, max_value=5),
    st.sampled_from([0, 0.0, 1e-4, 0.1, 1, 100.0, "1e-3", float("nan"), True]),
)
spec_values = st.one_of(
    numbers,
    st.sampled_from(DISTRIBUTIONS),
    st.lists(st.one_of(numbers, st.text(max_size=3)), max_size=4),
    json_like,
)


def specs(depth: int = 2) -> st.SearchStrategy[Any]:
    leaf = st.dictionaries(st.sampled_from(SPEC_KEYS[:-1]), spec_values, max_size=4)
    if depth == 0:
        return leaf
    nested = st.fixed_dictionaries(
        {
            "parameters": st.dictionaries(
                st.sampled_from(["a", "b", "1x", "c.d"]), specs(depth - 1), max_size=3
            )
        }
    )
    return st.one_of(leaf, leaf, nested, json_like)


configs = st.fixed_dictionaries(
    {
        "method": st.sampled_from(["grid", "random", "bayes", "custom", "nope", None]),
        "parameters": st.dictionaries(
            st.sampled_from(["lr", "x", "opt", "bad name"]), specs(), max_size=4
        ),
    },
    optional={
        "metric": st.one_of(
            st.fixed_dictionaries(
                {"name": st.sampled_from(["loss", 3])},
                optional={
                    "goal": st.sampled_from(["minimize", "maximize", "minimise", 1]),
                    "target": numbers,
                    "impute_while_running": st.sampled_from([False, "false", "best", 0]),
                },
            ),
            json_like,
        ),
        "early_terminate": st.one_of(
            st.dictionaries(
                st.sampled_from(["type", "min_iter", "max_iter", "s", "eta", "strict"]),
                st.one_of(numbers, st.sampled_from(["hyperband", True])),
            ),
            json_like,
        ),
        "run_cap": numbers,
        "command": st.one_of(st.lists(st.one_of(st.text(max_size=3), numbers)), json_like),
        "localsweep": st.one_of(
            st.dictionaries(st.sampled_from(["seed", "sampler", "x"]), spec_values), json_like
        ),
        "scheduler": json_like,
        "controller": json_like,
    },
)


def parses_or_rejects(raw: Any) -> None:
    try:
        result = parse_config(raw)
    except ConfigError as exc:
        assert exc.violations, "a ConfigError must name at least one violation"
    else:
        assert isinstance(result, SweepConfig)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.text(max_size=10), json_like, max_size=6))
def test_any_json_like_mapping_parses_or_is_rejected(raw: dict[str, Any]) -> None:
    parses_or_rejects(raw)


@settings(max_examples=250, deadline=None)
@given(configs)
def test_any_config_shaped_input_parses_or_is_rejected(raw: dict[str, Any]) -> None:
    parses_or_rejects(raw)


@settings(max_examples=150, deadline=None)
@given(configs)
def test_accepted_configs_can_be_sampled(raw: dict[str, Any]) -> None:
    try:
        cfg = parse_config(raw)
    except ConfigError:
        return
    for p in cfg.parameters:
        p.ppf(0.5)
