"""``wandb.init``'s early-stopping arguments reach the open localsweep run and never wandb;
outside such a run ``wandb.init`` is wandb's own object again."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import wandb

from localsweep.wandb_bridge import FinishedRun, WandbRunSession
from localsweep.wandb_bridge._init_routing import _close_init, _open_init


class RecordingSink:
    """A sink that keeps what it was told (the bridge's side of the seam under test)."""

    def __init__(self) -> None:
        self.arguments: list[dict[str, Any]] = []
        self.rows: list[Mapping[str, Any]] = []

    def on_log(self, data: Mapping[str, Any], step: int, committed: bool = False) -> None:
        self.rows.append(dict(data))

    def on_finish(self, finished: FinishedRun) -> None:
        pass

    def on_early_stopping(self, arguments: Mapping[str, Any]) -> None:
        self.arguments.append(dict(arguments))


def test_a_run_hands_the_arguments_to_its_sink(tmp_path: Path) -> None:
    wandbs_own = wandb.init
    sink = RecordingSink()
    session = WandbRunSession(
        sweep_id="ls-test0001", run_id="r1", config={"lr": 0.1}, sink=sink, param_dir=tmp_path
    )

    with session:
        assert wandb.init is not wandbs_own
        run = wandb.init(
            config={"lr": 0.5, "epochs": 3},
            early_stopping_metric="val_loss",
            early_stopping_threshold=0.01,
            early_stopping_patience=2,
            early_stopping_goal="minimize",
        )
        assert dict(run.config) == {"lr": 0.1, "epochs": 3}
        run.log({"val_loss": 1.0})
        run.finish()

    assert sink.arguments == [
        {
            "early_stopping_metric": "val_loss",
            "early_stopping_threshold": 0.01,
            "early_stopping_patience": 2,
            "early_stopping_goal": "minimize",
        }
    ]
    assert sink.rows == [{"val_loss": 1.0}]
    assert wandb.init is wandbs_own


def test_after_the_run_wandbs_own_error_stands(tmp_path: Path) -> None:
    session = WandbRunSession(
        sweep_id="ls-test0002", run_id="r2", config={}, sink=RecordingSink(), param_dir=tmp_path
    )
    with session:
        pass

    with pytest.raises(TypeError, match="unexpected keyword argument 'early_stopping_metric'"):
        wandb.init(early_stopping_metric="val_loss", early_stopping_threshold=0.01)


def test_overlapping_runs_put_wandbs_init_back_once_both_end() -> None:
    wandbs_own = wandb.init
    first, second = RecordingSink(), RecordingSink()
    opened, release, closed = threading.Event(), threading.Event(), threading.Event()

    def other_thread() -> None:
        _open_init(second)
        opened.set()
        release.wait(10)
        _close_init()
        closed.set()

    _open_init(first)
    thread = threading.Thread(target=other_thread)
    thread.start()
    try:
        assert opened.wait(10)
        _close_init()
        # The other thread's run is still open: its calls must still be routed.
        assert wandb.init is not wandbs_own
    finally:
        release.set()
        thread.join(10)
    assert closed.is_set()
    assert wandb.init is wandbs_own
