"""A training that marks its run failed as wandb documents it, ``wandb.finish(exit_code=N)``
with N != 0, and then returns or exits 0: its run is ``failed`` with that exit code, as W&B
shows it once synced, and counts as failed everywhere (best run, bayes, the failure limit,
show). Real wandb offline, in-process, in a fresh process per run, with workers, and in
program mode with and without ``${args}``."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import wandb

import localsweep
from localsweep import AgentError
from localsweep.config import Goal, Metric
from localsweep.records import RunState
from localsweep.report import export_runs
from localsweep.search._outcomes import run_outcome
from localsweep.store import RunRecord, Store
from localsweep.wandb_bridge import find_run_file, wait_for_exit_record

PROGRAMS = Path(__file__).parent / "programs"
MARKED = "the training ended its wandb run with exit code "
BY_FINISH = "wandb.finish(exit_code="


def two_runs(**top: Any) -> dict[str, Any]:
    """Two runs: ``code`` 1 (marked failed, with the better value) and 0 (a success)."""
    return {
        "method": "grid",
        "metric": {"name": "val_loss", "goal": "minimize"},
        "parameters": {"code": {"values": [1, 0]}},
        **top,
    }


def wandb_exit_code(run_dir: str | None) -> int | None:
    """The exit code in the run's own wandb file (what W&B shows after a sync)."""
    assert run_dir is not None
    path = find_run_file(run_dir)
    assert path is not None
    return wait_for_exit_record(path, timeout=60).exit_code


def by_code(runs: list[Any]) -> dict[int, Any]:
    return {run.config["code"]: run for run in runs}


def assert_marked_failed(store: Store, sweep_id: str, code: int = 1) -> tuple[RunRecord, RunRecord]:
    """The run with ``code`` is failed with that exit code and the reason; the other is
    finished and the best. Returns (failed, finished)."""
    runs = by_code(store.list_runs(sweep_id))
    failed, finished = runs[code], runs[0]
    assert (failed.state, failed.exit_code) == (RunState.FAILED, code), failed.error
    assert MARKED + f"{code}: " + BY_FINISH + f"{code})" in (failed.error or "")
    assert failed.metric == 0.05  # its value is kept, but is no result
    assert (finished.state, finished.exit_code, finished.error) == (RunState.FINISHED, 0, None)
    assert wandb_exit_code(failed.dir) == code
    assert wandb_exit_code(finished.dir) == 0
    return failed, finished


# ------------------------------------------------------------------------ in-process


def mark_failed_by_code() -> None:
    run = wandb.init()
    code = int(run.config["code"])
    run.log({"val_loss": 0.05 if code else 0.5})
    run.finish(exit_code=code)


def test_sys_exit_0_inside_with_wandb_init_is_failed_as_wandb_records_it(tmp_path: Path) -> None:
    """wandb's ``Run.__exit__`` writes exit code 1 for any exception leaving the block,
    ``SystemExit(0)`` included, so W&B shows the run failed: so does localsweep, and the
    error says why and what to do, rather than naming a wandb.finish the code never made."""

    def train() -> None:
        with wandb.init() as run:
            run.log({"val_loss": 0.05})
            sys.exit(0)

    sweep = localsweep.run(two_runs(), train, db=tmp_path / "s.db", count=1, quiet=True)
    [run] = sweep.runs
    assert (run.state, run.exit_code) == ("failed", 1)
    assert "an exception leaving `with wandb.init()`" in (run.error or "")
    assert "sys.exit(0) included (exit after the with block)" in (run.error or "")
    assert wandb_exit_code(run.dir) == 1


def test_run_finish_with_exit_code_1_fails_the_run_and_it_is_not_the_best(tmp_path: Path) -> None:
    sweep = localsweep.run(two_runs(), mark_failed_by_code, db=tmp_path / "s.db")
    runs = by_code(sweep.runs)
    failed, finished = runs[1], runs[0]
    assert (failed.state, failed.exit_code) == ("failed", 1)
    assert (failed.error or "").startswith(MARKED + "1: " + BY_FINISH + "1)")
    assert (finished.state, finished.exit_code, finished.error) == ("finished", 0, None)
    best = sweep.best_run()
    assert best is not None and best.id == finished.id
    # wandb's own file says the same, so W&B shows the run failed after `localsweep sync`
    assert wandb_exit_code(failed.dir) == 1
    assert wandb_exit_code(finished.dir) == 0


