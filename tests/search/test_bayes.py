"""``method: bayes`` through Optuna: the mapping, the metric, the cache and the search itself."""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.search_space import IntersectionSearchSpace
from optuna.trial import TrialState

from localsweep.config import (
    Distribution,
    Goal,
    Hyperband,
    Method,
    Metric,
    Options,
    Parameter,
    SweepConfig,
    parse_config,
)
from localsweep.errors import ConfigError
from localsweep.records import RunState, RunView
from localsweep.search._bayes import (
    _SEARCH_SPACE_ATTR,
    BayesSearch,
    _make_sampler,
    torch_available,
)
from localsweep.search._bayes_space import SearchSpace, optuna_name
from localsweep.search._outcomes import multi_outcome, run_outcome

D = Distribution
HAS_TORCH = torch_available()
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="Optuna's GPSampler needs PyTorch")


def config(
    *params: Parameter,
    goal: Goal = Goal.MINIMIZE,
    sampler: str = "tpe",
    metric: bool = True,
    **kw: Any,
) -> SweepConfig:
    return SweepConfig(
        method=Method.BAYES,
        parameters=tuple(params),
        metric=Metric("loss", goal) if metric else None,
        options=Options(sampler=sampler),
        **kw,
    )


def finished(
    i: int, params: dict[Any, Any], *history: float, summary: float | None = None
) -> RunView:
    return RunView(str(i), RunState.FINISHED, params, tuple(history), summary)


def sweep(
    search: BayesSearch,
    objective: Callable[[dict[Any, Any]], float],
    n: int,
    seed: int,
) -> list[RunView]:
    """Run ``n`` runs one after another, as one agent would."""
    rng = random.Random(seed)
    runs: list[RunView] = []
    for i in range(n):
        p = search.propose(runs, rng)
        runs.append(finished(i, dict(p.params), objective(p.params)))
    return runs


# --- mapping --------------------------------------------------------------------


def dim_of(p: Parameter) -> Any:
    (dim,) = SearchSpace.from_config(config(p)).dimensions
    return dim


def test_uniform_maps_to_a_float_range() -> None:
    d = dim_of(Parameter(("x",), D.UNIFORM, min=-1.0, max=2.0)).distribution
    assert d == FloatDistribution(-1.0, 2.0)


def test_int_uniform_maps_to_an_int_range_inclusive() -> None:
    d = dim_of(Parameter(("n",), D.INT_UNIFORM, min=2, max=9)).distribution
    assert d == IntDistribution(2, 9)


def test_log_uniform_values_maps_to_a_log_float_range() -> None:
    d = dim_of(Parameter(("lr",), D.LOG_UNIFORM_VALUES, min=1e-5, max=1e-1)).distribution
    assert d == FloatDistribution(1e-5, 1e-1, log=True)


def test_log_uniform_takes_min_and_max_as_exponents_of_e() -> None:
    d = dim_of(Parameter(("lr",), D.LOG_UNIFORM, min=-4.0, max=0.0)).distribution
    assert isinstance(d, FloatDistribution) and d.log
    assert d.low == pytest.approx(math.exp(-4.0)) and d.high == pytest.approx(1.0)


def test_inv_log_uniform_is_log_uniform_between_e_to_minus_max_and_e_to_minus_min() -> None:
    d = dim_of(Parameter(("x",), D.INV_LOG_UNIFORM, min=1.0, max=3.0)).distribution
    assert isinstance(d, FloatDistribution) and d.log
    assert d.low == pytest.approx(math.exp(-3.0)) and d.high == pytest.approx(math.exp(-1.0))


def test_inv_log_uniform_values_is_log_uniform_between_min_and_max() -> None:
    d = dim_of(Parameter(("x",), D.INV_LOG_UNIFORM_VALUES, min=0.01, max=10.0)).distribution
    assert d == FloatDistribution(0.01, 10.0, log=True)


def test_q_uniform_searches_the_multiples_of_q_that_rounding_reaches() -> None:
    # wandb rounds U(1, 10) to multiples of 4: 0, 4 and 8 (0 lies below min).
    dim = dim_of(Parameter(("x",), D.Q_UNIFORM, min=1.0, max=10.0, q=4))
    assert dim.distribution == IntDistribution(0, 2)
    assert [dim.decode(k) for k in (0, 1, 2)] == [0, 4, 8]
    assert all(type(dim.decode(k)) is int for k in (0, 1, 2))


