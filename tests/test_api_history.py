"""``Run.history(samples, keys, x_axis, pandas)`` with wandb.Api's meaning
(wandb/apis/public/runs.py): with ``keys`` wandb asks its server for ``[x_axis, *keys]``
and gets the rows that have all of them, cut to them; without ``keys``, whole rows, which
carry wandb's ``_runtime`` and ``_timestamp``. Real wandb offline runs, real SQLite."""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import localsweep

GRID = {"method": "grid", "metric": {"name": "loss"}, "parameters": {"x": {"values": [1]}}}


def _train() -> None:
    import wandb

    with wandb.init() as run:
        for i in range(6):
            time.sleep(0.05)  # the rows' times differ
            run.log({"loss": float(i), **({"epoch": i // 2} if i % 2 else {})})


@pytest.fixture(scope="module")
def logged(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, float, float]]:
    """One run's six rows (``epoch`` in every other), with when it ran (Unix seconds)."""
    folder = tmp_path_factory.mktemp("history")
    before = os.getcwd()
    os.chdir(folder)
    try:
        start = time.time()
        (run,) = localsweep.run(GRID, _train, db=str(folder / "s.db"), quiet=True).runs
        yield run, start, time.time()
    finally:
        os.chdir(before)


def test_x_axis_runtime_gives_each_row_its_seconds_since_the_run_started(
    logged: tuple[Any, float, float],
) -> None:
    run, start, end = logged
    rows = run.history(keys=["loss"], x_axis="_runtime")
    assert [sorted(r) for r in rows] == [["_runtime", "loss"]] * 6
    assert [r["loss"] for r in rows] == [float(i) for i in range(6)]
    runtimes = [r["_runtime"] for r in rows]
    assert runtimes == sorted(runtimes) and len(set(runtimes)) == 6
    assert runtimes[0] >= 0 and runtimes[-1] <= end - start


def test_x_axis_timestamp_gives_when_each_row_was_logged(
    logged: tuple[Any, float, float],
) -> None:
    run, start, end = logged
    rows = run.history(keys=["loss"], x_axis="_timestamp")
    assert all(start <= r["_timestamp"] <= end for r in rows)
    assert len(rows) == 6


def test_whole_rows_carry_runtime_and_timestamp_when_runtime_is_the_axis(
    logged: tuple[Any, float, float],
) -> None:
    # wandb's history() without keys returns whole rows, and wandb's rows have both times.
    rows = logged[0].history(x_axis="_runtime", pandas=False)
    assert isinstance(rows, list)
    assert [r["_step"] for r in rows] == list(range(6))
    assert all({"_runtime", "_timestamp", "loss"} <= set(r) for r in rows)


def test_a_logged_key_as_x_axis_keeps_only_the_rows_that_have_it(
    logged: tuple[Any, float, float],
) -> None:
    # wandb asks for [x_axis, *keys]: a row without the axis has no point to plot.
    rows = logged[0].history(keys=["loss"], x_axis="epoch")
    assert rows == [{"loss": 1.0, "epoch": 0}, {"loss": 3.0, "epoch": 1}, {"loss": 5.0, "epoch": 2}]


def test_samples_spreads_the_rows_with_the_runtime_axis_kept(
    logged: tuple[Any, float, float],
) -> None:
    rows = logged[0].history(samples=3, keys=["loss"], x_axis="_runtime")
    assert [r["loss"] for r in rows] == [0.0, 2.0, 5.0]  # first and last kept
    assert all("_runtime" in r for r in rows)


def test_pandas_true_gives_a_frame_with_the_runtime_column(
    logged: tuple[Any, float, float],
) -> None:
    pytest.importorskip("pandas")
    frame = logged[0].history(keys=["loss"], x_axis="_runtime", pandas=True)
    assert sorted(frame.columns) == ["_runtime", "loss"]
    assert len(frame) == 6


def test_a_run_whose_offline_folder_is_gone_keeps_its_rows_without_times(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (run,) = localsweep.run(GRID, _train, db=str(tmp_path / "s.db"), quiet=True).runs
    shutil.rmtree(run.dir)
    with caplog.at_level(logging.WARNING, logger="localsweep"):
        rows = run.history(keys=["loss"], x_axis="_runtime")
    assert rows == [{"loss": float(i)} for i in range(6)]
    assert "no offline wandb file in" in caplog.text and "_runtime" in caplog.text


def _train_nested() -> None:
    import wandb

    with wandb.init() as run:
        for i in range(3):
            hist = wandb.Histogram([0.0, 1.0, float(i)])
            run.log({"val": {"loss": 3.0 - i, "acc": {"top1": i / 10}}, "h": hist, "x": i})


def test_a_metric_logged_as_a_nested_dict_is_asked_for_by_its_dotted_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # W&B's server keeps {"val": {"loss": v}} as the column val.loss: an analysis script
    # asking for keys=["val.loss"] got nothing here.
    monkeypatch.chdir(tmp_path)
    config = {**GRID, "metric": {"name": "val.loss"}}
    (run,) = localsweep.run(config, _train_nested, db="s.db", quiet=True).runs
    assert run.summary["val"]["loss"] == 1.0  # the summary stays nested, as wandb's

    rows = run.history(keys=["val.loss", "val.acc.top1"])
    assert rows == [{"_step": i, "val.loss": 3.0 - i, "val.acc.top1": i / 10} for i in range(3)]
    assert [r["val.loss"] for r in run.scan_history(keys=["val.loss"])] == [3.0, 2.0, 1.0]
    # Whole rows are as wandb wrote them (the run file's), nesting kept.
    whole = run.history()
    assert whole[2]["val"] == {"loss": 1.0, "acc": {"top1": 0.2}}
    assert "val.loss" not in whole[2]
    hist = run.history(keys=["h"])
    assert hist[2]["h"]["_type"] == "histogram"  # a media value is not a level
    assert run.history(keys=["h.bins"]) == []
    assert [r["x"] for r in run.history(keys=["val.loss"], x_axis="x")] == [0, 1, 2]


def test_scan_history_asked_for_wandbs_times_says_why_it_has_no_row(
    logged: tuple[Any, float, float],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A scan's rows have ``_step`` only of wandb's keys: asked for ``_runtime`` too, it
    selects no row, and a warning names the key and ``history(keys=...)``, which has it,
    rather than the empty scan passing for "no data"."""
    from localsweep import _api_run

    monkeypatch.setattr(_api_run, "_SCAN_TIMES_SAID", [])
    run, _, _ = logged
    with caplog.at_level(logging.WARNING, logger="localsweep"):
        assert list(run.scan_history(keys=["loss", "_runtime"])) == []
        list(run.scan_history(keys=["loss", "_timestamp"]))
    assert caplog.text.count("scan_history(keys=") == 1  # said once
    assert "no _runtime" in caplog.text
    assert "run.history(keys=['loss', '_runtime'])" in caplog.text
    assert len(run.history(keys=["loss", "_runtime"])) == 6
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="localsweep"):
        assert len(list(run.scan_history(keys=["loss"]))) == 6
    assert caplog.text == ""


def test_a_run_summary_has_wandb_apis_json_dict(logged: tuple[Any, float, float]) -> None:
    """W&B's "export runs" snippet reads ``run.summary._json_dict``; the summary stays a
    dict."""
    import json

    run, _, _ = logged
    assert isinstance(run.summary, dict)
    plain = run.summary._json_dict
    assert type(plain) is dict and plain == run.summary and plain["loss"] == 5.0
    plain["loss"] = 0.0  # a copy
    assert run.summary["loss"] == 5.0
    assert json.loads(json.dumps(run.summary)) == plain | {"loss": 5.0}
