"""Plateau stopping judges the run, not the attempt: a run preempted and resumed stops
where the same run left alone stops (its earlier attempts' values count, as for
hyperband), in-process and in program mode; and a program that ends on its own before a
stop reaches it finished, whatever the timing."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import wandb

import localsweep
from localsweep.store import Store

PROGRAM = str(Path(__file__).parent / "programs" / "plateau_resume.py")
sys.path.insert(0, str(Path(PROGRAM).parent))
from plateau_resume import VALUES  # noqa: E402

RULE = {"early_stopping": {"threshold": 0.05, "patience": 2}}


def sweep_config(**parameters: Any) -> dict[str, Any]:
    return {
        "method": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {name: {"value": value} for name, value in parameters.items()},
        "localsweep": RULE,
    }


def _losses(store: Store, run_id: str) -> list[float]:
    return [row["loss"] for row in store.history(run_id)]


@pytest.mark.parametrize("init_arguments", [False, True])
def test_a_resumed_function_run_stops_where_the_run_left_alone_stops(
    tmp_path: Path, init_arguments: bool
) -> None:
    """Preempted after four values, the run stops at the first value of its second
    attempt: the second in a row without improvement counting the first attempt's."""
    arguments = (
        {
            "early_stopping_threshold": 0.05,
            "early_stopping_patience": 2,
            "early_stopping_metric": "loss",
        }
        if init_arguments
        else {}
    )

    def train() -> None:
        run = wandb.init(**arguments)
        if not run.resumed:
            for value in VALUES[:4]:
                run.log({"loss": value})
            run.mark_preempting()
            raise SystemExit(1)
        for value in VALUES[run.step :]:
            run.log({"loss": value})
        run.finish()

    db = tmp_path / "s.db"
    config = sweep_config(x=1)
    if init_arguments:
        del config["localsweep"]
    sweep_id = localsweep.sweep(config, db=db)
    localsweep.agent(sweep_id, function=train, db=db, quiet=True)
    (run,) = localsweep.Api(db).sweep(sweep_id).runs
    assert (run.attempt, run.state, run.end_reason) == (2, "early_terminated", "plateau")
    assert [row["loss"] for row in run.history()] == VALUES[:5]
    assert run.summary["loss"] == 0.385


@pytest.mark.slow
@pytest.mark.parametrize("preempt_after", [4, 5])
def test_a_resumed_program_run_stops_where_the_run_left_alone_stops(
    store: Store,
    make_sweep: Callable[..., str],
    run_program: Callable[..., Any],
    preempt_after: int,
) -> None:
    """Preempted after four values, the resumed program is stopped at its first value
    (it waits long after each, so the stop reaches it there). Preempted after five, it
    had reached the plateau before it was preempted: resumed, it is stopped at once,
    before it logs anything more."""
    config = sweep_config(preempt_after=preempt_after, pace=10)
    sweep_id = make_sweep({**config, "program": PROGRAM})
    run_program(sweep_id)

    (run,) = store.list_runs(sweep_id)
    assert (run.attempt, run.state.value, run.end_reason) == (2, "early_terminated", "plateau")
    assert _losses(store, run.id) == VALUES[:5]
    assert run.metric == 0.385


@pytest.mark.slow
def test_a_program_that_logs_everything_and_exits_finished(
    store: Store, make_sweep: Callable[..., str], run_program: Callable[..., Any]
) -> None:
    """Its values reach the plateau at the fifth, but it logs all eight at once and
    finishes before any stop can reach it: it finished on its own, with every row and
    its last value as its result, every time (never ``early_terminated`` unstopped)."""
    config = sweep_config(pace=0)
    config["parameters"]["repeat"] = {"values": [1, 2, 3]}
    sweep_id = make_sweep({**config, "program": PROGRAM})
    run_program(sweep_id)

    runs = store.list_runs(sweep_id)
    assert [(run.state.value, run.end_reason, run.metric) for run in runs] == [
        ("finished", None, 0.05)
    ] * 3
    assert all(_losses(store, run.id) == VALUES for run in runs)
