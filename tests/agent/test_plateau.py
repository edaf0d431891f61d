"""Per-run plateau stopping end to end, with real wandb offline: the user's guide's
``wandb.init(early_stopping_metric=..., early_stopping_threshold=...)``, the config key
``localsweep: {early_stopping: ...}`` in-process and in program mode, and plateau beside
hyperband in one sweep."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import wandb

import localsweep
from localsweep.store import Store
from localsweep.wandb_bridge import find_run_file, wait_for_exit_record

EPOCHS = 12


def flat_after(improve: int) -> list[float]:
    """val_loss falling by 0.1 for ``improve`` rows, then flat."""
    return [5.0 - 0.1 * min(epoch, improve) for epoch in range(EPOCHS)]


def guide_sweep(**extra: Any) -> dict[str, Any]:
    return {
        "method": "grid",
        "metric": {"name": "val_accuracy", "goal": "maximize"},
        "parameters": {"improve": {"values": [2]}},
        **extra,
    }


def train_with_init_arguments(patience: int | None = None) -> Callable[[], None]:
    """The guide's step 6: early stopping asked for in ``wandb.init``."""

    def train() -> None:
        arguments: dict[str, Any] = {
            "early_stopping_metric": "val_loss",
            "early_stopping_threshold": 0.01,
        }
        if patience is not None:
            arguments["early_stopping_patience"] = patience
        wandb.init(project="your_project_name", **arguments)
        for epoch, loss in enumerate(flat_after(wandb.config.improve)):
            wandb.log({"epoch": epoch, "val_loss": loss, "val_accuracy": 1 - loss / 10})
        wandb.finish()

    return train


def train_plain() -> None:
    with wandb.init() as run:
        for epoch, loss in enumerate(flat_after(run.config["improve"])):
            run.log({"epoch": epoch, "val_loss": loss})


@pytest.mark.parametrize("patience", [None, 1, 3])
def test_a_plateau_stops_the_run_after_patience_values(
    tmp_path: Path, patience: int | None
) -> None:
    sweep = localsweep.run(guide_sweep(), train_with_init_arguments(patience), db=tmp_path / "s.db")

    (run,) = sweep.runs
    # Best 4.8 at the third value; then `patience` (default 1) flat values, and it stops.
    kept = 3 + (patience or 1)
    assert run.state == "early_terminated"
    assert run.end_reason == "plateau"
    assert run.stopped_at_band is None
    assert [row["epoch"] for row in run.history()] == list(range(kept))
    assert [row["val_loss"] for row in run.history()] == flat_after(2)[:kept]


def test_a_stopped_run_is_a_complete_offline_run(tmp_path: Path) -> None:
    sweep = localsweep.run(guide_sweep(), train_with_init_arguments(2), db=tmp_path / "s.db")

    (run,) = sweep.runs
    assert run.dir is not None
    run_file = find_run_file(run.dir)
    assert run_file is not None
    # wandb's finish() can return a moment before wandb-core has written the file's
    # last records: wait for its exit record, as any reader of a just-finished run must.
    offline = wait_for_exit_record(run_file, timeout=60)
    assert offline.finished, "the stopped run's wandb file has no exit record"
    assert [row["epoch"] for row in offline.history] == [0, 1, 2, 3, 4]


def test_steady_improvement_runs_to_the_end(tmp_path: Path) -> None:
    config = guide_sweep(parameters={"improve": {"values": [EPOCHS]}})
    sweep = localsweep.run(config, train_with_init_arguments(1), db=tmp_path / "s.db")

    (run,) = sweep.runs
    assert run.state == "finished"
    assert run.end_reason is None
    assert len(run.history()) == EPOCHS


def test_the_arguments_never_reach_wandb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    received: list[dict[str, Any]] = []
    real_init = wandb.init

    def wandbs_init(*args: Any, **kwargs: Any) -> Any:
        received.append(dict(kwargs))
        return real_init(*args, **kwargs)

    # What the session finds as wandb.init is what wandb is handed: this records it.
    monkeypatch.setattr(wandb, "init", wandbs_init)
    sweep = localsweep.run(guide_sweep(), train_with_init_arguments(2), db=tmp_path / "s.db")

    # The early_stopping_* arguments are gone; the run is made explicitly offline.
    assert received == [{"project": "your_project_name", "mode": "offline"}]
    (run,) = sweep.runs
    run_file = find_run_file(run.dir)
    assert run_file is not None
    offline = wait_for_exit_record(run_file, timeout=60)
    assert offline.config == {"improve": 2}
    # After the run, wandb.init is wandb's again.
    assert wandb.init is wandbs_init


