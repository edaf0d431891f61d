"""The Optuna export at scale: Optuna's RDBStorage flushed each parameter, user attribute and
intermediate value of a trial to the database on its own (the query before the next one
flushed it), about 2 ms a row, so thousands of runs took minutes. The export has each
trial's rows sent together, and still gives a storage ``optuna.load_study`` reads whole,
and a study that works as Optuna's own afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy
from sqlalchemy.orm import Session

import localsweep
from localsweep.report import export_optuna


@contextmanager
def _flushes() -> Iterator[list[int]]:
    """Each time a SQLAlchemy session (any) sends its pending rows to the database
    meanwhile: the ORM's unit of work, the costly part of each of Optuna's writes."""
    flushed: list[int] = []

    def seen(session: Any, _context: Any) -> None:
        flushed.append(len(session.new))

    sqlalchemy.event.listen(Session, "after_flush", seen)
    try:
        yield flushed
    finally:
        sqlalchemy.event.remove(Session, "after_flush", seen)


def test_an_export_sends_each_trials_rows_together_not_row_by_row(
    hyperband_sweep: localsweep.Sweep, tmp_path: Path
) -> None:
    with _flushes() as flushed:
        study = export_optuna(hyperband_sweep, tmp_path / "optuna.db")
    rows = sum(len(t.params) + len(t.user_attrs) + len(t.intermediate_values) for t in study.trials)
    runs = len(hyperband_sweep.runs)

    # The trial's row (Optuna needs its id), then all the rest at its commit: not one
    # flush per parameter, user attribute and intermediate value before the next query.
    assert len(flushed) <= 2 * runs + 10 < rows


def test_an_exported_file_loads_whole(hyperband_sweep: localsweep.Sweep, tmp_path: Path) -> None:
    path = tmp_path / "optuna.db"
    export_optuna(hyperband_sweep, path)

    loaded = optuna.load_study(study_name=hyperband_sweep.id, storage=f"sqlite:///{path}")

    assert [t.user_attrs["run_id"] for t in loaded.trials] == [r.id for r in hyperband_sweep.runs]
    for trial, run in zip(loaded.trials, hyperband_sweep.runs, strict=True):
        assert trial.params["lr"] == run.config["lr"]
        values = [row["val_loss"] for row in run.history()]
        assert list(trial.intermediate_values.values()) == values


def test_the_exported_study_works_as_optunas_own_afterwards(
    hyperband_sweep: localsweep.Sweep, tmp_path: Path
) -> None:
    path = tmp_path / "optuna.db"
    study = export_optuna(hyperband_sweep, path)

    trial = study.ask()
    trial.set_user_attr("note", "asked after the export")
    study.tell(trial, 0.5)

    loaded = optuna.load_study(study_name=hyperband_sweep.id, storage=f"sqlite:///{path}")
    assert len(loaded.trials) == len(hyperband_sweep.runs) + 1
    assert loaded.trials[-1].user_attrs == {"note": "asked after the export"}
    assert loaded.trials[-1].value == 0.5


def test_an_export_into_an_existing_file_keeps_its_other_studies(
    hyperband_sweep: localsweep.Sweep, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    other = optuna.create_study(study_name="mine", storage=url)
    other.add_trial(optuna.trial.create_trial(value=1.0))

    export_optuna(hyperband_sweep, url)

    names = {s.study_name for s in optuna.get_all_study_summaries(url)}
    assert names == {"mine", hyperband_sweep.id}
    assert [t.value for t in optuna.load_study(study_name="mine", storage=url).trials] == [1.0]
