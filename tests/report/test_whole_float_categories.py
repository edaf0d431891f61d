"""A categorical written with whole floats (``values: [2.0, 3.0, 4.5]``) is one category
per value in the report's axes and the Optuna export: runs get ``2`` for ``2.0`` (as W&B's
server hands it over), and ``2.0 == 2``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna

import localsweep
from localsweep.report import export_optuna
from localsweep.report._study import param_axes

CONFIG: dict[str, Any] = {
    "method": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {
        "epochs": {"values": [2.0, 3.0, 4.5]},
        "nested": {"parameters": {"w": {"values": [1.0, 2.0]}}},
        "steps": {"values": [[1.0, 2], [3.0, 4.5]]},
    },
}


def _train(config: dict[str, Any]) -> float:
    return float(config["epochs"]) + config["nested"]["w"]


def _sweep(tmp_path: Path) -> localsweep.Sweep:
    return localsweep.run(CONFIG, _train, count=12, db=tmp_path / "s.db")


def test_report_axes_hold_each_value_once_as_the_runs_got_it(tmp_path: Path) -> None:
    axes = {axis.name: axis for axis in param_axes(_sweep(tmp_path))}
    epochs = axes["epochs"].distribution.choices
    assert list(epochs) == [2, 3, 4.5]
    assert [type(c) for c in epochs] == [int, int, float]  # numbers, so they correlate
    assert list(axes["nested.w"].distribution.choices) == [1, 2]
    assert list(axes["steps"].distribution.choices) == ["[1, 2]", "[3, 4.5]"]


def test_optuna_export_has_one_choice_per_value(tmp_path: Path) -> None:
    sweep = _sweep(tmp_path)
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    export_optuna(sweep, url)
    trials = optuna.load_study(study_name=sweep.id, storage=url).get_trials()
    assert len(trials) == 12
    distributions = trials[0].distributions
    assert distributions["epochs"].choices == (2, 3, 4.5)  # type: ignore[attr-defined]
    assert distributions["nested.w"].choices == (1, 2)  # type: ignore[attr-defined]
    assert {t.params["epochs"] for t in trials} == {2, 3, 4.5}
    assert {t.params["steps"] for t in trials} == {"[1, 2]", "[3, 4.5]"}


def test_a_long_categorical_list_keeps_the_values_runs_took(tmp_path: Path) -> None:
    """100,000 seeds or file names as ``values``: the axis (and fANOVA's choices) hold the
    values runs took, in the config's order; with the whole list, ``show`` spent minutes in
    fANOVA and a quadratic loop for a sweep of a few runs."""
    values = [f"file-{i:05d}" for i in range(5000)]
    config = {
        "method": "random",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"name": {"values": values}, "b": {"min": 0.0, "max": 1.0}},
    }
    sweep = localsweep.run(config, lambda c: c["b"], count=4, db=tmp_path / "s.db", quiet=True)
    taken = {run.config["name"] for run in sweep.runs}
    axes = {axis.name: axis for axis in param_axes(sweep)}
    assert list(axes["name"].distribution.choices) == sorted(taken, key=values.index)