def test_q_uniform_with_a_float_q_gives_floats() -> None:
    dim = dim_of(Parameter(("x",), D.Q_UNIFORM, min=0.0, max=1.0, q=0.25))
    assert dim.distribution == IntDistribution(0, 4)
    assert dim.decode(3) == 0.75 and type(dim.decode(3)) is float


def test_q_log_uniform_values_searches_multiples_of_q_on_a_log_scale() -> None:
    dim = dim_of(Parameter(("n",), D.Q_LOG_UNIFORM_VALUES, min=8.0, max=512.0, q=8))
    assert dim.distribution == IntDistribution(1, 64, log=True)
    assert dim.decode(64) == 512


def test_q_log_uniform_that_can_round_to_zero_is_searched_in_quantile_space() -> None:
    dim = dim_of(Parameter(("x",), D.Q_LOG_UNIFORM, min=-5.0, max=0.0, q=0.5))
    assert dim.kind == "quantile" and dim.distribution == FloatDistribution(0.0, 1.0)


@pytest.mark.parametrize(
    "param",
    [
        Parameter(("x",), D.NORMAL, mu=0.0, sigma=1.0),
        Parameter(("x",), D.Q_NORMAL, mu=10.0, sigma=3.0, q=1.0),
        Parameter(("x",), D.LOG_NORMAL, mu=0.0, sigma=1.0),
        Parameter(("x",), D.Q_LOG_NORMAL, mu=2.0, sigma=0.5, q=2),
        Parameter(("x",), D.BETA, a=2.0, b=5.0),
        Parameter(("x",), D.Q_BETA, a=2.0, b=2.0, q=0.1),
    ],
    ids=lambda p: p.distribution.value,
)
def test_distributions_optuna_lacks_are_searched_through_wandbs_ppf(param: Parameter) -> None:
    dim = dim_of(param)
    assert dim.kind == "quantile" and dim.distribution == FloatDistribution(0.0, 1.0)
    for u in (0.0, 0.3, 0.5, 1.0):
        value = dim.decode(u)
        assert math.isfinite(value)
        assert value == param.ppf(min(max(u, 1e-9), 1 - 1e-9))
    # A value found in a run goes back to a quantile that gives that value again.
    for u in (0.1, 0.3, 0.8):
        assert dim.decode(dim.encode(param.ppf(u))) == pytest.approx(param.ppf(u))


def test_categorical_of_plain_values_uses_them_as_choices() -> None:
    dim = dim_of(Parameter(("opt",), D.CATEGORICAL, values=("adam", "sgd")))
    assert dim.distribution == CategoricalDistribution(("adam", "sgd"))


def test_categorical_of_dicts_lists_and_none_uses_positions_and_gives_the_values_back() -> None:
    values = ({"a": 1}, [1, 2], None, 3, "x")
    dim = dim_of(Parameter(("v",), D.CATEGORICAL, values=values))
    assert dim.distribution == CategoricalDistribution((0, 1, 2, 3, 4))
    assert [dim.decode(i) for i in range(5)] == list(values)
    assert [dim.encode(v) for v in values] == [0, 1, 2, 3, 4]


def test_categorical_keeps_true_and_one_apart() -> None:
    dim = dim_of(Parameter(("v",), D.CATEGORICAL, values=(1, True)))
    assert dim.encode(True) == 1 and dim.encode(1) == 0


def test_categorical_with_probabilities_maps_to_its_values() -> None:
    p = Parameter(
        ("v",), D.CATEGORICAL_W_PROBABILITIES, values=(1, 2, 3), probabilities=(0.1, 0.2, 0.7)
    )
    assert dim_of(p).distribution == CategoricalDistribution((1, 2, 3))


def test_names_are_json_paths_so_dotted_names_and_nesting_stay_apart() -> None:
    assert optuna_name(("a.b",)) != optuna_name(("a", "b"))
    assert optuna_name(("opt", "lr")) == '["opt", "lr"]'


# --- proposals ------------------------------------------------------------------

