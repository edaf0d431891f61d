"""The report of a sweep whose runs the study's pruner stopped (real wandb offline): a
pruner stops a run at a wandb step, which is no band and no count of values, so the
curves mark the run's last value and the runs table says "step"."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from report_data import report_data

import localsweep
from localsweep.report import write_report

STUDY = """
import optuna


class SecondValue(optuna.pruners.BasePruner):
    # Prunes every trial at its second reported value.
    def prune(self, study, trial):
        return len(trial.intermediate_values) >= 2


def make_study():
    return optuna.create_study(pruner=SecondValue())
"""

#: The metric is logged every third step: the second value is at step 3.
EVERY = 3


@pytest.fixture(scope="module")
def pruned_sweep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[localsweep.Sweep]:
    import wandb

    tmp = tmp_path_factory.mktemp("pruned")
    (tmp / "study.py").write_text(STUDY, encoding="utf-8")
    config = {
        "method": "custom",
        "metric": {"name": "loss", "goal": "minimize"},
        "scheduler": {"engine": "optuna", "source": "study.py", "optimizer": "make_study"},
        "parameters": {"x": {"values": [1.0, 2.0]}},
        "localsweep": {"seed": 1},
    }
    (tmp / "sweep.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")

    def train() -> None:
        with wandb.init() as run:
            for i in range(5):
                for step in range(EVERY * i, EVERY * (i + 1)):
                    row = {"epoch": step} if step % EVERY else {"loss": run.config["x"] - 0.1 * i}
                    run.log(row, step=step)

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WANDB_MODE", "offline")
        mp.setenv("WANDB_SILENT", "true")
        mp.setenv("WANDB_DISABLE_GIT", "true")
        mp.setenv("WANDB_DIR", str(tmp))
        mp.chdir(tmp)
        yield localsweep.run(tmp / "sweep.yaml", train, count=2, db=tmp / "s.db")


def test_the_pruner_stopped_every_run_at_step_3(pruned_sweep: localsweep.Sweep) -> None:
    for run in pruned_sweep.runs:
        assert (run.state, run.end_reason, run.stopped_at_band) == (
            "early_terminated",
            "pruned",
            EVERY,
        )
        assert [row["loss"] for row in run.history() if "loss" in row] == pytest.approx(
            [run.config["x"], run.config["x"] - 0.1]
        )


def test_pruned_runs_are_marked_at_their_last_value(
    pruned_sweep: localsweep.Sweep, tmp_path: Path
) -> None:
    data = report_data(write_report(pruned_sweep, tmp_path / "r.html"))
    (curves,) = [p for p in data["plots"] if p["id"] == "plot-curves"]
    marks = [t for t in curves["data"] if t.get("mode") == "markers"]

    (pruned,) = marks
    assert pruned["x"] == [2, 2]  # the second value: where each curve ends
    assert sorted(pruned["y"]) == pytest.approx([0.9, 1.9])
    assert not curves["layout"].get("shapes")  # no band lines: a pruner has no bands


def test_the_runs_table_says_a_pruner_stop_is_a_step(
    pruned_sweep: localsweep.Sweep, tmp_path: Path
) -> None:
    table = report_data(write_report(pruned_sweep, tmp_path / "r.html"))["table"]
    band = table["columns"].index("stopped at band")
    reason = table["columns"].index("end reason")

    for row in table["rows"]:
        assert row[band] is None
        assert row[reason] == f"pruned at step {EVERY}"