def test_outside_a_localsweep_run_wandbs_own_error_stands(tmp_path: Path) -> None:
    localsweep.run(guide_sweep(), train_with_init_arguments(), db=tmp_path / "s.db")

    with pytest.raises(TypeError, match="early_stopping_metric"):
        wandb.init(early_stopping_metric="val_loss", early_stopping_threshold=0.01)


def test_a_bad_argument_fails_the_run_naming_it(tmp_path: Path) -> None:
    def train() -> None:
        wandb.init(early_stopping_metric="val_loss", early_stopping_patience=0)
        wandb.log({"val_loss": 1.0})

    sweep = localsweep.run(guide_sweep(), train, count=1, db=tmp_path / "s.db")

    (run,) = sweep.runs
    assert run.state == "failed"
    assert "early_stopping_patience: must be at least 1" in (run.error or "")


def test_the_config_key_stops_plain_wandb_code(tmp_path: Path) -> None:
    early = {"metric": "val_loss", "threshold": 0.01, "patience": 3}
    config = guide_sweep(
        parameters={"improve": {"values": [2, EPOCHS]}}, localsweep={"early_stopping": early}
    )
    sweep = localsweep.run(config, train_plain, db=tmp_path / "s.db")

    by_improve = {run.config["improve"]: run for run in sweep.runs}
    assert by_improve[2].state == "early_terminated"
    assert by_improve[2].end_reason == "plateau"
    assert len(by_improve[2].history()) == 6
    assert by_improve[EPOCHS].state == "finished"
    assert len(by_improve[EPOCHS].history()) == EPOCHS


def test_init_arguments_replace_the_config_keys_rule(tmp_path: Path) -> None:
    early = {"metric": "val_loss", "threshold": 0.01, "patience": 5}
    config = guide_sweep(localsweep={"early_stopping": early})
    sweep = localsweep.run(config, train_with_init_arguments(1), db=tmp_path / "s.db")

    (run,) = sweep.runs
    assert len(run.history()) == 4


def test_a_plateau_on_the_sweep_metric_follows_its_goal(tmp_path: Path) -> None:
    # val_accuracy rises, so with the sweep's goal (maximize) it keeps improving; read as a
    # loss it would stop at its second value.
    config = guide_sweep(
        parameters={"improve": {"values": [EPOCHS]}},
        localsweep={"early_stopping": {"threshold": 0.001}},
    )

    def train() -> None:
        with wandb.init() as run:
            for epoch, loss in enumerate(flat_after(run.config["improve"])):
                run.log({"val_accuracy": 1 - loss / 10, "epoch": epoch})

    sweep = localsweep.run(config, train, db=tmp_path / "s.db")

    (run,) = sweep.runs
    assert run.state == "finished"
    assert len(run.history()) == EPOCHS


def hyperband_and_plateau_curve(quality: int) -> list[float]:
    # q0 improves throughout; q1 flattens after its fourth value; q2, q3 are worse.
    if quality == 0:
        return [1.0 - 0.09 * e for e in range(10)]
    if quality == 1:
        return [2.0 - 0.1 * min(e, 3) for e in range(10)]
    return [1.0 + quality - 0.1 * e for e in range(10)]


def test_plateau_and_hyperband_in_one_sweep(tmp_path: Path) -> None:
    config = {
        "method": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"quality": {"values": [0, 1, 2, 3]}},
        "early_terminate": {"type": "hyperband", "min_iter": 2, "eta": 2},
        "localsweep": {"early_stopping": {"threshold": 0.01, "patience": 2}},
    }

    def train() -> None:
        with wandb.init() as run:
            for loss in hyperband_and_plateau_curve(run.config["quality"]):
                run.log({"loss": loss})

    sweep = localsweep.run(config, train, count=None, db=tmp_path / "s.db")

    by_quality = {run.config["quality"]: run for run in sweep.runs}
    assert by_quality[0].state == "finished"
    assert len(by_quality[0].history()) == 10
    # Through bands 2 and 4 (a tie at each), then two flat values: the plateau stops it.
    assert by_quality[1].state == "early_terminated"
    assert by_quality[1].end_reason == "plateau"
    assert len(by_quality[1].history()) == 6
    for q in (2, 3):
        assert by_quality[q].state == "early_terminated"
        assert by_quality[q].end_reason == "hyperband"
        assert by_quality[q].stopped_at_band == 2
        assert len(by_quality[q].history()) == 2