EVERY_KIND = (
    Parameter(("a.b",), D.UNIFORM, min=0.0, max=1.0),
    Parameter(("a", "b"), D.INT_UNIFORM, min=-3, max=3),
    Parameter(("c",), D.CATEGORICAL, values=({"k": [1]}, None, [2, 3])),
    Parameter(("d",), D.CONSTANT, value={"fixed": True}),
    Parameter(("e",), D.LOG_UNIFORM_VALUES, min=1e-4, max=1.0),
    Parameter(("f",), D.Q_UNIFORM, min=1.0, max=10.0, q=4),
    Parameter(("g",), D.Q_LOG_UNIFORM_VALUES, min=16.0, max=256.0, q=16),
    Parameter(("h",), D.NORMAL, mu=0.0, sigma=2.0),
    Parameter(("i",), D.INV_LOG_UNIFORM, min=0.0, max=4.0),
    Parameter(("j",), D.CATEGORICAL_W_PROBABILITIES, values=("x", "y"), probabilities=(0.9, 0.1)),
)


def in_support(p: Parameter, v: Any) -> bool:
    d = p.distribution
    if d in (D.CATEGORICAL, D.CATEGORICAL_W_PROBABILITIES):
        return v in p.values
    if d is D.CONSTANT:
        return bool(v == p.value)
    if d is D.INT_UNIFORM:
        return type(v) is int and p.min <= v <= p.max  # type: ignore[operator]
    if d is D.Q_UNIFORM or d is D.Q_LOG_UNIFORM_VALUES:
        assert p.q is not None
        return v % p.q == 0 and round(p.min / p.q) * p.q <= v <= round(p.max / p.q) * p.q  # type: ignore[operator]
    if d is D.INV_LOG_UNIFORM:
        return math.exp(-p.max) <= v <= math.exp(-p.min)  # type: ignore[operator]
    if d is D.NORMAL:
        return math.isfinite(v)
    return p.min <= v <= p.max  # type: ignore[operator]


def test_proposals_lie_in_the_support_and_nest_back_into_the_config() -> None:
    cfg = config(*EVERY_KIND)
    search = BayesSearch(cfg)
    runs = sweep(search, lambda p: float(p[("a.b",)]) + p[("a", "b")] ** 2, 25, seed=3)
    for run in runs:
        assert set(run.params) == {p.path for p in EVERY_KIND}
        for p in EVERY_KIND:
            assert in_support(p, run.params[p.path]), (p.name, run.params[p.path])
        nested = cfg.nest(run.params)
        assert cfg.flatten(nested) == run.params
        assert nested["a.b"] == run.params[("a.b",)] and nested["a"]["b"] == run.params[("a", "b")]


def test_constants_are_in_every_proposal() -> None:
    cfg = config(
        Parameter(("x",), D.UNIFORM, min=0.0, max=1.0), Parameter(("k",), D.CONSTANT, value=7)
    )
    p = BayesSearch(cfg).propose([], random.Random(0))
    assert p.params[("k",)] == 7


def test_proposal_info_names_the_sampler() -> None:
    cfg = config(Parameter(("x",), D.UNIFORM, min=0.0, max=1.0))
    assert BayesSearch(cfg).propose([], random.Random(0)).info["sampler"] == "tpe"


def test_runs_whose_values_are_not_in_the_space_are_left_out() -> None:
    cfg = config(Parameter(("c",), D.CATEGORICAL, values=("a", "b")))
    runs = [finished(i, {("c",): "zzz"}, 1.0) for i in range(12)]
    p = BayesSearch(cfg).propose(runs, random.Random(0))
    assert p.params[("c",)] in ("a", "b")


# --- which value counts ---------------------------------------------------------

LOSS = Metric("loss")
ACC = Metric("acc", Goal.MAXIMIZE)


def test_a_finished_run_counts_with_its_best_value_over_history_and_summary() -> None:
    run = finished(0, {}, 3.0, 1.0, 2.0, summary=2.0)
    assert run_outcome(run, LOSS).value == 1.0
    assert run_outcome(run, ACC).value == 3.0
    assert run_outcome(finished(0, {}, 3.0, summary=0.5), LOSS).value == 0.5


