"""wandb keeps one run per process for ``wandb.init()`` and ``wandb.log()``. A sweep whose
training uses wandb, run in this process, is refused with a message naming the way out
when that one run is taken: by the user's own open run (an earlier notebook cell), whose
``wandb.init()`` the sweep's training got instead of the sweep's run (a failed point, and
the user's run closed with exit code 1); or by another sweep's run (two sweeps in two
threads, whose runs took each other's ids, configs and metrics). The refused run is not
counted: its point is offered again."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import wandb

import localsweep
from localsweep import Api
from localsweep.errors import AgentError

GRID = {"method": "grid", "metric": {"name": "loss"}, "parameters": {"x": {"values": [1, 2]}}}


def train() -> None:
    with wandb.init() as run:
        run.log({"loss": float(run.config["x"])})


def test_a_wandb_run_the_user_has_open_is_not_taken_for_the_sweeps(offline: Path) -> None:
    user = wandb.init(mode="offline", project="mine", config={"mine": 1})
    try:
        with pytest.raises(AgentError, match=rf"a wandb run \({user.id}\) is open in this process"):
            localsweep.run(GRID, train, db="s.db", quiet=True)
        user.log({"mine": 2})  # still the user's, still open
        assert wandb.run is user
    finally:
        user.finish()
    (sweep,) = Api("s.db").sweeps()
    assert [(r.state, r.end_reason) for r in sweep.runs] == [("killed", "setup_error")]
    # Once it is finished, the same sweep runs every point.
    localsweep.agent(sweep.id, train, db="s.db", quiet=True)
    runs = Api("s.db").sweep(sweep.id).runs
    finished = sorted((r.config["x"], r.metric) for r in runs if r.state == "finished")
    assert finished == [(1, 1.0), (2, 2.0)]


def test_a_second_sweep_in_another_thread_is_refused_and_the_first_is_unharmed(
    offline: Path,
) -> None:
    started, release = threading.Event(), threading.Event()

    def slow_train() -> None:
        with wandb.init() as run:
            started.set()
            release.wait(60)
            run.log({"loss": float(run.config["x"]) + 10})

    outcome: dict[str, object] = {}

    def first() -> None:
        outcome["first"] = localsweep.run(GRID, slow_train, db="a.db", quiet=True, count=1)

    thread = threading.Thread(target=first)
    thread.start()
    try:
        assert started.wait(60)
        with pytest.raises(AgentError, match=r"is open in this process") as refused:
            localsweep.run(GRID, train, db="b.db", quiet=True)
        assert "isolation='process'" in str(refused.value)
    finally:
        release.set()
        thread.join(60)
    (run,) = Api("a.db").sweeps()[0].runs
    assert (run.state, run.config, run.metric) == ("finished", {"x": 1}, 11.0)
    (refused_run,) = Api("b.db").sweeps()[0].runs
    assert (refused_run.state, refused_run.end_reason) == ("killed", "setup_error")
