"""Hyperband stopping in-process runs, end to end, with real wandb offline.

The sweep is a grid over ``quality``: run q logs ``1 + q`` minus a small drift every
epoch, so worse runs are worse at every iteration. With ``min_iter: 2, eta: 2`` the bands
are 2, 4, 8 and a run at band b is stopped when its value there exceeds the value at index
``int(n / eta)`` of the n runs that reached b (wandb's strict rule). Runs are sequential,
so: q=0 and q=1 survive every band (q=1 ties the threshold), q=2..5 stop at band 2.
"""

from __future__ import annotations

from pathlib import Path

import wandb

import localsweep
from localsweep.wandb_bridge import find_run_file, read_run_file

EPOCHS = 10

CONFIG = {
    "method": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"quality": {"values": [0, 1, 2, 3, 4, 5]}},
    "early_terminate": {"type": "hyperband", "min_iter": 2, "eta": 2},
}


def train_swallowing_exceptions() -> None:
    """A training loop that catches every Exception around its logging, as real code does."""
    with wandb.init() as run:
        quality = run.config["quality"]
        for epoch in range(EPOCHS):
            try:  # noqa: SIM105 - the shape of real training loops is the point
                wandb.log({"loss": 1.0 + quality - 0.01 * epoch, "epoch": epoch})
            except Exception:
                pass


def test_weak_runs_stop_at_their_band(tmp_path: Path) -> None:
    sweep = localsweep.run(CONFIG, train_swallowing_exceptions, count=None, db=tmp_path / "s.db")

    by_quality = {run.config["quality"]: run for run in sweep.runs}
    assert [by_quality[q].state for q in (0, 1)] == ["finished", "finished"]
    assert [len(by_quality[q].history()) for q in (0, 1)] == [EPOCHS, EPOCHS]
    for q in (2, 3, 4, 5):
        run = by_quality[q]
        assert run.state == "early_terminated"
        assert run.stopped_at_band == 2
        assert [row["epoch"] for row in run.history()] == [0, 1]


def test_stopped_run_leaves_a_complete_offline_run(tmp_path: Path) -> None:
    sweep = localsweep.run(CONFIG, train_swallowing_exceptions, count=None, db=tmp_path / "s.db")

    stopped = [run for run in sweep.runs if run.state == "early_terminated"]
    assert stopped
    for run in stopped:
        assert run.dir is not None
        run_file = find_run_file(run.dir)
        assert run_file is not None
        offline = read_run_file(run_file)
        assert offline.finished, "the stopped run's wandb file has no exit record"
        assert [row["epoch"] for row in offline.history] == [0, 1]
        assert offline.sweep_id == sweep.id


def test_the_sweep_goes_on_after_a_stop(tmp_path: Path) -> None:
    sweep = localsweep.run(CONFIG, train_swallowing_exceptions, count=None, db=tmp_path / "s.db")

    assert len(sweep.runs) == 6
    assert sweep.state == "finished"
    assert sweep.best_run() is not None
    assert sweep.best_run().config == {"quality": 0}
