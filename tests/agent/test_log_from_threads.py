"""``wandb.log`` from several threads at once, in function mode: the store gets the rows
and the summary of wandb's own run file (as program mode, which reads that file, does)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import localsweep
from localsweep.records import RunState
from localsweep.wandb_bridge._datastore import find_run_file, read_run_file

pytestmark = pytest.mark.slow

PROGRAMS = Path(__file__).parent / "programs"

#: wandb's own keys, which the store's rows and summary leave out or add later.
WANDB_KEYS = {"_runtime", "_timestamp", "_wandb"}


@pytest.fixture
def threaded_logs(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The module of the training, importable here and in the runs' processes."""
    monkeypatch.syspath_prepend(str(PROGRAMS))
    import threaded_logs as module

    yield module


def user_keys(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in WANDB_KEYS}


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_store_has_the_rows_and_summary_of_the_run_file(
    offline: Path, shared_service: None, threaded_logs: Any, isolation: str
) -> None:
    config = {"method": "grid", "metric": {"name": "loss"}, "parameters": {"x": {"value": 1}}}
    sweep = localsweep.run(
        config,
        threaded_logs.log_from_threads,
        count=1,
        db=str(offline / "sweeps.db"),
        isolation=isolation,  # type: ignore[arg-type]
        quiet=True,
    )
    [run] = sweep.runs
    assert run.state == RunState.FINISHED.value, run.error
    run_file = find_run_file(run.dir or "")
    assert run_file is not None
    wandb_run = read_run_file(run_file)
    expected_rows = (threaded_logs.THREADS + 1) * threaded_logs.ROWS
    assert len(wandb_run.history) == expected_rows  # wandb's file has every row

    stored = [user_keys(row) for row in run.history()]
    assert stored == [user_keys(row) for row in wandb_run.history]
    file_summary = user_keys(wandb_run.summary)
    assert user_keys(dict(run.summary)) == file_summary
    assert run.metric == file_summary["loss"]


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_a_row_logged_while_the_run_finishes_is_stored_as_wandb_writes_it(
    offline: Path, shared_service: None, threaded_logs: Any, isolation: str
) -> None:
    config = {"method": "grid", "metric": {"name": "loss"}, "parameters": {"x": {"value": 1}}}
    sweep = localsweep.run(
        config,
        threaded_logs.log_while_finishing,
        count=1,
        db=str(offline / "sweeps.db"),
        isolation=isolation,  # type: ignore[arg-type]
        quiet=True,
    )
    [run] = sweep.runs
    assert run.state == RunState.FINISHED.value, run.error
    run_file = find_run_file(run.dir or "")
    assert run_file is not None
    wandb_run = read_run_file(run_file)
    stored = [user_keys(row) for row in run.history()]
    assert stored == [user_keys(row) for row in wandb_run.history]
    assert user_keys(dict(run.summary)) == user_keys(wandb_run.summary)


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_a_stop_that_comes_up_on_a_monitor_thread_stops_the_training_as_such(
    offline: Path,
    shared_service: None,
    threaded_logs: Any,
    isolation: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The stop (a cancel here; hyperband's and a lost lease's alike) came up on whichever
    # thread logged next, most often the monitor: it ended that thread, and the training
    # failed on its next log to a run finished under it (recorded failed, not cancelled).
    db = str(offline / "sweeps.db")
    monkeypatch.setenv("THREADED_LOGS_DB", db)
    config = {"method": "grid", "metric": {"name": "loss"}, "parameters": {"x": {"value": 1}}}
    sweep = localsweep.run(
        config,
        threaded_logs.cancelled_while_a_monitor_logs,
        count=1,
        db=db,
        isolation=isolation,  # type: ignore[arg-type]
        quiet=True,
    )
    [run] = sweep.runs
    assert (run.state, run.end_reason) == (RunState.KILLED.value, "cancelled"), run.error
    epochs = [row["epoch"] for row in run.history() if "epoch" in row]
    # The training stopped at its first log after the cancel: its rows before it are kept.
    assert epochs == [0, 1, 2]
    # The monitor logged to a live run until the training stopped it, as under
    # wandb.agent, which finishes a run it stopped once the function has unwound.
    monitor = offline / "monitor.txt"
    assert not monitor.exists(), monitor.read_text()
