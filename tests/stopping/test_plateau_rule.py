"""The plateau rule on plain values: when a run stops itself because its metric stopped
improving."""

from __future__ import annotations

import math

import pytest

from localsweep.config import EarlyStopping, Goal
from localsweep.stopping import Plateau, plateau_stop


def rule(threshold: float = 0.0, patience: int = 1, goal: Goal = Goal.MINIMIZE) -> EarlyStopping:
    return EarlyStopping("loss", threshold=threshold, patience=patience, goal=goal)


def test_stops_after_patience_values_without_improvement() -> None:
    decision = plateau_stop(rule(0.01, patience=3), [1.0, 0.8, 0.6, 0.6, 0.6, 0.6, 0.5])

    assert decision is not None
    assert decision.iteration == 6
    assert decision.best == 0.6
    assert decision.count == 3


def test_steady_improvement_above_the_threshold_never_stops() -> None:
    values = [1.0 - 0.02 * i for i in range(40)]

    assert plateau_stop(rule(0.01, patience=1), values) is None


def test_an_improvement_of_exactly_the_threshold_is_no_improvement() -> None:
    # 0.5 -> 0.25 is exactly 0.25 better: "more than the threshold" is needed.
    assert plateau_stop(rule(0.25, patience=1), [0.5, 0.25]) is not None
    assert plateau_stop(rule(0.25, patience=1), [0.5, 0.2]) is None


def test_small_gains_do_not_move_the_best_value() -> None:
    # Each step gains 0.006 < 0.01, so alone none improves; but two together beat the best
    # by 0.012 and the count restarts there, as in Keras' and Lightning's EarlyStopping.
    rule_ = Plateau(rule(0.01, patience=2))
    states = []
    for value in [1.0, 0.994, 0.988, 0.982, 0.976]:
        assert rule_.update(value) is None
        states.append((rule_.best, rule_.count))

    assert states == [(1.0, 0), (1.0, 1), (0.988, 0), (0.988, 1), (0.976, 0)]


def test_a_worse_value_counts_as_no_improvement() -> None:
    decision = plateau_stop(rule(0.0, patience=2), [1.0, 2.0, 0.9, 3.0, 3.0])

    assert decision is not None and decision.iteration == 5


def test_the_count_restarts_after_an_improvement() -> None:
    assert plateau_stop(rule(0.0, patience=2), [5.0, 5.0, 4.0, 4.0, 3.0, 3.0, 2.0]) is None


def test_maximize_mirrors_the_rule() -> None:
    spec = rule(0.01, patience=2, goal=Goal.MAXIMIZE)

    assert plateau_stop(spec, [0.5, 0.6, 0.7, 0.8]) is None
    decision = plateau_stop(spec, [0.5, 0.6, 0.605, 0.59])
    assert decision is not None and decision.iteration == 4 and decision.best == 0.6


def test_nan_counts_as_no_improvement() -> None:
    decision = plateau_stop(rule(0.0, patience=2), [1.0, math.nan, 0.5, math.nan, math.nan])

    assert decision is not None
    assert decision.iteration == 5
    assert decision.best == 0.5


def test_nan_before_any_number_counts_too() -> None:
    decision = plateau_stop(rule(0.0, patience=1), [math.nan, 1.0])

    assert decision is not None and decision.iteration == 1
    assert math.isnan(decision.best)


def test_infinities_are_numbers() -> None:
    # A loss that blew up to inf is no improvement on 1.0; -inf is unbeatable afterwards.
    assert plateau_stop(rule(0.0, patience=1), [1.0, math.inf]) is not None
    decision = plateau_stop(rule(0.0, patience=2), [1.0, -math.inf, -5.0, -6.0])
    assert decision is not None and decision.iteration == 4


def test_patience_one_is_the_users_guide_default() -> None:
    assert EarlyStopping("val_loss").patience == 1
    decision = plateau_stop(rule(0.01), [0.9, 0.7, 0.695])
    assert decision is not None and decision.iteration == 3


@pytest.mark.parametrize("patience", [1, 2, 5])
def test_a_flat_metric_stops_after_exactly_patience_values(patience: int) -> None:
    decision = plateau_stop(rule(0.0, patience=patience), [0.3] * 20)

    assert decision is not None
    assert decision.iteration == 1 + patience
