"""``gpus`` of ``localsweep.run`` / ``localsweep.agent`` read as ``--gpus`` is: a string
``"0,1"`` is two GPUs (it was iterated, each character a worker's CUDA_VISIBLE_DEVICES:
``'0'``, ``','``), and GPUs that name no device are refused, as ``--gpus ,,`` is."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import localsweep
from localsweep.agent import run_workers, runner_factory
from localsweep.store import Store

CONFIG = {"method": "grid", "metric": {"name": "loss"}, "parameters": {"x": {"values": [1, 2]}}}


def train(config: dict[str, Any]) -> dict[str, Any]:
    return {"loss": 0.0, "gpu": os.environ.get("CUDA_VISIBLE_DEVICES")}


@pytest.mark.slow
def test_a_comma_string_gives_each_worker_one_gpu_as_gpus_on_the_command_line(
    tmp_path: Path,
) -> None:
    sweep = localsweep.run(
        CONFIG,
        train,
        count=2,
        db=str(tmp_path / "s.db"),
        gpus="0,1",
        workers=2,
        isolation="process",
        quiet=True,
    )
    runs = sweep.runs
    assert [run.state for run in runs] == ["finished", "finished"], [r.error for r in runs]
    assert sorted(run.summary["gpu"] for run in runs) == ["0", "1"]


@pytest.mark.parametrize(
    ("gpus", "said"),
    [
        ([], "names no GPU"),  # left every GPU visible
        ("", "names no GPU"),  # so did this
        (",,", "names no GPU"),
        (["", ""], "an entry that names no GPU"),  # hid every GPU
        (["0", " "], "an entry that names no GPU"),
        (["0,", "1"], "an entry that names no GPU"),
        (0, "must be a list"),
    ],
)
def test_gpus_that_name_no_device_are_refused_before_anything_is_made(
    tmp_path: Path, gpus: Any, said: str
) -> None:
    db = tmp_path / "s.db"
    with pytest.raises(ValueError, match=f"^gpus .*{said}.*gpus=None"):
        localsweep.run(CONFIG, train, db=str(db), gpus=gpus, quiet=True)
    assert not db.exists()  # no sweep made that could not run
    with pytest.raises(ValueError, match=f"^gpus .*{said}"):
        localsweep.agent("ls-none", train, db=str(db), gpus=gpus)


def test_gpus_as_indices_or_a_string_reach_the_workers_as_a_list(tmp_path: Path) -> None:
    """What each worker's runs get: ``run_workers`` reads ``gpus`` as ``agent`` does."""
    store = Store(tmp_path / "s.db")
    try:
        sweep_id = localsweep.sweep(CONFIG, db=str(tmp_path / "s.db"))
        seen: list[str | None] = []

        def make_runner(slot: Any) -> Any:
            seen.append(slot.env.get("CUDA_VISIBLE_DEVICES"))
            return runner_factory(store, sweep_id, function=train)(slot)

        run_workers(store, sweep_id, count=1, gpus="10,11", workers=1, make_runner=make_runner)
        run_workers(store, sweep_id, count=1, gpus=[3], make_runner=make_runner)
        with pytest.raises(ValueError, match="gpus"):
            run_workers(store, sweep_id, count=1, gpus=["", ""], make_runner=make_runner)
        assert seen == ["10", "3"]  # "10,11" was iterated: worker 0 had GPU "1"
    finally:
        store.close()
