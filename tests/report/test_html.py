"""The HTML report as a file: self-contained, escaped, and holding the views it promises."""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from report_data import report_data

import localsweep
from localsweep.report import MissingExtraError, write_report
from localsweep.report._html import embed_json


def _plot(data: dict[str, Any], plot_id: str) -> dict[str, Any]:
    (plot,) = [p for p in data["plots"] if p["id"] == plot_id]
    return plot


def test_embedded_json_cannot_close_its_script_element() -> None:
    value = {"name": "</script><script>alert(1)</script>", "x": "a & b <!--"}
    text = embed_json(value)
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == value


def test_the_report_needs_no_network(hyperband_sweep: localsweep.Sweep, tmp_path: Path) -> None:
    text = write_report(hyperband_sweep, tmp_path / "r.html").read_text(encoding="utf-8")
    assert not re.search(r"""<(script|link|img|iframe)[^>]+(src|href)=["']?https?:""", text)
    assert "Plotly" in text and "newPlot" in text


def test_the_overview_shows_counts_and_the_best_run(
    hyperband_sweep: localsweep.Sweep, tmp_path: Path
) -> None:
    text = write_report(hyperband_sweep, tmp_path / "r.html").read_text(encoding="utf-8")
    best = hyperband_sweep.best_run()
    assert best is not None
    assert f'<div class="value" id="best-run-id">{best.id}</div>' in text
    stopped = sum(r.state == "early_terminated" for r in hyperband_sweep.runs)
    assert f'id="stopped-count">{stopped}<' in text
    assert f'id="run-count">{len(hyperband_sweep.runs)}<' in text
    assert "early_terminate:" in text  # the config, as YAML


def test_the_runs_table_has_a_row_per_run_and_a_column_per_parameter(
    hyperband_sweep: localsweep.Sweep, tmp_path: Path
) -> None:
    table = report_data(write_report(hyperband_sweep, tmp_path / "r.html"))["table"]
    assert [row[1] for row in table["rows"]] == [r.id for r in hyperband_sweep.runs]
    assert {"lr", "optimizer", "layers", "model.dropout", "val_loss", "state"} <= set(
        table["columns"]
    )


def test_log_scale_parameters_are_drawn_on_log_axes(
    hyperband_sweep: localsweep.Sweep, tmp_path: Path
) -> None:
    data = report_data(write_report(hyperband_sweep, tmp_path / "r.html"))
    axes = {
        p["layout"]["title"]["text"]: p["layout"]["xaxis"]
        for p in data["plots"]
        if p["id"].startswith("plot-slice-")
    }
    assert axes["lr"]["type"] == "log"
    assert axes["layers"].get("type") != "log"
    (parcoords,) = [t for t in _plot(data, "plot-parallel")["data"] if t["type"] == "parcoords"]
    lr = next(d for d in parcoords["dimensions"] if d["label"] == "lr")
    # A log axis holds log10 of the values, labelled with the values.
    runs = [r for r in hyperband_sweep.runs if r.metric is not None]
    assert sorted(lr["values"]) == pytest.approx(sorted(math.log10(r.config["lr"]) for r in runs))
    assert lr["ticktext"] == [f"{10**t:.3g}" for t in lr["tickvals"]]


def test_categorical_parameters_are_drawn_as_categories(
    hyperband_sweep: localsweep.Sweep, tmp_path: Path
) -> None:
    data = report_data(write_report(hyperband_sweep, tmp_path / "r.html"))
    (parcoords,) = [t for t in _plot(data, "plot-parallel")["data"] if t["type"] == "parcoords"]
    optimizer = next(d for d in parcoords["dimensions"] if d["label"] == "optimizer")
    seen = {r.config["optimizer"] for r in hyperband_sweep.runs}
    assert set(optimizer["ticktext"]) == seen


def test_runs_stopped_early_are_marked_at_their_band(
    hyperband_sweep: localsweep.Sweep, tmp_path: Path
) -> None:
    curves = _plot(report_data(write_report(hyperband_sweep, tmp_path / "r.html")), "plot-curves")
    (marks,) = [t for t in curves["data"] if t["name"].startswith("stopped early")]
    stopped = [r for r in hyperband_sweep.runs if r.state == "early_terminated"]
    assert sorted(marks["x"]) == sorted(r.stopped_at_band for r in stopped)
    for x, y in zip(marks["x"], marks["y"], strict=True):
        assert any(r.stopped_at_band == x and r.history()[x - 1]["val_loss"] == y for r in stopped)