def test_non_finite_values_are_skipped_and_a_run_with_none_left_fails() -> None:
    assert run_outcome(finished(0, {}, math.nan, 2.0, math.inf), LOSS).value == 2.0
    assert run_outcome(finished(0, {}, math.nan, -math.inf), LOSS).state is TrialState.FAIL
    assert run_outcome(finished(0, {}, summary=math.nan), LOSS).state is TrialState.FAIL


def test_a_finished_run_that_never_logged_the_metric_fails() -> None:
    assert run_outcome(finished(0, {}), LOSS).state is TrialState.FAIL


@pytest.mark.parametrize("state", [RunState.FAILED, RunState.CRASHED, RunState.KILLED])
def test_failed_crashed_and_killed_runs_fail_even_with_values(state: RunState) -> None:
    assert run_outcome(RunView("r", state, {}, (1.0,), 1.0), LOSS).state is TrialState.FAIL


def test_a_running_run_is_running() -> None:
    assert run_outcome(RunView("r", RunState.RUNNING, {}, (1.0,)), LOSS).state is TrialState.RUNNING


def test_a_preempted_run_waits_to_be_resumed_so_it_is_pending_not_failed() -> None:
    # wandb's engine puts preempted runs with the pending ones; a failed trial would let
    # the sampler propose the point again while the run is requeued to finish it.
    preempted = RunView("r", RunState.PREEMPTED, {}, (1.0,))
    assert run_outcome(preempted, LOSS).state is TrialState.RUNNING
    two = (LOSS, ACC)
    assert multi_outcome(preempted, two).state is TrialState.RUNNING


def test_a_preempted_runs_point_is_avoided_like_a_running_ones() -> None:
    cfg = parse_config(
        {
            "method": "bayes",
            "metric": {"name": "loss", "goal": "minimize"},
            "parameters": {"x": {"min": 0.0, "max": 1.0}, "y": {"min": 0.0, "max": 1.0}},
            "localsweep": {"sampler": "gp-numpy"},
        }
    )
    done = [
        RunView(str(i), RunState.FINISHED, {("x",): x, ("y",): y}, (), (x - 0.3) ** 2 + y * y)
        for i, (x, y) in enumerate((i / 11, (i * 7 % 12) / 11) for i in range(12))
    ]
    first = BayesSearch(cfg).propose(done, random.Random(5)).params
    held = RunView("p", RunState.PREEMPTED, dict(first), (), None)
    second = BayesSearch(cfg).propose([*done, held], random.Random(5)).params
    assert math.dist((first[("x",)], first[("y",)]), (second[("x",)], second[("y",)])) > 0.05


def test_an_early_terminated_run_is_pruned_with_its_finite_values_in_order() -> None:
    run = RunView("r", RunState.EARLY_TERMINATED, {}, (5.0, math.nan, 3.0, 4.0))
    out = run_outcome(run, LOSS)
    assert out.state is TrialState.PRUNED
    assert out.intermediate == ((0, 5.0), (2, 3.0), (3, 4.0))


def test_runs_with_nan_and_unusual_states_never_break_the_sweep() -> None:
    x = Parameter(("x",), D.UNIFORM, min=0.0, max=1.0)
    states = [
        RunState.FINISHED,
        RunState.FAILED,
        RunState.CRASHED,
        RunState.EARLY_TERMINATED,
        RunState.RUNNING,
        RunState.KILLED,
    ]
    runs = [
        RunView(str(i), states[i % len(states)], {("x",): i / 30}, (math.nan,) if i % 4 else (i,))
        for i in range(30)
    ]
    p = BayesSearch(config(x)).propose(runs, random.Random(1))
    assert 0.0 <= p.params[("x",)] <= 1.0


# --- config errors --------------------------------------------------------------


def test_bayes_without_a_metric_is_a_config_error_on_metric() -> None:
    with pytest.raises(ConfigError) as err:
        BayesSearch(config(Parameter(("x",), D.UNIFORM, min=0.0, max=1.0), metric=False))
    assert [v.path for v in err.value.violations] == ["metric"]


def test_bayes_with_only_constants_is_a_config_error_on_parameters() -> None:
    with pytest.raises(ConfigError) as err:
        BayesSearch(config(Parameter(("k",), D.CONSTANT, value=1)))
    assert [v.path for v in err.value.violations] == ["parameters"]


