"""localsweep's numpy GP sampler: proposals, determinism, quality, parallel runs, and its
choice by ``method: bayes`` when PyTorch is missing. Nothing here needs PyTorch."""

from __future__ import annotations

import importlib
import math
import random
import statistics
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pytest
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState, create_trial
from scipy.optimize import check_grad

from localsweep.config import (
    Distribution,
    Hyperband,
    Method,
    Metric,
    Options,
    Parameter,
    SweepConfig,
    parse_config,
)
from localsweep.records import RunState, RunView
from localsweep.search._bayes import BayesSearch
from localsweep.search._gp import (
    _GP,
    NumpyGPSampler,
    _Encoding,
    _log_h,
    _neg_log_posterior,
    _scale_values,
)

# The quality benchmark's own test functions, so the tests and the benchmark score the same.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from quality import branin, hartmann6

optuna.logging.set_verbosity(optuna.logging.WARNING)

SQUARE = {"x": FloatDistribution(0.0, 1.0), "y": FloatDistribution(0.0, 1.0)}


def study_with(
    dists: dict[str, BaseDistribution],
    points: list[dict[str, Any]],
    f: Callable[[dict[str, Any]], float],
    direction: str = "minimize",
) -> optuna.Study:
    study = optuna.create_study(direction=direction)
    study.add_trials(create_trial(params=p, distributions=dists, value=f(p)) for p in points)
    return study


def random_points(dists: dict[str, BaseDistribution], n: int, seed: int) -> list[dict[str, Any]]:
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    out = []
    for _ in range(n):
        t = study.ask(dists)
        out.append(dict(t.params))
        study.tell(t, 0.0)
    return out


def bowl(p: dict[str, Any]) -> float:
    return (p["x"] - 0.3) ** 2 + (p["y"] - 0.7) ** 2


def ask(study: optuna.Study, dists: dict[str, BaseDistribution], seed: int) -> dict[str, Any]:
    study.sampler = NumpyGPSampler(seed=seed)
    trial = study.ask(dists)
    params = dict(trial.params)
    study.tell(trial, state=TrialState.FAIL)
    return params


# --- proposals ------------------------------------------------------------------

MIXED: dict[str, BaseDistribution] = {
    "f": FloatDistribution(-2.0, 3.0),
    "lr": FloatDistribution(1e-5, 1e-1, log=True),
    "n": IntDistribution(1, 9),
    "k": IntDistribution(0, 40, step=4),
    "w": IntDistribution(8, 512, log=True),
    "q": FloatDistribution(0.0, 1.0, step=0.25),
    "opt": CategoricalDistribution(["adam", "sgd", "rmsprop"]),
}


def mixed_objective(p: dict[str, Any]) -> float:
    return (
        (p["f"] - 1.0) ** 2
        + (math.log10(p["lr"]) + 3) ** 2
        + 0.1 * (p["n"] - 4) ** 2
        + 0.01 * (p["k"] - 20) ** 2
        + (math.log2(p["w"]) - 6) ** 2
        + (p["q"] - 0.5) ** 2
        + (0.0 if p["opt"] == "sgd" else 1.0)
    )


def test_gp_proposals_lie_in_their_distributions_with_their_types() -> None:
    study = study_with(MIXED, random_points(MIXED, 12, seed=1), mixed_objective)
    for seed in range(5):
        p = ask(study, MIXED, seed)
        for name, dist in MIXED.items():
            assert dist._contains(dist.to_internal_repr(p[name])), (name, p[name])
        assert type(p["n"]) is int and type(p["k"]) is int and type(p["w"]) is int
        assert p["k"] % 4 == 0 and p["q"] in (0.0, 0.25, 0.5, 0.75, 1.0)
        assert type(p["f"]) is float and type(p["lr"]) is float


def test_gp_proposals_come_from_the_model_after_the_startup_trials() -> None:
    study = study_with(MIXED, random_points(MIXED, 12, seed=1), mixed_objective)
    sampler = NumpyGPSampler(seed=0)
    trial = study.ask()
    relative = sampler.sample_relative(study, trial._cached_frozen_trial, MIXED)
    assert set(relative) == set(MIXED)


def test_gp_samples_at_random_until_the_startup_trials_are_done() -> None:
    study = study_with(SQUARE, random_points(SQUARE, 4, seed=1), bowl)
    sampler = NumpyGPSampler(seed=0)  # 2 params: 5 startup trials
    trial = study.ask()
    assert sampler.sample_relative(study, trial._cached_frozen_trial, SQUARE) == {}