def test_learning_curves_are_capped_and_keep_the_best_run(
    hyperband_sweep: localsweep.Sweep, tmp_path: Path
) -> None:
    path = write_report(hyperband_sweep, tmp_path / "r.html", max_curves=5)
    curves = _plot(report_data(path), "plot-curves")
    drawn = sum(
        1 for t in curves["data"] if t["mode"].startswith("lines") for x in t["x"] if x is None
    )
    assert drawn == 5
    assert any(t["name"] == "best run" for t in curves["data"])
    assert f"Showing 5 of {len(hyperband_sweep.runs)} runs" in path.read_text(encoding="utf-8")


def test_metric_over_runs_tracks_the_best_run_so_far(
    hyperband_sweep: localsweep.Sweep, tmp_path: Path
) -> None:
    history = _plot(report_data(write_report(hyperband_sweep, tmp_path / "r.html")), "plot-history")
    (best,) = [t for t in history["data"] if t["name"] == "best so far"]
    # The runs with a result, as best_run() ranks them: finished or stopped by hyperband.
    results = [r for r in hyperband_sweep.runs if r.state in ("finished", "early_terminated")]
    assert any(r.state == "early_terminated" for r in results)
    assert best["x"] == [r.number for r in results if r.metric is not None]
    assert best["y"][-1] == hyperband_sweep.best_run().metric  # type: ignore[union-attr]
    assert best["y"] == sorted(best["y"], reverse=True)


def test_a_sweep_without_runs_still_writes_a_report(tmp_path: Path) -> None:
    config = {"method": "grid", "metric": {"name": "loss"}, "parameters": {"x": {"values": [1]}}}
    db = tmp_path / "s.db"
    sweep = localsweep.Api(db).sweep(localsweep.sweep(config, db=db))
    text = write_report(sweep, tmp_path / "r.html").read_text(encoding="utf-8")
    assert 'data-plots-expected="0"' in text
    assert "No run has a value of the metric yet." in text


def test_without_plotly_the_error_names_the_package(
    hyperband_sweep: localsweep.Sweep, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # plotly is installed here; a None entry in sys.modules is how Python marks a module
    # as not importable, so this is what a user without the extra sees.
    monkeypatch.setitem(sys.modules, "plotly", None)
    with pytest.raises(MissingExtraError, match=r"pip install plotly"):
        write_report(hyperband_sweep, tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


def test_a_values_list_of_numbers_is_drawn_on_a_numeric_axis(tmp_path: Path) -> None:
    def train(config: dict[str, Any]) -> float:
        return config["width"] / 64 + math.log10(config["lr"]) ** 2

    config = {
        "method": "grid",
        "metric": {"name": "loss"},
        "parameters": {
            "width": {"values": [16, 32, 64, 128]},
            "lr": {"values": [1e-4, 1e-3, 1e-2]},
            "act": {"values": ["relu", "tanh"]},
        },
    }
    sweep = localsweep.run(config, train, count=None, db=tmp_path / "s.db", quiet=True)
    data = report_data(write_report(sweep, tmp_path / "r.html"))
    (parcoords,) = [t for t in _plot(data, "plot-parallel")["data"] if t["type"] == "parcoords"]
    dims = {d["label"]: d for d in parcoords["dimensions"]}
    runs = [r for r in sweep.runs if r.metric is not None]
    # As W&B draws numeric config values: the values themselves, ticked at the choices,
    # with 1e-4..1e-2 on a log axis (16..128 spans less than two decades: linear).
    assert dims["width"]["values"] == [float(r.config["width"]) for r in runs]
    assert dims["width"]["tickvals"] == [16.0, 32.0, 64.0, 128.0]
    assert dims["lr"]["values"] == pytest.approx([math.log10(r.config["lr"]) for r in runs])
    assert dims["lr"]["ticktext"] == ["0.0001", "0.001", "0.01"]
    assert dims["act"]["ticktext"] == ["relu", "tanh"]  # text stays categories
    slices = {
        p["layout"]["title"]["text"]: p["layout"]["xaxis"]
        for p in data["plots"]
        if p["id"].startswith("plot-slice-")
    }
    assert slices["lr"]["type"] == "log" and "type" not in slices["width"]
    assert slices["act"]["type"] == "category"
