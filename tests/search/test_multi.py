"""Several objectives: which values a run tells the study, the Pareto set, the target rule."""

from __future__ import annotations

import random

import optuna
import pytest
from optuna.study import StudyDirection
from optuna.trial import TrialState

from localsweep.config import Goal, parse_config
from localsweep.records import RunState, RunView
from localsweep.search import make_search
from localsweep.search._bayes import BayesSearch
from localsweep.search._custom import CustomSearch, UserStudy, flatten_config
from localsweep.search._multi import non_dominated, reaches_all_targets, summary_value
from localsweep.search._outcomes import multi_outcome

TWO = [{"name": "loss", "goal": "minimize"}, {"name": "val.acc", "goal": "maximize"}]
CONFIG = parse_config(
    {"method": "custom", "metrics": TWO, "parameters": {"x": {"min": 0.0, "max": 1.0}}}
)


def view(i: int, state: RunState, summary: dict, x: float = 0.5) -> RunView:
    return RunView(
        id=f"r{i}", state=state, params={("x",): x}, summary_data=summary, search_info={}
    )


def test_a_finished_run_tells_every_objective_from_its_summary() -> None:
    run = view(0, RunState.FINISHED, {"loss": 0.3, "val": {"acc": 0.9}})
    outcome = multi_outcome(run, CONFIG.metrics)
    assert (outcome.state, outcome.told) == (TrialState.COMPLETE, [0.3, 0.9])


@pytest.mark.parametrize(
    "summary",
    [{"loss": 0.3}, {"loss": 0.3, "val": {"acc": float("nan")}}, {"loss": "x", "val.acc": 1}],
)
def test_a_run_missing_one_objective_counts_as_failed(summary: dict) -> None:
    assert multi_outcome(view(0, RunState.FINISHED, summary), CONFIG.metrics).state is (
        TrialState.FAIL
    )


def test_method_custom_without_user_code_is_bayes_with_one_direction_per_metric() -> None:
    search = make_search(CONFIG)
    assert isinstance(search, BayesSearch) and search.sampler_name == "tpe"
    runs = [
        view(0, RunState.FINISHED, {"loss": 0.1, "val.acc": 0.2}, 0.1),
        view(1, RunState.FINISHED, {"loss": 0.5}, 0.9),
        view(2, RunState.RUNNING, {}, 0.4),
    ]
    proposal = search.propose(runs, random.Random(0))
    assert 0.0 <= proposal.params[("x",)] <= 1.0
    study = search._cache.study
    assert study.directions == [StudyDirection.MINIMIZE, StudyDirection.MAXIMIZE]
    states = [t.state for t in study.get_trials()[:3]]
    assert states == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.RUNNING]
    assert study.get_trials()[0].values == [0.1, 0.2]
    # The run without val.acc is told the worst of each objective (here the only run's).
    assert study.get_trials()[1].values == [0.1, 0.2]


def test_the_pareto_set_is_every_point_nothing_beats() -> None:
    goals = [Goal.MINIMIZE, Goal.MAXIMIZE]
    points = [(1.0, 1.0), (2.0, 3.0), (2.0, 2.0), (0.5, 0.5), (1.0, 1.0), (3.0, 3.0)]
    # (2, 2) loses to (2, 3); (3, 3) to (2, 3); equal points both stay.
    assert non_dominated(points, goals) == [0, 1, 3, 4]


@pytest.mark.parametrize(
    "goals",
    [
        [Goal.MINIMIZE, Goal.MAXIMIZE, Goal.MINIMIZE],
        # Two objectives take a one-pass path of their own: every pair of goals.
        [Goal.MINIMIZE, Goal.MINIMIZE],
        [Goal.MINIMIZE, Goal.MAXIMIZE],
        [Goal.MAXIMIZE, Goal.MINIMIZE],
        [Goal.MAXIMIZE, Goal.MAXIMIZE],
    ],
)
def test_the_pareto_set_matches_a_brute_force_one(goals: list[Goal]) -> None:
    rng = random.Random(4)
    # Few distinct values: many ties and equal points.
    points = [tuple(rng.randint(0, 6) for _ in goals) for _ in range(300)]

    def beaten(p: tuple, q: tuple) -> bool:
        signed = [
            (a, b) if g is Goal.MINIMIZE else (-a, -b) for a, b, g in zip(q, p, goals, strict=True)
        ]
        return all(a <= b for a, b in signed) and any(a < b for a, b in signed)

    brute = [i for i, p in enumerate(points) if not any(beaten(p, q) for q in points)]
    assert non_dominated(points, goals) == brute