def test_module_level_wandb_finish_with_its_own_code_fails_the_run(tmp_path: Path) -> None:
    def train() -> None:
        with wandb.init() as run:
            run.log({"val_loss": 0.05})
            wandb.finish(exit_code=3)

    sweep = localsweep.run(two_runs(parameters={"x": {"value": 1}}), train, db=tmp_path / "s.db")
    [run] = sweep.runs
    assert (run.state, run.exit_code, run.error) == ("failed", 3, MARKED + "3: " + BY_FINISH + "3)")
    assert sweep.best_run() is None


def test_an_error_that_left_with_wandb_init_and_was_caught_fails_the_run(tmp_path: Path) -> None:
    # Leaving `with wandb.init()` by an exception finishes the wandb run with exit code 1
    # (failed on W&B), even when the code catches the exception outside and returns.
    def train() -> None:
        try:
            with wandb.init() as run:
                run.log({"val_loss": 0.05})
                raise ValueError("diverged")
        except ValueError:
            pass

    sweep = localsweep.run(two_runs(parameters={"x": {"value": 1}}), train, db=tmp_path / "s.db")
    [run] = sweep.runs
    assert (run.state, run.exit_code) == ("failed", 1), run.error
    assert wandb_exit_code(run.dir) == 1


def test_runs_marked_failed_count_toward_the_failure_limit(tmp_path: Path) -> None:
    calls: list[int] = []

    def train() -> None:
        run = wandb.init()
        calls.append(run.config["x"])
        run.log({"val_loss": 0.1})
        run.finish(exit_code=1)

    config = two_runs(parameters={"x": {"values": list(range(6))}})
    sweep_id = localsweep.sweep(config, db=tmp_path / "s.db")
    with pytest.raises(AgentError, match="3 runs in a row failed") as info:
        localsweep.agent(sweep_id, train, db=tmp_path / "s.db", max_consecutive_failures=3)
    assert MARKED + "1: " + BY_FINISH + "1)" in str(info.value)
    assert calls == [0, 1, 2]


def test_bayes_learns_a_run_marked_failed_as_failed(tmp_path: Path) -> None:
    def train() -> None:
        run = wandb.init()
        run.log({"val_loss": run.config["x"] ** 2})
        if run.config["x"] < 0:
            run.finish(exit_code=1)

    config = {
        "method": "bayes",
        "metric": {"name": "val_loss", "goal": "minimize"},
        "parameters": {"x": {"min": -1.0, "max": 1.0}},
        "localsweep": {"seed": 1},
    }
    sweep = localsweep.run(config, train, count=6, db=tmp_path / "s.db")
    store = Store(tmp_path / "s.db")
    try:
        views = {v.id: v for v in store.run_views(sweep.id)}
    finally:
        store.close()
    marked = [r for r in sweep.runs if r.config["x"] < 0]
    assert marked and len(marked) < len(sweep.runs), "the test needs both kinds of run"
    metric = Metric("val_loss", Goal.MINIMIZE)
    for run in sweep.runs:
        outcome = run_outcome(views[run.id], metric)
        expected = "FAIL" if run.config["x"] < 0 else "COMPLETE"
        assert outcome.state.name == expected, (run.config, run.state)


def test_an_exit_code_of_0_keeps_the_run_finished(tmp_path: Path) -> None:
    def train() -> None:
        run = wandb.init()
        run.log({"val_loss": 0.5})
        run.finish(exit_code=0)

    sweep = localsweep.run(two_runs(parameters={"x": {"value": 1}}), train, db=tmp_path / "s.db")
    [run] = sweep.runs
    assert (run.state, run.exit_code, run.error) == ("finished", 0, None)


def test_a_run_localsweep_stopped_is_not_taken_for_one_its_code_marked_failed(
    tmp_path: Path,
) -> None:
    # The plateau stop finishes the wandb run with exit code 1 before unwinding; training
    # code that swallows the stop and returns keeps the state it had before (the stop's exit
    # code is localsweep's, not the training's).
    def train() -> None:
        run = wandb.init(early_stopping_metric="val_loss", early_stopping_patience=2)
        try:
            for _ in range(10):
                run.log({"val_loss": 1.0})
        except BaseException:
            pass

    sweep = localsweep.run(two_runs(parameters={"x": {"value": 1}}), train, db=tmp_path / "s.db")
    [run] = sweep.runs
    assert run.state != "failed" and MARKED not in (run.error or ""), run.error