def test_the_same_study_and_seed_give_the_same_proposal() -> None:
    study = study_with(MIXED, random_points(MIXED, 15, seed=2), mixed_objective)
    assert ask(study, MIXED, 7) == ask(study, MIXED, 7)


def test_a_different_seed_gives_a_different_proposal() -> None:
    study = study_with(SQUARE, random_points(SQUARE, 3, seed=2), bowl)
    # Still starting up: the proposal is the seeded random one.
    assert ask(study, SQUARE, 1) != ask(study, SQUARE, 2)


def test_a_whole_gp_study_is_reproducible_from_its_seed() -> None:
    def run() -> list[dict[str, Any]]:
        study = optuna.create_study(sampler=NumpyGPSampler(seed=3))
        study.optimize(lambda t: bowl({k: t.suggest_float(k, 0, 1) for k in "xy"}), 12)
        return [t.params for t in study.trials]

    assert run() == run()


# --- quality --------------------------------------------------------------------


BRANIN = {"x1": FloatDistribution(-5.0, 10.0), "x2": FloatDistribution(0.0, 15.0)}


def best_after(
    sampler: optuna.samplers.BaseSampler,
    dists: dict[str, BaseDistribution],
    f: Callable[[dict[str, Any]], float],
    n: int,
) -> float:
    study = optuna.create_study(sampler=sampler)
    for _ in range(n):
        t = study.ask(dists)
        study.tell(t, f(t.params))
    return study.best_value


@pytest.mark.slow
@pytest.mark.parametrize(
    ("dists", "f", "optimum", "n"),
    [(SQUARE, bowl, 0.0, 30), (BRANIN, branin, 0.397887, 40)],
    ids=["quadratic", "branin"],
)
def test_gp_beats_random_search_in_median_regret(
    dists: dict[str, BaseDistribution],
    f: Callable[[dict[str, Any]], float],
    optimum: float,
    n: int,
) -> None:
    seeds = range(5)
    gp = [best_after(NumpyGPSampler(seed=s), dists, f, n) - optimum for s in seeds]
    rnd = [best_after(optuna.samplers.RandomSampler(seed=s), dists, f, n) - optimum for s in seeds]
    assert statistics.median(gp) < statistics.median(rnd) / 10


H6 = {f"x{i}": FloatDistribution(0.0, 1.0) for i in range(6)}


@pytest.mark.slow
def test_twenty_random_trials_then_thirty_proposals_close_in_on_hartmann6() -> None:
    # What a warm start gives a sweep: 20 random prior runs, then the GP's own 30. With
    # length scales kept near the unit cube's width the GP closes in on the minimum; the
    # over-smooth model before (median length scale about 10) was still 0.1-0.25 away.
    regrets = []
    for seed in range(3):
        study = study_with(H6, random_points(H6, 20, seed=100 + seed), hartmann6)
        for i in range(30):
            p = ask(study, H6, seed * 1000 + i)
            study.add_trial(create_trial(params=p, distributions=H6, value=hartmann6(p)))
        regrets.append(study.best_value + 3.32237)
    assert statistics.median(regrets) < 0.05


@pytest.mark.slow
def test_once_it_has_closed_in_on_hartmann6_it_spends_few_runs_on_the_flat_far_side() -> None:
    # Most of Hartmann6 is a flat plain near 0, far worse than its basins. With the prior
    # mean at the values' average, an unexplored corner looked as good as a typical run
    # and the GP kept going there after it had found the basin: 10 random runs, then 40
    # from the model, spent 45% of their last 20 on the plain (20 seeds). With the prior
    # mean at the worst tenth, 7%.
    plain, proposed = 0, 0
    for seed in range(3):
        study = study_with(H6, random_points(H6, 10, seed=200 + seed), hartmann6)
        for i in range(40):
            p = ask(study, H6, seed * 1000 + i)
            y = hartmann6(p)
            study.add_trial(create_trial(params=p, distributions=H6, value=y))
            if i >= 20:
                proposed += 1
                plain += y > -0.3
    assert plain <= proposed // 6, f"{plain} of the last {proposed} proposals on the plain"


def test_far_from_every_run_the_model_expects_the_worst_tenth_of_the_values_seen() -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(0.0, 0.2, (20, 2))  # every run in one corner
    values = 10.0 * np.sum(x * x, axis=1) + rng.normal(0.0, 0.01, 20)
    y = _scale_values(values)
    assert np.argsort(y).tolist() == np.argsort(values).tolist()
    assert y.std() == pytest.approx(1.0)
    assert np.quantile(y, 0.9) == pytest.approx(0.0, abs=1e-12)
    gp = _GP(x, y, np.r_[np.log([0.1, 0.1]), 0.0, math.log(1e-4)])
    far, _ = gp.predict(np.array([[1.0, 1.0]]))
    expected = np.quantile(values, 0.9)
    assert far[0] * values.std() + expected == pytest.approx(expected, abs=1e-6)
    assert expected > values.mean()