@pytest.mark.slow
def test_program_mode_with_the_config_key(
    store: Store, make_sweep: Callable[..., str], run_program: Callable[..., Any]
) -> None:
    # The program calls wandb's own init: only the config can ask for early stopping. Its
    # rows are read from its wandb file, so it logs a few more before SIGINT reaches it.
    sweep_id = make_sweep(
        {
            "method": "grid",
            "program": "plateau_curve.py",
            "metric": {"name": "val_loss"},
            "parameters": {
                "improve": {"values": [2, 30]},
                "epochs": {"value": 30},
                "pace": {"value": 0.1},
            },
            "localsweep": {"early_stopping": {"threshold": 0.01, "patience": 3}},
        }
    )
    run_program(sweep_id)

    by_improve = {run.config["improve"]: run for run in store.list_runs(sweep_id)}
    stopped, steady = by_improve[2], by_improve[30]
    assert stopped.state.value == "early_terminated"
    assert stopped.end_reason == "plateau"
    assert stopped.stopped_at_band is None
    history = store.history(stopped.id)
    assert 6 <= len(history) < 30
    assert [row["epoch"] for row in history] == list(range(len(history)))
    assert steady.state.value == "finished"
    assert steady.end_reason is None
    assert len(store.history(steady.id)) == 30


@pytest.mark.slow
def test_a_run_in_its_own_process_takes_the_init_arguments(tmp_path: Path) -> None:
    sweep = localsweep.run(
        guide_sweep(), _train_in_own_process, db=tmp_path / "s.db", isolation="process"
    )

    (run,) = sweep.runs
    assert run.state == "early_terminated"
    assert run.end_reason == "plateau"
    assert len(run.history()) == 5


def _train_in_own_process() -> None:
    train_with_init_arguments(2)()


def test_show_names_the_plateau(tmp_path: Path) -> None:
    config = {
        "method": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"quality": {"values": [0, 1, 2]}},
        "early_terminate": {"type": "hyperband", "min_iter": 2, "eta": 2},
        "localsweep": {"early_stopping": {"threshold": 0.01, "patience": 2}},
    }

    def train() -> None:
        with wandb.init() as run:
            for loss in hyperband_and_plateau_curve(run.config["quality"]):
                run.log({"loss": loss})

    sweep = localsweep.run(config, train, count=None, db=tmp_path / "s.db")
    proc = subprocess.run(
        [sys.executable, "-m", "localsweep.cli", "show", sweep.id, "--db", str(tmp_path / "s.db")],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=180,
        check=False,
    )

    assert proc.returncode == 0, proc.stderr
    plateaued = next(run for run in sweep.runs if run.config["quality"] == 1)
    line = next(line for line in proc.stdout.splitlines() if plateaued.id in line)
    assert "early_terminated (plateau)" in line
    assert "stopped early on a plateau: 1" in proc.stdout
    assert "stopped early by hyperband: 1 (1 at band 2)" in proc.stdout


def test_validate_names_each_bad_field_and_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "sweep.yaml"
    config.write_text(
        "method: random\n"
        "parameters: {lr: {min: 0.001, max: 0.1}}\n"
        "localsweep: {early_stopping: {metric: val_loss, threshold: -0.01, patience: 0}}\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "localsweep.cli", "validate", str(config)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=180,
        check=False,
    )

    assert proc.returncode == 2
    assert "Traceback" not in proc.stdout + proc.stderr
    assert "localsweep.early_stopping.threshold: must be 0 or more" in proc.stderr
    assert "localsweep.early_stopping.patience: must be at least 1" in proc.stderr


def test_nan_counts_as_no_improvement_and_other_values_do_not_count(tmp_path: Path) -> None:
    early = {"metric": "val_loss", "patience": 2}
    config = guide_sweep(localsweep={"early_stopping": early})

    def train() -> None:
        with wandb.init() as run:
            run.log({"val_loss": 1.0})
            run.log({"train_loss": 0.5})  # no val_loss: not a value of the metric
            run.log({"val_loss": "diverged"})  # not a number: not counted either
            run.log({"val_loss": float("nan")})
            run.log({"val_loss": float("nan")})
            run.log({"val_loss": 0.1})

    sweep = localsweep.run(config, train, db=tmp_path / "s.db")

    (run,) = sweep.runs
    assert run.state == "early_terminated"
    assert run.end_reason == "plateau"
    assert len(run.history()) == 5


