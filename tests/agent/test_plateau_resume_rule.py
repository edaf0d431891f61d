"""The plateau rule of a resumed run, without processes: its earlier attempts' rows go
through the rule first, in order (one run, one history)."""

from __future__ import annotations

import pytest

from localsweep.agent._recorder_plateau import RunPlateau
from localsweep.agent._stops import RunStopped
from localsweep.config import EarlyStopping

RULE = EarlyStopping("loss", threshold=0.05, patience=2)
EARLIER = [{"_step": 0, "loss": 1.0}, {"_step": 1, "loss": 0.5}, {"_step": 2, "loss": 0.4}]


def test_the_next_value_is_judged_with_the_earlier_ones() -> None:
    plateau = RunPlateau("r", RULE)
    plateau.resume([*EARLIER, {"_step": 3, "loss": 0.39}])
    plateau.stop_if_decided()  # not reached yet: nothing to raise
    with pytest.raises(RunStopped) as stopped:
        plateau.check({"loss": 0.385}, 4)
    assert stopped.value.reason == "plateau"


def test_a_plateau_reached_before_the_preemption_stops_the_run_once() -> None:
    plateau = RunPlateau("r", RULE)
    plateau.resume([*EARLIER, {"_step": 3, "loss": 0.39}, {"_step": 4, "loss": 0.385}])
    with pytest.raises(RunStopped):
        plateau.stop_if_decided()
    plateau.stop_if_decided()  # raised once: a program's later rows are only recorded


def test_rows_without_a_number_for_the_metric_do_not_count() -> None:
    plateau = RunPlateau("r", RULE)
    plateau.resume([*EARLIER, {"_step": 3, "acc": 1}, {"_step": 4, "loss": True}])
    plateau.check({"loss": 0.39}, 5)  # the first value in a row without improvement
    with pytest.raises(RunStopped):
        plateau.check({"loss": 0.385}, 6)


def test_wandb_inits_rule_judges_the_earlier_rows_too() -> None:
    plateau = RunPlateau("r", None)
    plateau.resume([*EARLIER, {"_step": 3, "loss": 0.39}, {"_step": 4, "loss": 0.385}])
    plateau.stop_if_decided()  # no rule yet
    plateau.replace(RULE)
    with pytest.raises(RunStopped):
        plateau.stop_if_decided()