def test_an_unknown_sampler_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"localsweep\.sampler"):
        BayesSearch(config(Parameter(("x",), D.UNIFORM, min=0.0, max=1.0), sampler="cmaes"))


def test_auto_takes_the_numpy_gp_for_a_small_numeric_space_and_budget_torch_or_not() -> None:
    """The same sampler on every machine: nodes with and without PyTorch sharing a sweep
    propose alike (Optuna's GPSampler is there for ``sampler: gp``)."""
    cfg = config(Parameter(("x",), D.UNIFORM, min=0.0, max=1.0), sampler="auto", run_cap=50)
    search = BayesSearch(cfg)
    assert search.sampler_name == "gp-numpy"
    assert search.reason.endswith("localsweep's numpy GP")


@needs_torch
def test_auto_takes_tpe_with_early_termination() -> None:
    cfg = config(
        Parameter(("x",), D.UNIFORM, min=0.0, max=1.0),
        sampler="auto",
        run_cap=50,
        early_terminate=Hyperband(min_iter=1),
    )
    assert BayesSearch(cfg).sampler_name == "tpe"


# --- reproducibility and the cache ----------------------------------------------


def mixed_history(n: int) -> list[RunView]:
    """Runs in every state, as several agents leave them."""
    states = [RunState.FINISHED] * 4 + [
        RunState.RUNNING,
        RunState.FAILED,
        RunState.EARLY_TERMINATED,
    ]
    rng = random.Random(42)
    return [
        RunView(
            str(i),
            states[i % len(states)],
            {("x",): rng.uniform(-2, 2), ("n",): rng.randint(1, 5), ("c",): rng.choice(["a", "b"])},
            tuple(rng.uniform(0, 5) for _ in range(3)),
        )
        for i in range(n)
    ]


MIXED = config(
    Parameter(("c",), D.CATEGORICAL, values=("a", "b")),
    Parameter(("n",), D.INT_UNIFORM, min=1, max=5),
    Parameter(("x",), D.UNIFORM, min=-2.0, max=2.0),
)


def test_the_same_runs_and_seed_give_the_same_proposal() -> None:
    runs = mixed_history(30)
    a = BayesSearch(MIXED).propose(runs, random.Random(7))
    b = BayesSearch(MIXED).propose(runs, random.Random(7))
    assert a.params == b.params


def test_a_different_seed_gives_a_different_proposal() -> None:
    runs = mixed_history(30)
    a = BayesSearch(MIXED).propose(runs, random.Random(7))
    b = BayesSearch(MIXED).propose(runs, random.Random(8))
    assert a.params != b.params


def finish(run: RunView, value: float) -> RunView:
    return RunView(run.id, RunState.FINISHED, run.params, (*run.history, value), value)


def assert_cache_matches_fresh(cfg: SweepConfig, steps: int) -> None:
    """Drive one object through a sweep whose runs start, finish, fail and get stopped
    out of order, and compare each proposal with a fresh object's."""
    cached = BayesSearch(cfg)
    runs: list[RunView] = []
    for step in range(steps):
        seed = 1000 + step
        mine = cached.propose(runs, random.Random(seed))
        fresh = BayesSearch(cfg).propose(runs, random.Random(seed))
        assert mine.params == fresh.params, f"step {step}"
        runs.append(RunView(str(step), RunState.RUNNING, dict(mine.params), (0.5 * step,)))
        # Let an older running run end: finish most, fail or stop some.
        for i, run in enumerate(runs[:-2]):
            if run.state is RunState.RUNNING:
                x = float(run.params[("x",)])
                if i % 5 == 0:
                    runs[i] = RunView(run.id, RunState.EARLY_TERMINATED, run.params, (x, x / 2))
                elif i % 7 == 0:
                    runs[i] = RunView(run.id, RunState.FAILED, run.params, run.history)
                else:
                    runs[i] = finish(run, x * x + run.params[("n",)])
                break


def test_the_cached_study_proposes_what_a_fresh_object_would() -> None:
    assert_cache_matches_fresh(MIXED, 30)


@needs_torch
@pytest.mark.slow
def test_the_cached_study_proposes_what_a_fresh_object_would_with_gp() -> None:
    cfg = SweepConfig(Method.BAYES, MIXED.parameters, Metric("loss"), options=Options(sampler="gp"))
    assert_cache_matches_fresh(cfg, 16)