def test_runs_stopped_on_a_plateau_have_a_best_run(tmp_path: Path) -> None:
    # Every run levels off and stops itself, as most of the guide's runs do: the best is the
    # one that reached the lowest loss, as W&B's sweep page ranks it, not "no best run".
    early = {"metric": "val_loss", "threshold": 0.01, "patience": 1}
    config = {
        "method": "grid",
        "metric": {"name": "val_loss", "goal": "minimize"},
        "parameters": {"improve": {"values": [2, 5, 3]}},
        "localsweep": {"early_stopping": early},
    }
    sweep = localsweep.run(config, train_plain, db=tmp_path / "s.db")
    assert {run.state for run in sweep.runs} == {"early_terminated"}
    best = sweep.best_run()
    assert best is not None and best.config["improve"] == 5
    assert best.metric == pytest.approx(4.5)


def test_a_failed_runs_partial_value_is_no_best_run(tmp_path: Path) -> None:
    def train() -> None:
        with wandb.init() as run:
            run.log({"val_loss": 1.0 / run.config["improve"]})
            if run.config["improve"] == 10:
                raise RuntimeError("diverged after its best value")

    config = guide_sweep(
        metric={"name": "val_loss", "goal": "minimize"},
        parameters={"improve": {"values": [2, 10]}},
    )
    sweep = localsweep.run(config, train, db=tmp_path / "s.db")
    assert sorted(run.state for run in sweep.runs) == ["failed", "finished"]
    best = sweep.best_run()
    assert best is not None and best.config["improve"] == 2


def test_init_arguments_take_the_goal_of_an_objective_of_metrics(tmp_path: Path) -> None:
    """In a multi-objective sweep, ``wandb.init(early_stopping_metric="acc")`` takes acc's
    goal from ``metrics:`` (maximize): a steadily rising accuracy is no plateau."""
    config = {
        "method": "custom",
        "metrics": [
            {"name": "val_loss", "goal": "minimize"},
            {"name": "acc", "goal": "maximize"},
        ],
        "run_cap": 1,
        "parameters": {"x": {"values": [1]}},
    }

    def train() -> None:
        with wandb.init(early_stopping_metric="acc", early_stopping_threshold=0.01) as run:
            for epoch in range(6):
                run.log({"val_loss": 1.0 / (epoch + 1), "acc": 0.5 + 0.04 * epoch})

    sweep = localsweep.run(config, train, db=tmp_path / "s.db", quiet=True)
    [run] = sweep.runs
    assert (run.state, run.end_reason) == ("finished", None)
    assert len(run.history()) == 6


def train_with_misspelt_metric() -> None:
    with wandb.init(early_stopping_metric="val_los", early_stopping_threshold=0.01) as run:
        for epoch, loss in enumerate(flat_after(run.config["improve"])):
            run.log({"epoch": epoch, "val_loss": loss})


@pytest.mark.parametrize("isolation", ["thread", "process"])
@pytest.mark.parametrize("where", ["wandb.init", "config"])
def test_a_plateau_metric_never_logged_is_warned_about_once(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    where: str,
    isolation: str,
) -> None:
    """A misspelt ``early_stopping_metric`` (or the config's ``metric``): the rule never
    gets a value and stops nothing; the user is told once per sweep, with the logged keys
    and the closest (it was silent: early stopping looked on), also when each run has a
    process of its own."""
    if where == "config":
        rule = {"metric": "val_los", "threshold": 0.01}
        config = guide_sweep(localsweep={"early_stopping": rule})
        train = train_plain
    else:
        config, train = guide_sweep(), train_with_misspelt_metric
    config["parameters"] = {"improve": {"values": [2, 3]}}
    sweep = localsweep.run(
        config, train, db=tmp_path / "s.db", quiet=True, isolation=isolation
    )  # fmt: skip
    assert [r.state for r in sweep.runs] == ["finished", "finished"]
    said = [r.getMessage() for r in caplog.records if "early-stopping metric" in r.getMessage()]
    assert len(said) == 1, said
    assert "early-stopping metric" not in capfd.readouterr().err  # not again by a run's process
    assert "'val_los' was never logged" in said[0]
    assert "Did you mean 'val_loss'?" in said[0]