def test_targets_stop_the_sweep_only_when_every_metric_has_one_and_one_run_reaches_all() -> None:
    both = parse_config(
        {
            "method": "custom",
            "metrics": [
                {"name": "loss", "target": 0.1},
                {"name": "acc", "goal": "maximize", "target": 0.9},
            ],
            "parameters": {"x": {"values": [1, 2]}},
        }
    )
    assert reaches_all_targets({"loss": 0.05, "acc": 0.95}, both)
    assert not reaches_all_targets({"loss": 0.05, "acc": 0.85}, both)
    assert not reaches_all_targets({"loss": 0.05}, both)
    one = parse_config(
        {
            "method": "custom",
            "metrics": [{"name": "loss", "target": 0.1}, {"name": "acc", "goal": "maximize"}],
            "parameters": {"x": {"values": [1, 2]}},
        }
    )
    assert not reaches_all_targets({"loss": 0.0, "acc": 1.0}, one)


def test_summary_values_follow_dotted_paths_and_skip_non_numbers() -> None:
    assert summary_value({"val": {"acc": 2}}, "val.acc") == 2.0
    assert summary_value({"val.acc": 3}, "val.acc") == 3.0
    assert summary_value({"ok": True}, "ok") is None
    # define_metric(summary=...) keeps its aggregates under the key.
    assert summary_value({"loss": {"min": 1.0, "last": 2.0}}, "loss") == 1.0
    assert summary_value({"acc": {"max": 0.9, "min": 0.1}}, "acc", Goal.MAXIMIZE) == 0.9
    assert summary_value({"acc": {"last": 0.5}}, "acc", Goal.MAXIMIZE) == 0.5


def test_a_search_space_config_is_handed_on_nested() -> None:
    assert flatten_config({"opt": {"lr": 0.1, "kind": {}}, "n": 2}) == {
        ("opt", "lr"): 0.1,
        ("opt", "kind"): {},
        ("n",): 2,
    }


def test_a_user_sampler_with_a_fixed_seed_follows_the_run_stream() -> None:
    config = parse_config(
        {
            "method": "custom",
            "metric": {"name": "loss"},
            "scheduler": {"engine": "optuna", "source": "s.py", "optimizer": "f"},
            "parameters": {"x": {"min": 0.0, "max": 1.0}},
        }
    )

    def proposals(stream: int) -> list[float]:
        # Two agents each build the user's study with the same seed.
        sampler = optuna.samplers.TPESampler(seed=1)
        search = CustomSearch(config, UserStudy(sampler=sampler))
        return [search.propose([], random.Random(stream)).params[("x",)] for _ in range(2)]

    assert proposals(7) == proposals(7)  # same runs and stream: same proposal
    assert proposals(7)[0] != proposals(8)[0]  # another run's stream: another point


def test_engine_wandb_is_the_usual_search() -> None:
    config = parse_config(
        {
            "method": "bayes",
            "metric": {"name": "loss"},
            "scheduler": {"engine": "wandb"},
            "parameters": {"x": {"min": 0.0, "max": 1.0}},
        }
    )
    assert isinstance(make_search(config), BayesSearch)
    grid = parse_config({**config.raw, "method": "grid", "parameters": {"x": {"values": [1]}}})
    assert type(make_search(grid)).__name__ == "GridSearch"


def test_a_run_stopped_early_with_every_objective_is_told_complete() -> None:
    metrics = CONFIG.metrics
    stopped = multi_outcome(
        view(1, RunState.EARLY_TERMINATED, {"loss": 0.2, "val": {"acc": 0.7}}), metrics
    )
    missing = multi_outcome(view(2, RunState.EARLY_TERMINATED, {"loss": 0.2}), metrics)

    assert (stopped.state, stopped.told) == (TrialState.COMPLETE, [0.2, 0.7])
    assert (missing.state, missing.told) == (TrialState.PRUNED, None)
