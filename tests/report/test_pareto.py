"""A multi-objective sweep's Pareto set in ``localsweep show`` and in the report."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

import localsweep
from localsweep.cli import cli
from localsweep.report import write_report
from localsweep.report._pareto import objective_importance, pareto_rows

CONFIG = {
    "method": "custom",
    "metrics": [{"name": "loss"}, {"name": "acc", "goal": "maximize"}],
    "parameters": {"x": {"min": 0.0, "max": 1.0}, "noise": {"values": [0, 1, 2]}},
    "localsweep": {"seed": 2},
}


def train(config: dict) -> dict:
    x = config["x"]
    return {"loss": (x - 0.2) ** 2, "acc": x}


@pytest.fixture
def sweep(tmp_path: Path) -> localsweep.Sweep:
    return localsweep.run(CONFIG, train, count=15, db=tmp_path / "db.db")


def test_show_lists_the_pareto_set(sweep: localsweep.Sweep, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["show", sweep.id, "--db", str(tmp_path / "db.db")])
    assert result.exit_code == 0, result.output
    assert f"Pareto set: {len(sweep.pareto_runs())} runs" in result.output
    for run in sweep.pareto_runs():
        assert run.id in result.output.split("Pareto set")[1]


def test_the_report_has_the_front_and_importance_per_objective(
    sweep: localsweep.Sweep, tmp_path: Path
) -> None:
    pytest.importorskip("plotly")
    page = write_report(sweep, tmp_path / "r.html").read_text(encoding="utf-8")
    table = page.split('id="pareto-table"')[1].split("</table>")[0]
    assert sorted(re.findall(r"<tr><td>([a-z0-9]{8})</td>", table)) == sorted(
        r.id for r in sweep.pareto_runs()
    )
    assert 'id="plot-pareto"' in page
    assert "<h3>loss</h3>" in page and "<h3>acc</h3>" in page


def test_importance_per_objective_sees_which_parameter_drives_it(
    sweep: localsweep.Sweep,
) -> None:
    pytest.importorskip("sklearn")
    rows = objective_importance(sweep)
    for name in ("loss", "acc"):
        top = rows[name][0]
        assert top.name == "x", rows[name]  # "noise" does not change either objective
    assert [r[0] for r in pareto_rows(sweep)] == sorted(
        (r.id for r in sweep.pareto_runs()),
        key=lambda i: next(v for k, v, _ in pareto_rows(sweep) if k == i)[0],
    )


def test_the_optuna_export_is_a_multi_objective_study(
    sweep: localsweep.Sweep, tmp_path: Path
) -> None:
    from localsweep.report import export_optuna

    study = export_optuna(sweep, tmp_path / "optuna.db")
    assert [d.name for d in study.directions] == ["MINIMIZE", "MAXIMIZE"]
    assert study.metric_names == ["loss", "acc"]
    front = {t.user_attrs["run_id"] for t in study.best_trials}
    assert front == {r.id for r in sweep.pareto_runs()}


def test_show_lists_each_objective_per_run_and_marks_the_pareto_runs(
    sweep: localsweep.Sweep, tmp_path: Path
) -> None:
    result = CliRunner().invoke(
        cli, ["show", sweep.id, "--db", str(tmp_path / "db.db")], terminal_width=200
    )
    assert result.exit_code == 0, result.output
    runs_table = result.output.split("Pareto set")[0]
    header = next(line for line in runs_table.splitlines() if " run " in line)
    assert re.findall(r"\w+", header)[:5] == ["run", "state", "loss", "acc", "Pareto"]
    front = {r.id for r in sweep.pareto_runs()}
    rows = {}
    for line in runs_table.splitlines():
        cells = [c.strip() for c in re.split(r"[│|]", line)[1:-1]]
        if cells and re.fullmatch(r"[a-z0-9]{8}", cells[0]):
            rows[cells[0]] = cells
    assert set(rows) == {r.id for r in sweep.runs}
    for run in sweep.runs:
        cells = rows[run.id]
        assert cells[2:4] == [f"{run.summary['loss']:.6g}", f"{run.summary['acc']:.6g}"]
        assert cells[4] == ("*" if run.id in front else "")
    # The Pareto set first, by its first objective.
    order = [i for i in rows]
    assert set(order[: len(front)]) == front
    assert "parameter importance (with respect to loss)" in result.output
    assert "parameter importance (with respect to acc)" in result.output


def test_ls_gives_the_size_of_the_pareto_set_for_best(
    sweep: localsweep.Sweep, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Piped with no COLUMNS, ls writes its table at full width (localsweep/_console.py),
    # so the cell is not folded over two lines whatever width the test run was given.
    monkeypatch.delenv("COLUMNS", raising=False)
    result = CliRunner().invoke(cli, ["ls", "--db", str(tmp_path / "db.db")], terminal_width=200)
    assert result.exit_code == 0, result.output
    assert f"Pareto set: {len(sweep.pareto_runs())} runs" in result.output


def test_the_csv_export_marks_the_pareto_runs(sweep: localsweep.Sweep) -> None:
    import csv
    import io

    from localsweep.report import export_runs

    out = io.StringIO()
    export_runs(sweep, "csv", out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    columns = list(rows[0])
    assert columns[columns.index("metric") + 1] == "pareto"
    front = {r.id for r in sweep.pareto_runs()}
    assert {row["id"] for row in rows if row["pareto"] == "True"} == front
    assert {row["id"] for row in rows if row["pareto"] == "False"} == {
        r.id for r in sweep.runs
    } - front
    by_id = {row["id"]: row for row in rows}
    for run in sweep.runs:
        assert float(by_id[run.id]["acc"]) == run.summary["acc"]
