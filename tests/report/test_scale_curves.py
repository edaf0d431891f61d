"""Learning curves of long runs: each run's curve is sampled down to a bounded number of
points (as W&B's line plots sample a run's history), keeping its spikes, its first and
its last value; a short run's curve is drawn whole."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import localsweep
from localsweep.agent import Agent, RunOutcome, RunRecorder
from localsweep.config import load_config
from localsweep.records import RunState
from localsweep.report import write_report
from localsweep.store import RunRecord, Store

#: The points of a run's curve drawn at most (docs/report.md).
CURVE_POINTS = 1000
LONG = 10_000
SHORT = 30


def _loss(steps: int, step: int) -> float:
    """A falling curve with one spike up and one dip down in the long run."""
    if steps == LONG and step == 4321:
        return 100.0
    if steps == LONG and step == 7777:
        return -100.0
    return 1.0 + math.sin(step / 50) / (step + 1)


def _sweep(db: Path) -> localsweep.Sweep:
    config = {
        "method": "grid",
        "metric": {"name": "loss"},
        "parameters": {"steps": {"values": [LONG, SHORT]}},
    }
    store = Store(db)
    try:
        sweep_id = store.create_sweep(load_config(config)).id

        def runner(run: RunRecord, recorder: RunRecorder) -> RunOutcome:
            # What wandb's log hook feeds the recorder, one row per run.log.
            steps = int(run.config["steps"])
            for step in range(steps):
                recorder.on_log({"loss": _loss(steps, step)}, step)
            return RunOutcome(RunState.FINISHED, exit_code=0)

        Agent(store, sweep_id, runner=runner, count=2).run()
    finally:
        store.close()
    return localsweep.Api(db).sweep(sweep_id)


def _curves(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    found = re.search(r'<script type="application/json" id="sweep-data">(.*?)</script>', text, re.S)
    assert found is not None
    (plot,) = [p for p in json.loads(found.group(1))["plots"] if p["id"] == "plot-curves"]
    return dict(plot)


def _run_points(curves: dict[str, Any], run_id: str) -> list[tuple[int, float]]:
    (trace,) = [t for t in curves["data"] if t["name"] == "finished"]
    return [
        (x, y)
        for x, y, label in zip(trace["x"], trace["y"], trace["text"], strict=True)
        if label is not None and f"({run_id})" in label
    ]


def test_a_long_runs_curve_is_bounded_and_keeps_its_spikes_first_and_last(
    tmp_path: Path,
) -> None:
    sweep = _sweep(tmp_path / "db.db")
    long_run = next(r for r in sweep.runs if r.config["steps"] == LONG)
    logged = [row["loss"] for row in long_run.history()]
    assert len(logged) == LONG

    points = _run_points(_curves(write_report(sweep, tmp_path / "r.html")), long_run.id)

    assert len(points) <= CURVE_POINTS
    assert points[0] == (1, logged[0])
    assert points[-1] == (LONG, logged[-1])
    assert (4322, 100.0) in points and (7778, -100.0) in points
    assert [x for x, _ in points] == sorted({x for x, _ in points})  # in order, once each
    assert all(logged[x - 1] == y for x, y in points)  # real values at their own steps


def test_a_short_runs_curve_is_drawn_whole(tmp_path: Path) -> None:
    sweep = _sweep(tmp_path / "db.db")
    short_run = next(r for r in sweep.runs if r.config["steps"] == SHORT)
    logged = [row["loss"] for row in short_run.history()]

    points = _run_points(_curves(write_report(sweep, tmp_path / "r.html")), short_run.id)

    assert points == list(enumerate(logged, 1))


def test_the_best_runs_line_is_bounded_too(tmp_path: Path) -> None:
    sweep = _sweep(tmp_path / "db.db")
    curves = _curves(write_report(sweep, tmp_path / "r.html"))
    (best,) = [t for t in curves["data"] if t["name"] == "best run"]

    assert len(best["x"]) <= CURVE_POINTS


def test_a_stretch_of_nan_in_a_long_run_stays_a_gap_in_its_curve() -> None:
    from localsweep.report._plots import thin_curve

    values = [1.0 / (i + 1) for i in range(LONG)]
    values[3000:3500] = [math.nan] * 500  # the run logged NaN for a while

    points = thin_curve(values, CURVE_POINTS)

    assert len(points) <= CURVE_POINTS
    assert any(3000 < x <= 3500 and math.isnan(y) for x, y in points)
    assert points[0] == (1, 1.0) and points[-1] == (LONG, values[-1])


def test_the_reports_curves_read_the_metric_not_each_runs_rows(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """The curves come from the metric's values the store keeps beside each row, as the
    live page's do, prior runs' included (stored under an id of their own): reading every
    run's rows decoded each logged key, 26 of a report's 35 seconds at 400 runs of 2,000
    rows of 10 keys."""
    db = tmp_path / "db.db"
    first = _sweep(db)
    config = {
        "method": "grid",
        "metric": {"name": "loss"},
        "parameters": {"steps": {"values": [LONG, SHORT, 7]}},
    }
    second_id = localsweep.sweep(config, db=str(db), prior_runs=[first.id])
    logged = {r.id: [row["loss"] for row in r.history()] for r in first.runs}

    def whole_rows(self: Store, run_id: str) -> list[dict[str, Any]]:
        raise AssertionError(f"the report read every logged key of run {run_id}")

    monkeypatch.setattr(Store, "history", whole_rows)
    second = localsweep.Api(db).sweep(second_id)
    assert {r.id for r in second.prior_runs} == set(logged)
    out = tmp_path / "report.html"
    write_report(second, out)
    curves = _curves(out)
    for run_id, values in logged.items():
        points = _run_points(curves, run_id)
        assert points[0] == (1, values[0]) and points[-1] == (len(values), values[-1])
        assert len(points) == min(len(values), CURVE_POINTS)


def test_hyperbands_mark_is_at_the_band_th_number_a_run_logged(tmp_path: Path) -> None:
    """A run that logged a value that is no number (None, text) under the metric: the
    value is a gap in its curve, and hyperband's × sits at the band-th number it logged
    (hyperband's iteration counts numbers only); it was drawn one value early, at a gap,
    with no value."""
    config = {
        "method": "grid",
        "metric": {"name": "loss"},
        "parameters": {"x": {"values": [1]}},
    }
    store = Store(tmp_path / "db.db")
    try:
        sweep_id = store.create_sweep(load_config(config)).id

        def runner(run: RunRecord, recorder: RunRecorder) -> RunOutcome:
            for step, value in enumerate([4.0, None, "oops", 3.0, 2.0]):
                recorder.on_log({"loss": value}, step)
            return RunOutcome(RunState.EARLY_TERMINATED, exit_code=0, stopped_at_band=3)

        Agent(store, sweep_id, runner=runner, count=1).run()
    finally:
        store.close()
    sweep = localsweep.Api(tmp_path / "db.db").sweep(sweep_id)
    curves = _curves(write_report(sweep, tmp_path / "r.html"))
    (trace,) = [t for t in curves["data"] if t["name"] == "early_terminated"]
    assert [(x, y) for x, y in zip(trace["x"], trace["y"], strict=True) if x] == [
        (1, 4.0),
        (2, None),
        (3, None),
        (4, 3.0),
        (5, 2.0),
    ]
    (mark,) = [t for t in curves["data"] if "stopped" in str(t.get("name"))]
    assert (mark["x"], mark["y"]) == ([5], [2.0])  # numbers 4, 3, 2: the third is at 5
