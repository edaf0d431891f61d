"""Random search samples every distribution as wandb defines it.

Each test draws a few thousand values with a fixed seed and checks them against the
distribution the config describes: bounds, a Kolmogorov-Smirnov test for continuous
distributions, a chi-square test of the bin counts for discrete and quantized ones.
The p-value threshold (1e-4) is generous, so a correct sampler passes with any seed,
while a wrong scale (values instead of exponents, a wrong q, a missing value) fails
by a wide margin.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from typing import Any

import numpy as np
import pytest
from scipy import stats

from localsweep.config import SweepConfig, parse_config
from localsweep.search import make_search
from localsweep.search._random import RandomSearch

N = 2000
P_MIN = 1e-4


def config(spec: dict[str, Any]) -> SweepConfig:
    return parse_config({"method": "random", "parameters": {"x": spec}})


def draw(spec: dict[str, Any], seed: int = 1, n: int = N) -> list[Any]:
    search = RandomSearch(config(spec))
    rng = random.Random(seed)
    return [search.propose([], rng).params[("x",)] for _ in range(n)]


def ks(sample: Any, cdf: Any) -> float:
    return float(stats.kstest(np.asarray(sample, dtype=float), cdf).pvalue)


def chi2(sample: list[Any], expected: dict[Any, float]) -> float:
    counts = Counter(sample)
    assert set(counts) <= set(expected), f"unexpected values {set(counts) - set(expected)}"
    keys = [k for k, p in expected.items() if p * len(sample) >= 5]
    observed = [counts[k] for k in keys]
    probs = np.array([expected[k] for k in keys])
    return float(stats.chisquare(observed, probs / probs.sum() * sum(observed)).pvalue)


def quantized(cdf: Any, q: float, lo: float, hi: float) -> dict[float, float]:
    """P(value = k*q) for k*q in [lo, hi]: the mass of the continuous cdf rounding to k."""
    out: dict[float, float] = {}
    for k in range(math.floor(lo / q) - 1, math.ceil(hi / q) + 2):
        p = cdf((k + 0.5) * q) - cdf((k - 0.5) * q)
        if p > 0:
            out[k * q] = float(p)
    return out


def test_uniform_stays_in_bounds_and_is_uniform() -> None:
    xs = draw({"min": -2.0, "max": 3.0})
    assert all(-2.0 <= x <= 3.0 for x in xs)
    assert ks(xs, stats.uniform(-2.0, 5.0).cdf) > P_MIN


def test_int_uniform_hits_every_integer_equally_including_max() -> None:
    xs = draw({"min": 1, "max": 6})
    assert all(type(x) is int for x in xs)
    assert chi2(xs, {k: 1 / 6 for k in range(1, 7)}) > P_MIN


def test_categorical_picks_each_value_equally() -> None:
    xs = draw({"values": ["a", "b", "c", None]})
    assert chi2(xs, {"a": 0.25, "b": 0.25, "c": 0.25, None: 0.25}) > P_MIN


def test_categorical_w_probabilities_follows_the_probabilities() -> None:
    xs = draw({"values": ["a", "b", "c"], "probabilities": [0.1, 0.6, 0.3]})
    assert chi2(xs, {"a": 0.1, "b": 0.6, "c": 0.3}) > P_MIN


def test_constant_is_always_its_value() -> None:
    assert set(draw({"value": 7}, n=50)) == {7}


def test_log_uniform_values_is_uniform_in_log_space_between_the_values() -> None:
    xs = draw({"distribution": "log_uniform_values", "min": 1e-5, "max": 1e-1})
    assert all(1e-5 <= x <= 1e-1 for x in xs)
    assert ks(np.log(xs), stats.uniform(math.log(1e-5), math.log(1e4)).cdf) > P_MIN


def test_log_uniform_bounds_are_exponents_of_e() -> None:
    xs = draw({"distribution": "log_uniform", "min": -5.0, "max": -1.0})
    assert all(math.exp(-5) <= x <= math.exp(-1) for x in xs)
    assert ks(np.log(xs), stats.uniform(-5.0, 4.0).cdf) > P_MIN


def test_inv_log_uniform_is_exp_of_minus_a_uniform_exponent() -> None:
    xs = draw({"distribution": "inv_log_uniform", "min": 1.0, "max": 4.0})
    assert all(math.exp(-4) <= x <= math.exp(-1) for x in xs)
    assert ks(-np.log(xs), stats.uniform(1.0, 3.0).cdf) > P_MIN


def test_inv_log_uniform_values_is_log_uniform_between_the_values() -> None:
    xs = draw({"distribution": "inv_log_uniform_values", "min": 1e-3, "max": 1.0})
    assert all(1e-3 <= x <= 1.0 for x in xs)
    assert ks(np.log(xs), stats.uniform(math.log(1e-3), -math.log(1e-3)).cdf) > P_MIN


def test_normal_has_the_given_mean_and_spread() -> None:
    xs = draw({"distribution": "normal", "mu": 3.0, "sigma": 0.5})
    assert ks(xs, stats.norm(3.0, 0.5).cdf) > P_MIN


def test_normal_defaults_to_standard() -> None:
    assert ks(draw({"distribution": "normal"}), stats.norm(0, 1).cdf) > P_MIN


def test_log_normal_is_normal_in_log_space() -> None:
    xs = draw({"distribution": "log_normal", "mu": -1.0, "sigma": 0.3})
    assert all(x > 0 for x in xs)
    assert ks(np.log(xs), stats.norm(-1.0, 0.3).cdf) > P_MIN


def test_beta_follows_a_and_b() -> None:
    xs = draw({"distribution": "beta", "a": 2.0, "b": 5.0})
    assert all(0 <= x <= 1 for x in xs)
    assert ks(xs, stats.beta(2.0, 5.0).cdf) > P_MIN


def test_q_uniform_rounds_to_multiples_of_q() -> None:
    xs = draw({"distribution": "q_uniform", "min": 0, "max": 10, "q": 2})
    assert all(type(x) is int and x % 2 == 0 for x in xs)
    assert chi2(xs, quantized(stats.uniform(0, 10).cdf, 2, 0, 10)) > P_MIN


def test_q_uniform_can_round_below_min() -> None:
    xs = draw({"distribution": "q_uniform", "min": 1, "max": 10, "q": 4})
    assert set(xs) == {0, 4, 8}
    assert chi2(xs, quantized(stats.uniform(1, 9).cdf, 4, 1, 10)) > P_MIN


def test_q_uniform_with_float_q_gives_float_multiples() -> None:
    xs = draw({"distribution": "q_uniform", "min": 0.0, "max": 1.0, "q": 0.25})
    assert all(type(x) is float for x in xs)
    assert chi2(xs, quantized(stats.uniform(0, 1).cdf, 0.25, 0, 1)) > P_MIN


def test_q_log_uniform_values_rounds_log_uniform_values() -> None:
    xs = draw({"distribution": "q_log_uniform_values", "min": 1, "max": 64, "q": 1})
    dist = stats.loguniform(1, 64)
    assert all(type(x) is int and 1 <= x <= 64 for x in xs)
    assert chi2(xs, quantized(dist.cdf, 1, 1, 64)) > P_MIN


def test_q_log_uniform_rounds_exp_of_the_exponent_range() -> None:
    xs = draw({"distribution": "q_log_uniform", "min": 0.0, "max": 3.0, "q": 2.0})
    dist = stats.loguniform(1, math.exp(3))
    assert chi2(xs, quantized(dist.cdf, 2.0, 1, math.exp(3))) > P_MIN


def test_q_normal_rounds_normal_samples() -> None:
    xs = draw({"distribution": "q_normal", "mu": 0.0, "sigma": 2.0, "q": 1})
    assert chi2(xs, quantized(stats.norm(0, 2).cdf, 1, -10, 10)) > P_MIN


def test_q_log_normal_rounds_log_normal_samples() -> None:
    xs = draw({"distribution": "q_log_normal", "mu": 1.0, "sigma": 0.5, "q": 0.5})
    dist = stats.lognorm(s=0.5, scale=math.e)
    assert chi2(xs, quantized(dist.cdf, 0.5, 0, 20)) > P_MIN


def test_q_beta_rounds_beta_samples() -> None:
    xs = draw({"distribution": "q_beta", "a": 2.0, "b": 2.0, "q": 0.1})
    assert chi2(xs, quantized(stats.beta(2, 2).cdf, 0.1, 0, 1)) > P_MIN


def test_a_wrong_scale_is_detected() -> None:
    # The statistical checks above must be able to fail: exponents are not values.
    xs = draw({"distribution": "log_uniform", "min": -5.0, "max": -1.0})
    assert ks(np.log(xs), stats.uniform(math.log(1e-5), math.log(1e4)).cdf) < P_MIN


def test_same_seed_gives_the_same_runs() -> None:
    spec = {"distribution": "normal"}
    assert draw(spec, seed=5, n=20) == draw(spec, seed=5, n=20)
    assert draw(spec, seed=5, n=20) != draw(spec, seed=6, n=20)


def test_every_parameter_including_constants_uses_one_draw_in_config_order() -> None:
    cfg = parse_config(
        {
            "method": "random",
            "parameters": {
                "b": {"min": 0.0, "max": 1.0},
                "a": {"value": "const"},
                "c": {"parameters": {"d": {"min": 0.0, "max": 1.0}}},
            },
        }
    )
    proposal = RandomSearch(cfg).propose([], random.Random(3))
    u = random.Random(3)
    expected = [u.random() for _ in range(3)]  # a, b, c.d in that order
    assert proposal.params == {("a",): "const", ("b",): expected[1], ("c", "d"): expected[2]}
    assert proposal.grid_key is None


def test_make_search_builds_a_random_search() -> None:
    assert isinstance(make_search(config({"value": 1})), RandomSearch)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_values_are_plain_python_types(seed: int) -> None:
    cfg = parse_config(
        {
            "method": "random",
            "parameters": {
                "u": {"min": 0.0, "max": 1.0},
                "i": {"min": 0, "max": 3},
                "q": {"distribution": "q_uniform", "min": 0, "max": 9, "q": 3},
                "n": {"distribution": "log_normal"},
            },
        }
    )
    params = RandomSearch(cfg).propose([], random.Random(seed)).params
    assert [type(params[(k,)]) for k in "inqu"] == [int, float, int, float]
