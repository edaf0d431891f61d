"""What a watcher that keeps a sweep's runs (``localsweep ui``) reads from the store, on
every backend: the runs new or open since its last look, and the metric histories of
some runs."""

from __future__ import annotations

import pytest

from localsweep.agent import Agent, RunOutcome, RunRecorder
from localsweep.config import parse_config
from localsweep.records import RunState
from localsweep.store import RunRecord, Store

CONFIG = {
    "method": "random",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"x": {"min": 0.0, "max": 1.0}},
}


def _runner(run: RunRecord, recorder: RunRecorder) -> RunOutcome:
    for step in range(3):
        recorder.on_log({"loss": run.config["x"] + step, "other": 1}, step)
    return RunOutcome(RunState.FINISHED, exit_code=0)


def test_runs_since_gives_new_and_open_runs_and_histories_of_some(store: Store) -> None:
    sweep_id = store.create_sweep(parse_config(CONFIG)).id
    Agent(store, sweep_id, runner=_runner, count=3).run()
    every = store.runs_since(sweep_id, -(2**31))
    assert [r.number for r in every] == [0, 1, 2]
    assert store.runs_since(sweep_id, 3) == []
    # A run still open at the last look is read again, whatever its number.
    again = store.runs_since(sweep_id, 3, [every[0].id])
    assert [r.id for r in again] == [every[0].id]
    Agent(store, sweep_id, runner=_runner, count=1).run()
    (new,) = store.runs_since(sweep_id, 3)
    assert new.number == 3 and new.state is RunState.FINISHED
    some = store.metric_histories(sweep_id, [every[1].id, new.id])
    x1, x3 = every[1].config["x"], new.config["x"]
    assert some == {
        every[1].id: pytest.approx([x1, x1 + 1, x1 + 2]),
        new.id: pytest.approx([x3, x3 + 1, x3 + 2]),
    }
    assert set(store.metric_histories(sweep_id)) == {r.id for r in [*every, new]}
