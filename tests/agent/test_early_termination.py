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
from localsweep.wandb_bridge import find_run_file, wait_for_exit_record

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
        # wandb-core writes a run's last records a moment after run.finish() returns (the
        # last run's, after localsweep.run returns): a reader right after the sweep waits.
        try:
            offline = wait_for_exit_record(run_file, timeout=60)
        except TimeoutError:
            raise AssertionError("the stopped run's wandb file has no exit record") from None
        assert [row["epoch"] for row in offline.history] == [0, 1]
        assert offline.sweep_id == sweep.id


def test_the_sweep_goes_on_after_a_stop(tmp_path: Path) -> None:
    sweep = localsweep.run(CONFIG, train_swallowing_exceptions, count=None, db=tmp_path / "s.db")

    assert len(sweep.runs) == 6
    assert sweep.state == "FINISHED"
    assert sweep.best_run() is not None
    assert sweep.best_run().config == {"quality": 0}


def _ab_sweep(**extra: object) -> dict[str, object]:
    return {
        "method": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        "early_terminate": {"type": "hyperband", "min_iter": 3},
        "parameters": {"x": {"values": ["A", "B"]}},
        **extra,
    }


#: Run A's values; at band 3 (its third value, 1.0) it sets the bar for B.
A_VALUES = [3.0, 2.0, 1.0, 1.0, 1.0]


def test_a_row_left_open_at_a_band_is_kept_whole(tmp_path: Path) -> None:
    """``log(..., commit=False)`` leaves a row open for more keys. Hyperband judges the
    run at once on the row's value, and the store keeps one row per step, as wandb's
    history does, whether the run goes on or is stopped there."""

    def train() -> None:
        with wandb.init() as run:
            values = A_VALUES if run.config.x == "A" else [3.0, 2.0, 1.5, 0.8, 0.7]
            for epoch, value in enumerate(values):
                run.log({"loss": value}, commit=False)
                run.log({"acc": 0.1 * epoch})

    sweep = localsweep.run(_ab_sweep(), train, db=tmp_path / "s.db", quiet=True)
    runs = {run.config["x"]: run for run in sweep.runs}
    assert (runs["B"].state, runs["B"].stopped_at_band) == ("early_terminated", 3)
    assert [row["_step"] for row in runs["A"].history()] == [0, 1, 2, 3, 4]
    assert [row["_step"] for row in runs["B"].history()] == [0, 1, 2]
    assert all({"loss", "acc"} <= row.keys() for row in runs["A"].history())
    # B's row at band 3 was open when it stopped, before it logged acc: as in its wandb file.
    assert [sorted(row) for row in runs["B"].history()] == [
        ["_step", "acc", "loss"],
        ["_step", "acc", "loss"],
        ["_step", "loss"],
    ]


def test_a_resumed_run_is_judged_on_its_whole_history(tmp_path: Path) -> None:
    """A run preempted after two values and resumed: its third value overall (10, the
    first of its second attempt) is what band 3 judges, as on W&B, whose history of the
    run holds both attempts; not the third value of the second attempt."""
    checkpoint = tmp_path / "checkpoint"

    def train() -> None:
        with wandb.init() as run:
            if run.config.x == "A":
                for step, value in enumerate(A_VALUES):
                    run.log({"loss": value}, step=step)
            elif not checkpoint.exists():
                checkpoint.touch()
                for step, value in enumerate([10.0, 10.0]):
                    run.log({"loss": value}, step=step)
                run.mark_preempting()
                raise SystemExit(1)
            else:
                for step, value in zip(range(2, 6), [10.0, 0.5, 0.5, 0.5], strict=True):
                    run.log({"loss": value}, step=step)

    db = tmp_path / "s.db"
    sweep_id = localsweep.sweep(_ab_sweep(), db=db)
    localsweep.agent(sweep_id, function=train, db=db, count=2, quiet=True)
    localsweep.agent(sweep_id, function=train, db=db, quiet=True)
    runs = {run.config["x"]: run for run in localsweep.Api(db).sweep(sweep_id).runs}
    b = runs["B"]
    assert (b.attempt, b.state, b.stopped_at_band) == (2, "early_terminated", 3)
    assert [row["loss"] for row in b.history()] == [10.0, 10.0, 10.0]
