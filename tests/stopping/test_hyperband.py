"""Which running runs hyperband stops, and what it reports about each."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest

from localsweep.config import Goal, Hyperband
from localsweep.records import RunState, RunView
from localsweep.stopping import HyperbandDecision, StopDecision, hyperband_stops

RUNNING, FINISHED = RunState.RUNNING, RunState.FINISHED
MIN_ITER_3 = Hyperband(min_iter=3, eta=3)


def run(run_id: str, history: Sequence[object], state: RunState = RUNNING) -> RunView:
    return RunView(id=run_id, state=state, history=tuple(history))  # type: ignore[arg-type]


def worked_example(sign: int = 1) -> list[RunView]:
    """The engine notes' example: bands 3, 9, ...; at band 3 the values are 7, 5, 6, 8, 9."""
    table = {
        "A": [9, 8, 7, 6],
        "B": [9, 8, 5, 5],
        "C": [9, 8, 6, 6],
        "D": [9, 3, 8, 8],
        "F": [9, 9],
    }
    runs = [run(name, [sign * v for v in h]) for name, h in table.items()]
    runs.insert(4, run("E", [sign * 9] * 3, FINISHED))
    return runs


def stopped(hb: Hyperband, runs: Sequence[RunView], goal: Goal = Goal.MINIMIZE) -> list[str]:
    return [d.run_id for d in hyperband_stops(hb, goal, runs)]


def test_worked_example_strict_stops_the_runs_worse_than_the_threshold() -> None:
    decisions = hyperband_stops(MIN_ITER_3, Goal.MINIMIZE, worked_example())
    assert decisions == [
        StopDecision(run_id="A", band=3, value=7, threshold=6),
        StopDecision(run_id="D", band=3, value=8, threshold=6),
    ]


def test_strict_is_the_default() -> None:
    assert Hyperband(min_iter=3).strict is True
    assert stopped(Hyperband(min_iter=3), worked_example()) == ["A", "D"]


def test_worked_example_non_strict_judges_the_best_value_so_far() -> None:
    # min(A) = 6 ties the threshold and min(D) = 3 beats it.
    hb = Hyperband(min_iter=3, eta=3, strict=False)
    assert stopped(hb, worked_example()) == []


def test_non_strict_stops_a_run_whose_best_value_is_worse() -> None:
    hb = Hyperband(min_iter=3, eta=3, strict=False)
    runs = [*worked_example(), run("G", [9, 9, 9])]
    decisions = hyperband_stops(hb, Goal.MINIMIZE, runs)
    assert [(d.run_id, d.value) for d in decisions] == [("G", 9)]


def test_maximize_stops_the_runs_below_the_threshold_in_the_metrics_own_sign() -> None:
    decisions = hyperband_stops(MIN_ITER_3, Goal.MAXIMIZE, worked_example(sign=-1))
    assert decisions == [
        StopDecision(run_id="A", band=3, value=-7, threshold=-6),
        StopDecision(run_id="D", band=3, value=-8, threshold=-6),
    ]


def test_maximize_keeps_the_highest_values() -> None:
    runs = [run("low", [0.1, 0.2, 0.3]), run("mid", [0.1, 0.2, 0.5]), run("high", [0.1, 0.2, 0.9])]
    assert stopped(MIN_ITER_3, runs, Goal.MAXIMIZE) == ["low"]
    assert stopped(MIN_ITER_3, runs, Goal.MINIMIZE) == ["high"]


def test_a_tie_with_the_threshold_does_not_stop() -> None:
    hb = Hyperband(min_iter=1, eta=2)
    runs = [run("a", [4]), run("b", [4.0]), run("c", [3])]
    # Sorted [3, 4, 4], index int(0.5 * 3) = 1: the threshold is 4.
    assert stopped(hb, runs) == []


def test_only_running_runs_are_stopped() -> None:
    hb = Hyperband(min_iter=1, eta=2)
    for state in RunState:
        if state is RUNNING:
            continue
        runs = [run("best", [1]), run("mid", [2]), run("worst", [3], state)]
        assert stopped(hb, runs) == [], state


@pytest.mark.parametrize("state", [s for s in RunState if s is not RUNNING])
def test_runs_in_every_state_set_the_threshold(state: RunState) -> None:
    hb = Hyperband(min_iter=1, eta=2)
    alone = [run("best", [1]), run("probe", [5]), run("worse", [9])]
    assert stopped(hb, alone) == ["worse"]
    # Two better runs that are no longer running lower the threshold below the probe.
    with_peers = [*alone, run("p1", [1], state), run("p2", [2], state)]
    assert stopped(hb, with_peers) == ["probe", "worse"]


def test_nan_is_not_an_iteration() -> None:
    runs = [run("a", [9, 8, 7]), run("b", [9, 8, 5]), run("c", [9, 8, 6])]
    assert stopped(MIN_ITER_3, [*runs, run("nan", [9, math.nan, 8])]) == ["a"]
    # With a third valid value it reaches band 3, judged by that value.
    decisions = hyperband_stops(MIN_ITER_3, Goal.MINIMIZE, [*runs, run("nan", [9, math.nan, 8, 8])])
    assert [(d.run_id, d.value) for d in decisions] == [("a", 7), ("nan", 8)]


@pytest.mark.parametrize(
    "junk", [math.inf, -math.inf, math.nan, True, False, None, np.bool_(True), 10**400]
)
def test_values_that_are_not_finite_numbers_are_skipped(junk: object) -> None:
    peers = [run("a", [9, 8, 5]), run("b", [9, 8, 6]), run("c", [9, 8, 7])]
    decisions = hyperband_stops(
        MIN_ITER_3, Goal.MINIMIZE, [*peers, run("x", [junk, 9, junk, 8, 9])]
    )
    assert [(d.run_id, d.band, d.value) for d in decisions] == [("c", 3, 7), ("x", 3, 9)]


