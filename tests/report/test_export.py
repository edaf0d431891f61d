"""CSV, JSON and Optuna exports of a sweep's runs."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import optuna
import pytest

import localsweep
from localsweep.report import export_optuna, export_runs


def _csv(sweep: localsweep.Sweep) -> list[dict[str, str]]:
    out = io.StringIO()
    export_runs(sweep, "csv", out)
    return list(csv.DictReader(io.StringIO(out.getvalue())))


def test_csv_holds_every_run_with_its_state_and_metric(hyperband_sweep: localsweep.Sweep) -> None:
    rows = _csv(hyperband_sweep)
    assert [r["id"] for r in rows] == [run.id for run in hyperband_sweep.runs]
    for row, run in zip(rows, hyperband_sweep.runs, strict=True):
        assert row["state"] == run.state
        assert row["name"] == run.name
        assert float(row["metric"]) == run.metric
        # Why it ended so: a hyperband stop is told from a plateau or a cancel.
        assert row["end_reason"] == (run.end_reason or "")
    assert {r["end_reason"] for r in rows if r["state"] == "early_terminated"} == {"hyperband"}


def test_csv_names_nested_parameters_by_dotted_path(hyperband_sweep: localsweep.Sweep) -> None:
    rows = _csv(hyperband_sweep)
    assert {"lr", "optimizer", "layers", "model.dropout"} <= set(rows[0])
    for row, run in zip(rows, hyperband_sweep.runs, strict=True):
        assert float(row["model.dropout"]) == run.config["model"]["dropout"]
        assert row["optimizer"] == run.config["optimizer"]


def test_json_holds_every_run(hyperband_sweep: localsweep.Sweep, tmp_path: Path) -> None:
    path = tmp_path / "runs.json"
    count = export_runs(hyperband_sweep, "json", path)
    rows = json.loads(path.read_text())
    assert count == len(rows) == len(hyperband_sweep.runs)
    for row, run in zip(rows, hyperband_sweep.runs, strict=True):
        assert (row["id"], row["state"], row["metric"]) == (run.id, run.state, run.metric)
        assert row["lr"] == run.config["lr"]
        assert row["stopped_at_band"] == run.stopped_at_band


def test_json_writes_a_nan_metric_as_null(tmp_path: Path) -> None:
    config = {"method": "grid", "metric": {"name": "loss"}, "parameters": {"x": {"values": [1]}}}
    sweep = localsweep.run(config, lambda c: {"loss": math.nan}, count=1, db=tmp_path / "s.db")
    out = io.StringIO()
    export_runs(sweep, "json", out)
    (row,) = json.loads(out.getvalue())
    assert row["metric"] is None


def test_an_unknown_format_is_refused(hyperband_sweep: localsweep.Sweep) -> None:
    with pytest.raises(ValueError, match="csv"):
        export_runs(hyperband_sweep, "xml", io.StringIO())  # type: ignore[arg-type]


@pytest.mark.slow
def test_summary_keys_of_a_wandb_run_come_without_wandb_bookkeeping(
    wandb_sweep: localsweep.Sweep,
) -> None:
    rows = _csv(wandb_sweep)
    assert len(rows) == len(wandb_sweep.runs) == 4
    assert {"acc", "loss", "width", "act"} <= set(rows[0])
    assert any(k.startswith("_") for run in wandb_sweep.runs for k in run.summary)
    assert not [k for k in rows[0] if k.startswith("_") or k.startswith("summary._")]
    for row, run in zip(rows, wandb_sweep.runs, strict=True):
        assert float(row["acc"]) == run.summary["acc"]


def _load(url: str, sweep: localsweep.Sweep) -> optuna.Study:
    return optuna.load_study(study_name=sweep.id, storage=url)


def test_optuna_storage_has_one_trial_per_run_with_its_value(
    hyperband_sweep: localsweep.Sweep, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    export_optuna(hyperband_sweep, url)
    study = _load(url, hyperband_sweep)
    trials = study.get_trials()
    assert len(trials) == len(hyperband_sweep.runs)
    for trial, run in zip(trials, hyperband_sweep.runs, strict=True):
        assert trial.user_attrs["run_id"] == run.id
        assert trial.value == run.metric
        assert trial.params["lr"] == run.config["lr"]
        assert trial.params["model.dropout"] == run.config["model"]["dropout"]
        assert trial.params["optimizer"] == run.config["optimizer"]
    assert study.direction == optuna.study.StudyDirection.MINIMIZE


def test_optuna_states_follow_run_states(hyperband_sweep: localsweep.Sweep, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    export_optuna(hyperband_sweep, url)
    expected = {"finished": "COMPLETE", "early_terminated": "PRUNED"}
    states = [t.state.name for t in _load(url, hyperband_sweep).get_trials()]
    assert states == [expected[run.state] for run in hyperband_sweep.runs]
    assert "PRUNED" in states and "COMPLETE" in states


def test_optuna_intermediate_values_are_the_metric_history(
    hyperband_sweep: localsweep.Sweep, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    export_optuna(hyperband_sweep, url)
    for trial, run in zip(
        _load(url, hyperband_sweep).get_trials(), hyperband_sweep.runs, strict=True
    ):
        logged = [row["val_loss"] for row in run.history()]
        assert [trial.intermediate_values[i] for i in sorted(trial.intermediate_values)] == logged
        if run.stopped_at_band is not None:
            assert max(trial.intermediate_values) == run.stopped_at_band


def test_failed_runs_are_failed_trials(tmp_path: Path) -> None:
    def train(config: dict[str, int]) -> float:
        if config["x"] == 2:
            raise RuntimeError("boom")
        return float(config["x"])

    config = {"method": "grid", "metric": {"name": "loss"}, "parameters": {"x": {"values": [1, 2]}}}
    sweep = localsweep.run(config, train, count=2, db=tmp_path / "s.db")
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    export_optuna(sweep, url)
    assert [t.state.name for t in _load(url, sweep).get_trials()] == ["COMPLETE", "FAIL"]


def test_exporting_again_replaces_the_study(
    hyperband_sweep: localsweep.Sweep, tmp_path: Path
) -> None:
    path = tmp_path / "optuna.db"
    export_optuna(hyperband_sweep, path)
    export_optuna(hyperband_sweep, path)
    study = _load(f"sqlite:///{path}", hyperband_sweep)
    assert len(study.get_trials()) == len(hyperband_sweep.runs)


def test_json_rows_give_their_keys_in_the_csvs_column_order(tmp_path: Path) -> None:
    # Runs that log the same keys in different orders: each JSON row had them in its
    # run's order, so two exports of like sweeps would not diff.
    config = {"method": "grid", "metric": {"name": "loss"}, "parameters": {"x": {"values": [1, 2]}}}

    def train(c: dict[str, int]) -> dict[str, object]:
        if c["x"] == 1:
            return {"loss": 1.0, "note": "a", "acc": {"max": 0.5}}
        return {"acc": {"max": 0.7}, "loss": 2.0, "note": "b"}

    sweep = localsweep.run(config, train, db=tmp_path / "s.db", quiet=True)
    out = io.StringIO()
    export_runs(sweep, "json", out)
    rows = json.loads(out.getvalue())
    header = next(csv.reader(io.StringIO(_csv_text(sweep))))
    assert len(rows) == 2
    for row in rows:
        assert list(row) == [k for k in header if k in row], row
    assert list(rows[0]) == list(rows[1])


def _csv_text(sweep: localsweep.Sweep) -> str:
    out = io.StringIO()
    export_runs(sweep, "csv", out)
    return out.getvalue()
