"""Grid search walks the product in wandb's order, each point once, re-offering crashed ones."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import pytest

from localsweep.config import SweepConfig, parse_config
from localsweep.errors import ConfigError
from localsweep.records import Proposal, RunState, RunView
from localsweep.search import make_search
from localsweep.search._grid import GridSearch


def grid(parameters: dict[str, Any]) -> SweepConfig:
    return parse_config({"method": "grid", "parameters": parameters})


def run_of(p: Proposal, i: int, state: RunState = RunState.FINISHED) -> RunView:
    return RunView(id=f"r{i}", state=state, params=p.params, grid_key=p.grid_key)


def walk(cfg: SweepConfig, runs: Sequence[RunView] = ()) -> list[Proposal]:
    """Propose until exhausted, each proposal becoming a finished run."""
    search = GridSearch(cfg)
    seen = list(runs)
    out: list[Proposal] = []
    for _ in range(1000):
        proposal = search.propose(seen, random.Random(0))
        if proposal is None:
            return out
        out.append(proposal)
        seen.append(run_of(proposal, len(seen)))
    raise AssertionError("grid never ran out")


def values(cfg: SweepConfig, proposals: list[Proposal]) -> list[dict[str, Any]]:
    return [cfg.nest(p.params) for p in proposals]


def test_last_parameter_varies_fastest() -> None:
    cfg = grid({"z": {"values": [1, 2]}, "a": {"values": ["x", "y"]}})
    assert values(cfg, walk(cfg)) == [
        {"a": "x", "z": 1},
        {"a": "x", "z": 2},
        {"a": "y", "z": 1},
        {"a": "y", "z": 2},
    ]


def test_values_keep_their_list_order() -> None:
    cfg = grid({"a": {"values": [3, 1, 2]}})
    assert [p.params[("a",)] for p in walk(cfg)] == [3, 1, 2]


def test_constants_are_in_every_proposal_but_not_in_the_product() -> None:
    cfg = grid({"a": {"values": [1, 2]}, "c": {"value": "const"}})
    proposals = walk(cfg)
    assert len(proposals) == 2
    assert all(p.params[("c",)] == "const" for p in proposals)


def test_only_constants_give_one_point() -> None:
    assert len(walk(grid({"c": {"value": 1}}))) == 1


def test_nested_parameters_are_ordered_by_path_and_nested_back() -> None:
    cfg = grid(
        {
            "opt": {"parameters": {"lr": {"values": [0.1, 0.2]}, "b": {"value": 1}}},
            "a": {"values": [True, False]},
        }
    )
    assert values(cfg, walk(cfg)) == [
        {"a": True, "opt": {"b": 1, "lr": 0.1}},
        {"a": True, "opt": {"b": 1, "lr": 0.2}},
        {"a": False, "opt": {"b": 1, "lr": 0.1}},
        {"a": False, "opt": {"b": 1, "lr": 0.2}},
    ]


def test_int_uniform_and_q_uniform_are_enumerated() -> None:
    cfg = grid(
        {"n": {"min": 1, "max": 3}, "q": {"distribution": "q_uniform", "min": 0, "max": 4, "q": 2}}
    )
    assert [(p.params[("n",)], p.params[("q",)]) for p in walk(cfg)] == [
        (1, 0), (1, 2), (2, 0), (2, 2), (3, 0), (3, 2),
    ]  # fmt: skip


def test_duplicate_values_collapse_to_one_point() -> None:
    cfg = grid({"a": {"values": [1, 1, 2, True, 1.0]}})
    got = [p.params[("a",)] for p in walk(cfg)]
    assert got == [1.0, 2, True]
    assert type(got[0]) is float


def test_exhausted_grid_returns_none() -> None:
    cfg = grid({"a": {"values": [1, 2]}})
    search = GridSearch(cfg)
    runs = [run_of(p, i) for i, p in enumerate(walk(cfg))]
    assert search.propose(runs, random.Random(0)) is None


def test_size_is_the_product_of_the_value_counts() -> None:
    cfg = grid({"a": {"values": [1, 2, 3]}, "b": {"min": 1, "max": 4}, "c": {"value": 0}})
    assert GridSearch(cfg).size == 12
    assert len(walk(cfg)) == 12


@pytest.mark.parametrize(
    "state",
    [
        RunState.RUNNING,
        RunState.FINISHED,
        RunState.FAILED,
        RunState.EARLY_TERMINATED,
        RunState.PREEMPTED,
    ],
)
def test_a_point_held_by_a_run_in_any_state_but_crashed_or_killed_is_taken(state: RunState) -> None:
    cfg = grid({"a": {"values": [1, 2]}})
    search = GridSearch(cfg)
    first = search.propose([], random.Random(0))
    assert first is not None
    nxt = search.propose([run_of(first, 0, state)], random.Random(0))
    assert nxt is not None and nxt.params[("a",)] == 2


@pytest.mark.parametrize("state", [RunState.CRASHED, RunState.KILLED])
def test_a_crashed_or_interrupted_runs_point_is_offered_again(state: RunState) -> None:
    # Issue 11, item 4: a run the user interrupted (Ctrl-C) is no result.
    cfg = grid({"a": {"values": [1, 2]}})
    search = GridSearch(cfg)
    first = search.propose([], random.Random(0))
    assert first is not None
    again = search.propose([run_of(first, 0, state)], random.Random(0))
    assert again is not None and again.grid_key == first.grid_key


def test_a_crashed_point_rerun_by_another_run_is_taken() -> None:
    cfg = grid({"a": {"values": [1, 2]}})
    search = GridSearch(cfg)
    first = search.propose([], random.Random(0))
    assert first is not None
    runs = [run_of(first, 0, RunState.CRASHED), run_of(first, 1, RunState.RUNNING)]
    nxt = search.propose(runs, random.Random(0))
    assert nxt is not None and nxt.params[("a",)] == 2


def test_a_run_that_crashes_later_frees_its_point_on_the_same_object() -> None:
    cfg = grid({"a": {"values": [1, 2]}})
    search = GridSearch(cfg)
    first = search.propose([], random.Random(0))
    assert first is not None
    assert search.propose([run_of(first, 0, RunState.RUNNING)], random.Random(0)) != first
    crashed = search.propose([run_of(first, 0, RunState.CRASHED)], random.Random(0))
    assert crashed is not None and crashed.grid_key == first.grid_key


def test_an_int_and_an_equal_float_are_the_same_point() -> None:
    cfg = grid({"a": {"values": [1, 2]}})
    search = GridSearch(cfg)
    assert search.key_for({("a",): 1.0}) == search.key_for({("a",): 1})
    run = RunView(id="x", state=RunState.FINISHED, params={("a",): 1.0})
    nxt = search.propose([run], random.Random(0))
    assert nxt is not None and nxt.params[("a",)] == 2


def test_runs_without_a_grid_key_are_matched_by_their_params() -> None:
    cfg = grid({"a": {"values": [1, 2]}, "b": {"values": ["x", "y"]}})
    runs = [
        RunView(id="1", state=RunState.FINISHED, params={("a",): 1, ("b",): "x"}),
        RunView(id="2", state=RunState.FAILED, params={("a",): 1, ("b",): "y"}),
    ]
    nxt = GridSearch(cfg).propose(runs, random.Random(0))
    assert nxt is not None and cfg.nest(nxt.params) == {"a": 2, "b": "x"}


def test_a_run_missing_a_grid_parameter_takes_no_point() -> None:
    cfg = grid({"a": {"values": [1, 2]}, "b": {"values": ["x"]}})
    run = RunView(id="1", state=RunState.FINISHED, params={("a",): 1})
    nxt = GridSearch(cfg).propose([run], random.Random(0))
    assert nxt is not None and nxt.params[("a",)] == 1


def test_keys_added_to_a_dict_value_at_run_time_do_not_make_a_new_point() -> None:
    cfg = grid({"arch": {"values": [{"depth": 2}, {"depth": 4}]}})
    run = RunView(id="1", state=RunState.FINISHED, params={("arch",): {"depth": 2, "_injected": 1}})
    nxt = GridSearch(cfg).propose([run], random.Random(0))
    assert nxt is not None and nxt.params[("arch",)] == {"depth": 4}


def test_grid_keys_are_stable_across_objects_and_distinct_per_point() -> None:
    cfg = grid({"a": {"values": [1, 2, 3]}, "b": {"min": 0, "max": 2}})
    keys = [p.grid_key for p in walk(cfg)]
    assert keys == [p.grid_key for p in walk(cfg)]
    assert None not in keys and len(set(keys)) == 9


def test_key_for_gives_the_proposals_grid_key() -> None:
    cfg = grid({"a": {"values": [1, 2]}, "c": {"value": 5}})
    search = GridSearch(cfg)
    assert all(search.key_for(p.params) == p.grid_key for p in walk(cfg))


def test_a_reused_object_answers_like_a_fresh_one() -> None:
    cfg = grid({"a": {"values": [1, 2, 3]}, "b": {"values": [1, 2]}})
    reused = GridSearch(cfg)
    runs: list[RunView] = []
    for i in range(6):
        ours = reused.propose(runs, random.Random(0))
        fresh = GridSearch(cfg).propose(runs, random.Random(0))
        assert ours is not None and fresh is not None
        assert (ours.params, ours.grid_key) == (fresh.params, fresh.grid_key)
        runs.append(run_of(ours, i, RunState.CRASHED if i % 3 == 0 else RunState.FINISHED))


def test_proposed_values_are_copies() -> None:
    cfg = grid({"a": {"values": [[1, 2]]}})
    search = GridSearch(cfg)
    first = search.propose([], random.Random(0))
    assert first is not None
    first.params[("a",)].append(3)
    again = search.propose([], random.Random(0))
    assert again is not None and again.params[("a",)] == [1, 2]


def test_a_thousand_runs_leave_the_next_point_found() -> None:
    cfg = grid({"a": {"min": 0, "max": 99}, "b": {"min": 0, "max": 19}})
    search = GridSearch(cfg)
    runs: list[RunView] = []
    for i in range(1000):
        p = search.propose(runs, random.Random(0))
        assert p is not None
        runs.append(run_of(p, i))
    nxt = search.propose(runs, random.Random(0))
    assert nxt is not None and cfg.nest(nxt.params) == {"a": 50, "b": 0}
    assert nxt.info["grid_index"] == 1000


def test_a_non_enumerable_parameter_is_a_config_error() -> None:
    cfg = parse_config({"method": "random", "parameters": {"lr": {"min": 0.0, "max": 1.0}}})
    with pytest.raises(ConfigError, match="lr"):
        GridSearch(cfg)


def test_make_search_builds_a_grid_search() -> None:
    assert isinstance(make_search(grid({"a": {"values": [1]}})), GridSearch)