def test_the_fit_objective_gradient_matches_finite_differences() -> None:
    # The hyperparameters are fitted by L-BFGS-B on this gradient, priors included.
    rng = np.random.default_rng(0)
    x, y = rng.random((12, 3)), rng.normal(size=12)
    sq = (x[:, None, :] - x[None, :, :]) ** 2
    for theta in (np.r_[rng.normal(0, 0.5, 3), 0.2, math.log(1e-2)], np.r_[2, -1, 0, -1, -9.0]):
        err = check_grad(
            lambda t: _neg_log_posterior(t, x, y, sq)[0],
            lambda t: _neg_log_posterior(t, x, y, sq)[1],
            theta,
        )
        assert err < 1e-3 * (1 + np.linalg.norm(_neg_log_posterior(theta, x, y, sq)[1]))


def test_gp_maximizes_when_the_study_does() -> None:
    study = study_with(
        SQUARE, random_points(SQUARE, 12, seed=4), lambda p: -bowl(p), direction="maximize"
    )
    p = ask(study, SQUARE, 0)
    assert bowl(p) < 0.05


# --- running, failed and pruned trials ------------------------------------------


def test_a_running_trial_pushes_the_next_proposal_away_from_it() -> None:
    study = study_with(SQUARE, random_points(SQUARE, 12, seed=5), bowl)
    first = ask(study, SQUARE, 0)
    study.add_trial(create_trial(params=first, distributions=SQUARE, state=TrialState.RUNNING))
    second = ask(study, SQUARE, 0)
    assert math.dist((first["x"], first["y"]), (second["x"], second["y"])) > 0.05


def test_failed_and_pruned_trials_and_nan_values_change_nothing() -> None:
    points = random_points(SQUARE, 12, seed=6)
    clean = study_with(SQUARE, points, bowl)
    dirty = study_with(SQUARE, points, bowl)
    for state in (TrialState.FAIL, TrialState.PRUNED):
        dirty.add_trial(
            create_trial(params={"x": 0.3, "y": 0.7}, distributions=SQUARE, state=state)
        )
    t = dirty.ask(SQUARE)
    with pytest.warns(UserWarning, match="nan"):
        dirty.tell(t, float("nan"))  # Optuna records a NaN value as a failed trial
    assert ask(dirty, SQUARE, 0) == ask(clean, SQUARE, 0)


def test_with_more_trials_than_it_fits_it_keeps_the_best_and_the_most_recent() -> None:
    sampler = NumpyGPSampler(seed=0, max_fit_trials=10)
    values = np.array([5.0, 0.0, 7.0, 1.0, 9.0, 8.0, 6.0, 4.0, 3.0, 2.0, 10.0, 11.0, 12.0])
    keep = sampler._fit_subset(values)
    assert len(keep) == 10 and {1, 3} <= set(keep.tolist())  # the best two (10 // 5)
    assert set(keep.tolist()) - {1, 3} == set(range(5, 13))  # then the newest eight


def test_it_proposes_with_more_trials_than_it_fits() -> None:
    study = study_with(SQUARE, random_points(SQUARE, 30, seed=7), bowl)
    study.sampler = NumpyGPSampler(seed=0, max_fit_trials=12)
    trial = study.ask(SQUARE)
    assert 0.0 <= trial.params["x"] <= 1.0 and 0.0 <= trial.params["y"] <= 1.0


# --- the model ------------------------------------------------------------------


def test_log_ei_shape_function_is_finite_and_exact_far_into_the_tail() -> None:
    z = np.array([-300.0, -40.0, -5.0, -1.5, -0.5, 0.0, 2.0])
    from scipy.stats import norm

    got = _log_h(z)
    assert np.all(np.isfinite(got))
    ok = z > -20  # where the direct formula is still accurate
    direct = np.log(z[ok] * norm.cdf(z[ok]) + norm.pdf(z[ok]))
    assert np.allclose(got[ok], direct, rtol=1e-9)
    assert got[0] < got[1] < got[2]