def test_the_cached_study_proposes_what_a_fresh_object_would_with_the_numpy_gp() -> None:
    cfg = SweepConfig(
        Method.BAYES, MIXED.parameters, Metric("loss"), options=Options(sampler="gp-numpy")
    )
    assert_cache_matches_fresh(cfg, 16)


@pytest.mark.parametrize(
    "name",
    # Optuna 4.0's GPSampler imports PyTorch when it is made (newer ones on first use);
    # localsweep makes it only where PyTorch is installed.
    ["tpe", pytest.param("gp", marks=needs_torch), "gp-numpy"],
)
def test_each_sampler_keeps_its_search_space_where_the_cache_lends_it(name: str) -> None:
    # If Optuna moves the attribute, proposals stay right but every one rescans all
    # trials again (most of a proposal's time at 1,000 runs): this says so.
    sampler = _make_sampler(name, 0)
    assert isinstance(getattr(sampler, _SEARCH_SPACE_ATTR[name]), IntersectionSearchSpace)


def test_a_cached_search_proposes_what_a_fresh_one_would_after_an_ended_run_changes() -> None:
    # The store lets a run another agent marked crashed record its real end later.
    search = BayesSearch(MIXED)
    runs = mixed_history(30)
    search.propose(runs, random.Random(0))
    failed = next(i for i, r in enumerate(runs) if r.state is RunState.FAILED)
    runs[failed] = finish(runs[failed], -1.0)
    assert (
        search.propose(runs, random.Random(5)).params
        == BayesSearch(MIXED).propose(runs, random.Random(5)).params
    )


def test_a_run_list_that_shrinks_rebuilds_the_study() -> None:
    search = BayesSearch(MIXED)
    runs = mixed_history(20)
    search.propose(runs, random.Random(0))
    shorter = runs[:12]
    assert (
        search.propose(shorter, random.Random(5)).params
        == BayesSearch(MIXED).propose(shorter, random.Random(5)).params
    )


# --- does it search? ------------------------------------------------------------


def quadratic(p: Any) -> float:
    return (p[("x",)] - 0.3) ** 2 + (p[("y",)] + 0.2) ** 2


QUAD = config(
    Parameter(("x",), D.UNIFORM, min=-1.0, max=1.0),
    Parameter(("y",), D.UNIFORM, min=-1.0, max=1.0),
)


def best(runs: Sequence[RunView], goal: Goal = Goal.MINIMIZE) -> float:
    values = [r.history[0] for r in runs]
    return min(values) if goal is Goal.MINIMIZE else max(values)


def random_best(seed: int, n: int) -> float:
    rng = random.Random(seed)
    return min(
        quadratic({("x",): rng.uniform(-1, 1), ("y",): rng.uniform(-1, 1)}) for _ in range(n)
    )


def test_bayes_beats_random_on_a_quadratic_at_40_runs() -> None:
    seeds = range(5)
    bayes = statistics.median(best(sweep(BayesSearch(QUAD), quadratic, 40, s)) for s in seeds)
    rand = statistics.median(random_best(s, 40) for s in seeds)
    assert bayes < rand


def test_maximize_climbs_instead_of_descending() -> None:
    cfg = config(*QUAD.parameters, goal=Goal.MAXIMIZE)
    runs = sweep(BayesSearch(cfg), lambda p: -quadratic(p), 30, seed=0)
    late = [-r.history[0] for r in runs[15:]]
    early = [-r.history[0] for r in runs[:10]]
    assert statistics.median(late) < statistics.median(early)


@needs_torch
@pytest.mark.slow
def test_gp_proposes_in_the_support_and_reproducibly() -> None:
    cfg = SweepConfig(Method.BAYES, QUAD.parameters, Metric("loss"), options=Options(sampler="gp"))
    runs = sweep(BayesSearch(cfg), quadratic, 14, seed=0)
    assert all(-1 <= r.params[("x",)] <= 1 for r in runs)
    a = BayesSearch(cfg).propose(runs, random.Random(3))
    b = BayesSearch(cfg).propose(runs, random.Random(3))
    assert a.params == b.params and a.info["sampler"] == "gp"
