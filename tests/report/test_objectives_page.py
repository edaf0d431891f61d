"""The report of a multi-objective sweep (``metrics:``) read back as a user sees it: its head
gives the Pareto set where a single-metric sweep has its best run, and every section that
draws the metric draws each objective."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

import localsweep
from localsweep.report import write_report
from localsweep.search._multi import objective_values

pytest.importorskip("plotly")
pytest.importorskip("sklearn")

CONFIG = {
    "method": "custom",
    "metrics": [{"name": "loss"}, {"name": "acc", "goal": "maximize"}],
    "parameters": {"x": {"min": 0.0, "max": 1.0}, "noise": {"values": [0, 1, 2]}},
    "localsweep": {"seed": 2},
}
RUNS = 12


def train(config: dict[str, Any]) -> dict[str, float] | None:
    x = config["x"]
    if x > 0.9:
        return {"loss": (x - 0.2) ** 2}  # no acc: on no front, but in loss's panel
    return {"loss": (x - 0.2) ** 2, "acc": x}


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[localsweep.Sweep, str]:
    folder = tmp_path_factory.mktemp("objectives")
    sweep = localsweep.run(CONFIG, train, count=RUNS, db=folder / "db.db", quiet=True)
    page = write_report(sweep, folder / "report.html").read_text(encoding="utf-8")
    return localsweep.Api(folder / "db.db").sweep(sweep.id), page


def _data(page: str) -> dict[str, Any]:
    blob = page.split('<script type="application/json" id="sweep-data">')[1].split("</script>")[0]
    data: dict[str, Any] = json.loads(blob)
    return data


def _plot(page: str, plot_id: str) -> dict[str, Any]:
    return next(p for p in _data(page)["plots"] if p["id"] == plot_id)


def _part(page: str, name: str) -> str:
    return page.split(f'data-part="{name}">')[1].split('<div data-part="')[0]


def test_the_head_gives_the_pareto_set_with_each_runs_objective_values(
    report: tuple[localsweep.Sweep, str],
) -> None:
    sweep, page = report
    front = sweep.pareto_runs()
    assert len(front) >= 2
    overview = _part(page, "overview")
    assert "no finished run with the metric" not in overview
    assert f'<div class="value" id="pareto-count">{len(front)}</div>' in overview
    head = overview.split('id="pareto-head"')[1].split("</table>")[0]
    listed = re.findall(r"<tr><td><code>([a-z0-9]{8})</code></td>", head)
    assert sorted(listed) == sorted(r.id for r in front)
    for run in front:
        values = objective_values(run.summary, sweep.parsed_config.metrics)
        assert values is not None
        row = head.split(f"<code>{run.id}</code>")[1].split("</tr>")[0]
        assert [f"{v:.6g}" for v in values] == re.findall(r'<td class="num">([^<]+)</td>', row)
    assert "minimize loss, maximize acc" in _part(page, "meta")


def test_no_section_says_that_no_run_has_a_value(report: tuple[localsweep.Sweep, str]) -> None:
    _sweep, page = report
    assert "No run has a value of the metric yet" not in page
    assert "Computed on 0 runs" not in page


def test_the_runs_over_time_plot_has_a_panel_per_objective_with_the_pareto_set(
    report: tuple[localsweep.Sweep, str],
) -> None:
    sweep, page = report
    history = _plot(page, "plot-history")
    layout = history["layout"]
    assert layout["yaxis"]["title"]["text"] == "loss (minimize)"
    assert layout["yaxis2"]["title"]["text"] == "acc (maximize)"
    loss = [t for t in history["data"] if t.get("yaxis", "y") == "y"]
    acc = [t for t in history["data"] if t.get("yaxis") == "y2"]
    # Every run has a loss; the runs that logged no acc are not in acc's panel.
    drawn = sum(len(t["x"]) for t in loss if t["name"] not in ("best so far", "Pareto set"))
    assert drawn == RUNS
    with_acc = sum(1 for r in sweep.runs if "acc" in r.summary)
    assert with_acc < RUNS
    assert sum(len(t["x"]) for t in acc if t["name"] not in ("best so far", "Pareto set")) == (
        with_acc
    )
    for panel in (loss, acc):
        ringed = next(t for t in panel if t["name"] == "Pareto set")
        assert sorted(ringed["x"]) == sorted(r.number for r in sweep.pareto_runs())


def test_parallel_coordinates_end_in_every_objective_with_the_front_in_red(
    report: tuple[localsweep.Sweep, str],
) -> None:
    sweep, page = report
    trace = _plot(page, "plot-parallel")["data"][0]
    labels = [d["label"] for d in trace["dimensions"]]
    assert labels[-2:] == ["loss (minimize)", "acc (maximize)"]
    assert {"x", "noise"} <= set(labels)
    complete = [r for r in sweep.runs if "acc" in r.summary]
    assert len(trace["dimensions"][-1]["values"]) == len(complete)
    assert sum(trace["line"]["color"]) == len(sweep.pareto_runs())


def test_each_slice_plot_draws_every_objective(report: tuple[localsweep.Sweep, str]) -> None:
    _sweep, page = report
    slices = [p for p in _data(page)["plots"] if p["id"].startswith("plot-slice-")]
    assert {p["layout"]["title"]["text"] for p in slices} == {"x", "noise"}
    for spec in slices:
        assert [t.get("yaxis", "y") for t in spec["data"]] == ["y", "y2"]
        assert spec["layout"]["yaxis2"]["title"]["text"] == "acc (maximize)"


def test_parameter_importance_is_computed_per_objective(
    report: tuple[localsweep.Sweep, str],
) -> None:
    sweep, page = report
    part = _part(page, "importance")
    with_acc = sum(1 for r in sweep.runs if "acc" in r.summary)
    assert f"Computed on {RUNS} runs that finished or stopped early with a value of loss" in part
    assert f"Computed on {with_acc} runs that finished or stopped early with a value of acc" in (
        part
    )
    for i, name in enumerate(("loss", "acc")):
        table = part.split(f'id="importance-table-{i}" data-objective="{name}"')[1]
        first = re.search(r"<tbody><tr><td>([^<]+)</td>", table)
        assert first is not None and first.group(1) == "x"  # noise drives neither objective
        assert _plot(page, f"plot-importance-{i}")["layout"]["title"]["text"].endswith(name)


def test_the_runs_table_has_each_objective_and_marks_the_pareto_set(
    report: tuple[localsweep.Sweep, str],
) -> None:
    sweep, page = report
    table = _data(page)["table"]
    columns = table["columns"]
    assert columns[4:7] == ["loss", "acc", "Pareto set"]
    assert table["mark_column"] == 6
    marked = {row[1] for row in table["rows"] if row[6] == "yes"}
    assert marked == {r.id for r in sweep.pareto_runs()}
    by_id = {row[1]: row for row in table["rows"]}
    for run in sweep.runs:
        assert by_id[run.id][4] == run.summary["loss"]
        assert by_id[run.id][5] == run.summary.get("acc")


def test_a_single_metric_sweep_keeps_its_best_run_and_metric_column(tmp_path: Path) -> None:
    config = {k: v for k, v in CONFIG.items() if k not in ("metrics", "method")}
    config |= {"method": "random", "metric": {"name": "loss"}}
    sweep = localsweep.run(config, train, count=4, db=tmp_path / "db.db", quiet=True)
    page = write_report(sweep, tmp_path / "r.html").read_text(encoding="utf-8")
    best = sweep.best_run()
    assert best is not None
    assert f'id="best-run-id">{best.id}</div>' in page
    assert "pareto" not in _part(page, "overview")
    table = _data(page)["table"]
    assert table["columns"][4] == "loss" and "mark_column" not in table
    assert "Pareto set" not in table["columns"]


@pytest.mark.slow
def test_learning_curves_draw_each_objectives_logged_values(tmp_path: Path) -> None:
    import wandb

    def logged() -> None:
        with wandb.init() as run:
            x = run.config["x"]
            for step in range(5):
                run.log({"loss": (x - 0.2) ** 2 / (step + 1), "acc": x * step / 5})

    sweep = localsweep.run(CONFIG, logged, count=3, db=tmp_path / "db.db", quiet=True)
    page = write_report(sweep, tmp_path / "r.html").read_text(encoding="utf-8")
    curves = _plot(page, "plot-curves")
    assert curves["layout"]["yaxis"]["title"]["text"] == "loss (minimize)"
    assert curves["layout"]["yaxis2"]["title"]["text"] == "acc (maximize)"
    for axis, name in (("y", "loss"), ("y2", "acc")):
        trace = next(t for t in curves["data"] if t.get("yaxis", "y") == axis)
        drawn = [v for v in trace["y"] if v is not None]
        logged_values = [row[name] for run in sweep.runs for row in run.history()]
        assert drawn == logged_values


def test_a_sweep_with_prior_runs_gets_its_report_with_them_in_importance(
    tmp_path: Path,
) -> None:
    db = tmp_path / "db.db"
    first = localsweep.run(CONFIG, train, count=4, db=db, quiet=True)
    sweep_id = localsweep.sweep(CONFIG, db=db, prior_runs=[first.id])
    localsweep.agent(sweep_id, train, count=3, db=db, quiet=True)
    sweep = localsweep.Api(db).sweep(sweep_id)
    assert len(sweep.prior_runs) == 4
    page = write_report(sweep, tmp_path / "r.html").read_text(encoding="utf-8")
    runs = [*sweep.prior_runs, *sweep.runs]
    with_loss = sum(1 for r in runs if "loss" in r.summary)
    part = _part(page, "importance")
    assert f"Computed on {with_loss} runs that finished or stopped early with a value of loss" in (
        part
    )
    # The Pareto set counts prior runs, as best_run() does, and marks them.
    front = sweep.pareto_runs()
    assert f'id="pareto-count">{len(front) if front else "—"}</div>' in page
    for run in front:
        assert (f"<code>{run.id} (prior)</code>" if run.prior else f"<code>{run.id}</code>") in (
            page
        )


def test_a_prior_run_that_nothing_beats_is_on_the_pareto_front(tmp_path: Path) -> None:
    """The best trade-off found last week is still the best trade-off: a prior run no run
    of the sweep beats is on its front (as best_run() counts prior runs), marked prior."""
    db = tmp_path / "db.db"
    first = localsweep.run(CONFIG, train, count=6, db=db, quiet=True)
    sweep_id = localsweep.sweep(CONFIG, db=db, prior_runs=[first.id])
    # The new runs are all beaten: worse loss and worse acc than the best of last week.
    localsweep.agent(sweep_id, lambda c: {"loss": 9.0, "acc": -1.0}, count=2, db=db, quiet=True)
    sweep = localsweep.Api(db).sweep(sweep_id)
    front = sweep.pareto_runs()
    assert front and all(run.prior for run in front)
    assert {r.id for r in front} <= {r.id for r in first.runs}