def test_log_ei_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((15, 3))
    y = np.sin(4 * x).sum(axis=1)
    y = (y - y.mean()) / y.std()
    gp = _GP(x, y, np.r_[np.log([0.3, 0.5, 1.0]), 0.2, math.log(1e-4)])
    mask = np.ones(3, dtype=bool)
    point = np.array([0.2, 0.6, 0.4])
    err = check_grad(
        lambda u: gp.log_ei_and_grad(u, -1.0, mask)[0],
        lambda u: gp.log_ei_and_grad(u, -1.0, mask)[1],
        point,
    )
    assert err < 1e-4


def test_encoding_round_trips_every_kind_of_param() -> None:
    enc = _Encoding(MIXED)
    for p in random_points(MIXED, 20, seed=8):
        row = enc.encode(p)
        assert np.all((row >= 0) & (row <= 1))
        back = enc.decode(row)
        assert back.keys() == p.keys()
        for name, value in p.items():
            if isinstance(value, float):
                assert back[name] == pytest.approx(value, rel=1e-9)
            else:  # categorical choices and ints come back exactly
                assert back[name] == value


# --- choice by method: bayes -----------------------------------------------------

D = Distribution
X = Parameter(("x",), D.UNIFORM, min=0.0, max=1.0)


def bayes_config(sampler: str, **kw: Any) -> SweepConfig:
    return SweepConfig(Method.BAYES, (X,), Metric("loss"), options=Options(sampler=sampler), **kw)


@pytest.fixture
def no_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    # scipy.stats, which the GP imports on its first fit, probes sys.modules["torch"] as
    # it loads: loaded here first, it is not what fails when the test runs alone.
    importlib.import_module("scipy.stats")
    # A None entry in sys.modules is how Python itself marks a module as not importable.
    monkeypatch.setitem(sys.modules, "torch", None)


@pytest.mark.usefixtures("no_torch")
def test_auto_takes_the_numpy_gp_without_torch_for_a_small_numeric_space() -> None:
    search = BayesSearch(bayes_config("auto", run_cap=50))
    assert search.sampler_name == "gp-numpy" and "numpy GP" in search.reason


@pytest.mark.usefixtures("no_torch")
def test_auto_still_takes_tpe_without_torch_where_a_gp_does_not_suit() -> None:
    hb = bayes_config("auto", run_cap=50, early_terminate=Hyperband(min_iter=1))
    assert BayesSearch(hb).sampler_name == "tpe"


@pytest.mark.usefixtures("no_torch")
def test_without_a_run_cap_auto_takes_the_gp_then_tpe_from_200_runs() -> None:
    search = BayesSearch(bayes_config("auto"))  # no run_cap: the sweep may grow large
    assert search.sampler_name == "gp-numpy"
    assert "then TPE" in search.reason
    rng = random.Random(0)
    early = [
        RunView(str(i), RunState.FINISHED, {("x",): i / 10}, history=(float(i % 7),))
        for i in range(10)
    ]
    assert search.propose(early, rng).info["sampler"] == "gp-numpy"
    many = [
        RunView(str(i), RunState.FINISHED, {("x",): (i % 100) / 100}, history=(float(i % 7),))
        for i in range(200)
    ]
    assert search.propose(many, rng).info["sampler"] == "tpe"


@pytest.mark.usefixtures("no_torch")
def test_a_small_run_cap_keeps_the_gp_throughout() -> None:
    search = BayesSearch(bayes_config("auto", run_cap=150))
    assert "then TPE" not in search.reason


@pytest.mark.usefixtures("no_torch")
def test_sampler_gp_without_torch_means_the_numpy_gp() -> None:
    search = BayesSearch(bayes_config("gp"))
    assert search.sampler_name == "gp-numpy" and "not installed" in search.reason


def test_sampler_gp_numpy_is_accepted_by_the_config_parser() -> None:
    cfg = parse_config(
        {
            "method": "bayes",
            "metric": {"name": "loss"},
            "parameters": {"x": {"min": 0.0, "max": 1.0}},
            "localsweep": {"sampler": "gp-numpy"},
        }
    )
    assert BayesSearch(cfg).sampler_name == "gp-numpy"


@pytest.mark.usefixtures("no_torch")
def test_a_bayes_sweep_with_the_numpy_gp_runs_without_torch_and_finds_the_minimum() -> None:
    search = BayesSearch(bayes_config("gp-numpy"))
    rng = random.Random(0)
    runs: list[RunView] = []
    for i in range(20):
        p = search.propose(runs, rng)
        assert p.info["sampler"] == "gp-numpy"
        y = (p.params[("x",)] - 0.37) ** 2
        runs.append(RunView(str(i), RunState.FINISHED, dict(p.params), (y,), y))
    assert min(r.summary for r in runs if r.summary is not None) < 1e-4