def test_a_minus_infinity_does_not_win_a_band() -> None:
    # Sorted [1, 2, 3] gives threshold 2; were -inf a value, [-inf, 1, 2, 3] would give 1.
    hb = Hyperband(min_iter=1, eta=3)
    runs = [run("a", [1]), run("b", [-math.inf]), run("c", [2]), run("d", [3])]
    assert stopped(hb, runs) == ["d"]


def test_numpy_scalars_count_as_values() -> None:
    runs = [
        run("a", [np.float64(1.0)] * 3),
        run("b", [np.int64(2)] * 3),
        run("c", [np.float32(3.0)] * 3),
    ]
    assert stopped(MIN_ITER_3, runs) == ["c"]


def test_a_run_below_the_first_band_is_not_judged() -> None:
    runs = [run("a", [1, 1, 1]), run("b", [1, 1, 1]), run("short", [99, 99])]
    assert stopped(MIN_ITER_3, runs) == []


def test_a_run_is_judged_at_the_largest_band_it_has_reached() -> None:
    hb = Hyperband(max_iter=18, s=2, eta=3)  # bands 2 and 6
    runs = [
        run("a", [5, 5, 5, 5, 5, 3, 9, 9]),
        run("b", [5, 5, 5, 5, 5, 4, 0, 0]),
        run("c", [5, 5, 5, 5, 5, 5]),
    ]
    # At band 6 the values are 3, 4, 5 and the threshold 4; strict ignores what came later.
    decisions = hyperband_stops(hb, Goal.MINIMIZE, runs)
    assert [(d.run_id, d.band, d.value, d.threshold) for d in decisions] == [("c", 6, 5, 4)]


def test_runs_without_valid_values_set_no_threshold() -> None:
    hb = Hyperband(min_iter=1, eta=2)
    runs = [run("a", [1]), run("b", [2]), run("c", [3])]
    runs += [run("empty", []), run("junk", [math.nan, math.inf])]
    assert stopped(hb, runs) == ["c"]


def test_decisions_follow_the_order_of_runs() -> None:
    hb = Hyperband(min_iter=1, eta=3)
    # Values 10 down to 2; sorted, index int(9/3) = 3 holds the threshold 5.
    runs = [run(f"r{i}", [10 - i]) for i in range(9)]
    assert stopped(hb, runs) == ["r0", "r1", "r2", "r3", "r4"]
    assert stopped(hb, runs[::-1]) == ["r4", "r3", "r2", "r1", "r0"]


def test_no_runs_means_no_decisions() -> None:
    assert hyperband_stops(MIN_ITER_3, Goal.MINIMIZE, []) == []


def test_a_single_run_never_stops() -> None:
    assert stopped(Hyperband(min_iter=1), [run("only", [100, 100, 100])]) == []


def test_threshold_index_rounds_like_the_engine() -> None:
    # (1/1.1) * 33 is 30.0 while 33/1.1 is 29.999...: the threshold is the value at
    # index 30 (a tie for the probe), not at index 29 (which the probe would lose to).
    hb = Hyperband(min_iter=1, eta=1.1)
    runs = [run(f"p{i}", [i], FINISHED) for i in range(33) if i != 30]
    assert stopped(hb, [*runs, run("probe", [30])]) == []


def test_large_ints_are_compared_exactly() -> None:
    big = 2**60
    hb = Hyperband(min_iter=1, eta=2)
    # As floats, big and big + 1 are equal and nothing would stop.
    runs = [run("a", [big]), run("b", [big]), run("c", [big + 1])]
    assert stopped(hb, runs) == ["c"]


def test_large_ints_are_compared_exactly_when_maximizing() -> None:
    big = 2**60
    hb = Hyperband(min_iter=1, eta=2)
    runs = [run("a", [big + 1]), run("b", [big + 1]), run("c", [big])]
    assert stopped(hb, runs, Goal.MAXIMIZE) == ["c"]


def test_state_given_as_a_plain_string_is_understood() -> None:
    hb = Hyperband(min_iter=1, eta=2)
    runs = [run("a", [1]), run("b", [2]), RunView(id="c", state="running", history=(3.0,))]  # type: ignore[arg-type]
    assert stopped(hb, runs) == ["c"]


def test_hyperband_decision_is_stop_decision() -> None:
    assert HyperbandDecision is StopDecision


def test_stop_decision_is_frozen() -> None:
    decision = StopDecision(run_id="a", band=3, value=1.0, threshold=0.5)
    with pytest.raises(AttributeError):
        decision.band = 9  # type: ignore[misc]


def test_impossible_settings_raise_value_error() -> None:
    with pytest.raises(ValueError):
        hyperband_stops(Hyperband(max_iter=2, s=1, eta=3), Goal.MINIMIZE, [run("a", [1])])


def test_many_runs_are_judged_in_one_call() -> None:
    # The shape the agent produces at a band: a few hundred runs, some long histories.
    hb = Hyperband(min_iter=1, eta=3)
    runs = [run(f"r{i:03d}", [float((i * 37) % 101)] * (1 + i % 90)) for i in range(400)]
    decisions = hyperband_stops(hb, Goal.MINIMIZE, runs)
    assert decisions
    assert all(d.value > d.threshold for d in decisions)
    assert all(d.band in (1, 3, 9, 27, 81) for d in decisions)