def test_a_preempting_run_that_ends_non_zero_is_requeued_not_failed(tmp_path: Path) -> None:
    attempts: list[int] = []

    def train() -> None:
        run = wandb.init()
        attempts.append(1)
        run.log({"val_loss": 0.5})
        if len(attempts) == 1:
            run.mark_preempting()
            run.finish(exit_code=1)

    sweep = localsweep.run(two_runs(parameters={"x": {"value": 1}}), train, db=tmp_path / "s.db")
    [run] = sweep.runs
    assert (run.state, run.attempt) == ("finished", 2), run.error


# ------------------------------------------------------- a fresh process, workers


@pytest.fixture
def functions(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The module of test functions, importable here and in the runs' processes."""
    monkeypatch.syspath_prepend(str(PROGRAMS))
    import functions as module

    yield module


@pytest.mark.slow
def test_isolation_process_records_a_run_marked_failed_as_failed(
    store: Store, make_sweep: Callable[..., str], functions: Any
) -> None:
    from localsweep.agent import Agent
    from localsweep.agent._isolated import IsolatedFunctionRunner

    sweep_id = make_sweep(two_runs())
    runner = IsolatedFunctionRunner(functions.finish_with_code, store.url, sweep_id)
    Agent(store, sweep_id, runner=runner).run()
    assert_marked_failed(store, sweep_id)


@pytest.mark.slow
def test_workers_record_a_run_marked_failed_as_failed(
    store: Store, make_sweep: Callable[..., str], functions: Any
) -> None:
    from localsweep.agent._workers import run_workers, runner_factory

    sweep_id = make_sweep(two_runs())
    factory = runner_factory(
        store, sweep_id, function=functions.finish_with_code, isolation="process"
    )
    run_workers(store, sweep_id, workers=2, make_runner=factory)
    assert_marked_failed(store, sweep_id)


# ------------------------------------------------------------------------ program mode


@pytest.mark.slow
@pytest.mark.parametrize(
    "command",
    [
        None,  # wandb's default: ${env} ${interpreter} ${program} ${args}
        ["${env}", "${interpreter}", "${program}"],  # parameters from wandb.config only
        ["${interpreter}", "${program}", "${args_no_hyphens}"],
    ],
    ids=["args", "no-args", "args-no-hyphens"],
)
def test_a_program_that_marks_its_run_failed_and_exits_0_is_failed(
    store: Store,
    make_sweep: Callable[..., str],
    run_program: Callable[..., Any],
    command: list[str] | None,
) -> None:
    config = two_runs(program="finish_failed.py")
    if command is not None:
        config["command"] = command
    sweep_id = make_sweep(config)
    run_program(sweep_id, echo_output=False)
    failed, _finished = assert_marked_failed(store, sweep_id)
    assert (failed.error or "").startswith("the program exited 0, but " + MARKED)


@pytest.mark.slow
def test_program_workers_record_a_run_marked_failed_as_failed(
    store: Store, make_sweep: Callable[..., str]
) -> None:
    from localsweep.agent._workers import run_workers, runner_factory

    sweep_id = make_sweep(two_runs(program="finish_failed.py"))
    run_workers(store, sweep_id, workers=2, make_runner=runner_factory(store, sweep_id))
    _failed, finished = assert_marked_failed(store, sweep_id)
    api_best = localsweep.Api(store.url).sweep(sweep_id).best_run()
    assert api_best is not None and api_best.id == finished.id


@pytest.mark.slow
def test_show_and_export_list_the_run_marked_failed_as_failed(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    sweep = localsweep.run(two_runs(), mark_failed_by_code, db=db, quiet=True)
    runs = by_code(sweep.runs)
    out = subprocess.run(
        [sys.executable, "-m", "localsweep.cli", "show", sweep.id, "--db", str(db)],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=180,
        check=True,
    ).stdout
    assert f"Best run {runs[0].id}" in out, out
    failed_line = next(line for line in out.splitlines() if runs[1].id in line)
    assert "failed" in failed_line, out
    text = io.StringIO()
    export_runs(sweep, "csv", text)
    states = {row["id"]: row["state"] for row in csv.DictReader(io.StringIO(text.getvalue()))}
    assert states == {runs[1].id: "failed", runs[0].id: "finished"}
