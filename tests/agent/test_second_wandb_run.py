"""A train function that starts a second wandb run after its first one finished (a warm-up
phase, then the training): localsweep records the first, and says so instead of dropping
the second's rows in silence. Real wandb offline, real SQLite."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import localsweep

sys.path.insert(0, str(Path(__file__).parents[1] / "helpers"))
from cli_process import cli_at

GRID = {"method": "grid", "metric": {"name": "loss"}, "parameters": {"x": {"values": [1]}}}


def _two_phases() -> None:
    import wandb

    with wandb.init(config={"phase": "warmup"}) as run:
        run.log({"loss": 5.0})
    with wandb.init(config={"phase": "main"}) as run:
        run.log({"loss": 0.05})


def _finish_previous() -> None:
    import wandb

    run = wandb.init()
    run.log({"loss": 5.0})
    # wandb finishes the open run inside this call, then starts another of the same id.
    second = wandb.init(reinit="finish_previous")
    second.log({"loss": 0.05})
    second.finish()


def _one_run() -> None:
    import wandb

    with wandb.init() as run:
        run.log({"loss": 1.0})


@pytest.mark.parametrize("train", [_two_phases, _finish_previous], ids=["twice", "reinit"])
def test_a_second_wandb_run_in_one_sweep_run_is_named_in_a_warning(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    train: Callable[[], None],
) -> None:
    monkeypatch.chdir(tmp_path)
    with caplog.at_level(logging.WARNING):
        sweep = localsweep.run(GRID, train, count=1, db="s.db", quiet=True)
    (run,) = sweep.runs
    assert (run.state, run.summary["loss"]) == ("finished", 5.0)
    [warning] = [r.getMessage() for r in caplog.records if "called again" in r.getMessage()]
    assert warning.startswith(f"run {run.id}: wandb.init() was called again")
    assert "one wandb.init(), finished once" in warning
    # Its rows are in a second folder of the run's id, as the warning says.
    assert len(list((tmp_path / "wandb").glob(f"offline-run-*-{run.id}*"))) == 2


def test_runs_of_one_wandb_run_each_get_no_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.chdir(tmp_path)
    config = {**GRID, "parameters": {"x": {"values": [1, 2]}}}
    with caplog.at_level(logging.WARNING):
        sweep = localsweep.run(config, _one_run, db="s.db", quiet=True)
    assert [r.state for r in sweep.runs] == ["finished", "finished"]
    assert not [r for r in caplog.records if "called again" in r.getMessage()]


PROGRAM = """\
import time

import wandb

with wandb.init(config={"phase": "warmup"}) as run:
    run.log({"loss": 5.0})
time.sleep(1.5)  # the agent has found the first run's folder by now (or not: either way)
with wandb.init(config={"phase": "main"}) as run:
    run.log({"loss": 0.05})
"""


@pytest.mark.slow
def test_a_program_that_starts_a_second_wandb_run_gets_the_same_warning(tmp_path: Path) -> None:
    (tmp_path / "prog.py").write_text(PROGRAM)
    (tmp_path / "sweep.yaml").write_text(
        "program: prog.py\nmethod: grid\nmetric: {name: loss}\nparameters: {x: {values: [1]}}\n"
    )
    proc = cli_at(tmp_path, "run", "sweep.yaml", "--db", "s.db")
    assert proc.returncode == 0, proc.stderr
    (run,) = localsweep.Api(tmp_path / "s.db").sweeps()[0].runs
    # The first wandb run is the run's, as in-process, whichever folder was found first.
    assert (run.state, run.summary["loss"]) == ("finished", 5.0)
    output = proc.stdout + proc.stderr
    assert f"run {run.id}: wandb.init() was called again" in output
    assert output.count("was called again") == 1
    assert len(list((tmp_path / "wandb").glob(f"offline-run-*-{run.id}*"))) == 2


@pytest.mark.slow
def test_with_isolation_process_the_agent_says_the_warning_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The run's process writes its stderr to a file; the warning must reach the user anyway.
    monkeypatch.chdir(tmp_path)
    config = {**GRID, "parameters": {"x": {"values": [1, 2]}}}
    with caplog.at_level(logging.WARNING):
        sweep = localsweep.run(config, _two_phases, db="s.db", quiet=True, isolation="process")
    assert [(r.state, r.summary["loss"]) for r in sweep.runs] == [("finished", 5.0)] * 2
    said = [r.getMessage() for r in caplog.records if "called again" in r.getMessage()]
    assert sorted(said) == sorted(
        f"run {r.id}: wandb.init() was called again after this run's wandb run finished, "
        "or while it was open, which finished it (as wandb.init() does in a notebook or "
        "IPython, and with reinit='finish_previous'). localsweep records only the first "
        "wandb run of a sweep run: the rows of this one are not the run's, and stay in a "
        "second offline folder of the same id (localsweep sync uploads the run once that "
        "folder is moved away). Log the whole training in one wandb run: one wandb.init(), "
        "finished once (wandb.init(reinit='return_previous') hands back the open run)"
        for r in sweep.runs
    )
