"""A store error met by a run's own process alone (``--isolation process``): the run's
connection cannot write while the agent's still can (a database file made read-only under a
running agent keeps the agent's open connection writing; each new run's fails). The agent
says the run's process's error once and stops (exit 1); the run is recorded killed, not the
user's failure, and its point runs again. It used to kill the run, say nothing and claim the
point again, run after run, forever."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from faults_support import PROGRAMS, grid, no_traceback_of_ours, start_agent

import localsweep
from localsweep.agent import Agent
from localsweep.agent._isolated import IsolatedFunctionRunner
from localsweep.errors import StoreError
from localsweep.records import RunState
from localsweep.store import Store

pytestmark = pytest.mark.slow


def _isolated_agent(tmp_path: Path, sweep_id: str, function: str) -> tuple[int, str]:
    """Run ``localsweep agent --isolation process --count 3`` with ``function`` to its end:
    its exit code and output. ``--count 3``: an agent that went on would run the point a
    second and a third time."""
    agent = start_agent(
        sweep_id,
        str(tmp_path / "sweeps.db"),
        tmp_path / "agent.log",
        function=function,
        extra=["--isolation", "process", "--count", "3"],
    )
    try:
        code = agent.wait()
    finally:
        agent.kill()
    return code, agent.output()


def test_a_store_error_of_the_runs_process_alone_stops_the_agent_with_its_message(
    tmp_path: Path, signals: Path
) -> None:
    db = tmp_path / "sweeps.db"
    sweep_id = localsweep.sweep(grid(1), db=str(db))
    code, output = _isolated_agent(tmp_path, sweep_id, "store_child:no_file_writes")

    assert code == 1, output
    [error] = [line for line in output.splitlines() if line.startswith("Error:")]
    # The run's process's own error, as the agent's would read: what failed and where.
    assert "I/O error" in error, output
    assert str(db) in error, output
    # The limit, not the disk, is named first: a job's `ulimit -f` is the likely cause.
    assert "may write files of at most 0 bytes (`ulimit -f`)" in error, output
    assert "Met by the process of run" in output, output
    no_traceback_of_ours(output)
    assert list(signals.glob("user-saw-*")) == []
    [run] = localsweep.Api(str(db)).sweep(sweep_id).runs
    assert run.state == "killed", (run.state, run.error)
    assert run.end_reason == "store_error"
    assert "I/O error" in (run.error or ""), run.error
    assert run.id in output

    # Its point is offered again: the next agent runs it.
    again = start_agent(
        sweep_id,
        str(db),
        tmp_path / "again.log",
        function="store_child:plain",
        extra=["--isolation", "process"],
    )
    try:
        assert again.wait() == 0, again.output()
    finally:
        again.kill()
    runs = localsweep.Api(str(db)).sweep(sweep_id).runs
    assert sorted((r.state, r.config["x"]) for r in runs) == [("finished", 0), ("killed", 0)]


def test_a_store_error_after_the_runs_last_log_is_no_result_and_stops_the_agent(
    tmp_path: Path, signals: Path
) -> None:
    # The failing write is the recorder's timed flush, after the training's last log: the
    # training returns normally. Before, the run was recorded finished without its rows,
    # counted as a result, and the agent went on to meet the error run after run.
    db = tmp_path / "sweeps.db"
    sweep_id = localsweep.sweep(grid(1), db=str(db))
    code, output = _isolated_agent(tmp_path, sweep_id, "store_child:fails_after_its_last_log")
    assert code == 1, output
    assert any(line.startswith("Error:") and "I/O error" in line for line in output.splitlines())
    no_traceback_of_ours(output)
    [run] = localsweep.Api(str(db)).sweep(sweep_id).runs
    assert (run.state, run.end_reason) == ("killed", "store_error"), (run.state, run.error)
    assert localsweep.Api(str(db)).sweep(sweep_id).best_run() is None


def test_a_run_whose_process_cannot_open_the_store_stops_the_agent_with_its_message(
    store: Store,
    make_sweep: Callable[..., str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.syspath_prepend(str(PROGRAMS))
    import store_child

    sweep_id = make_sweep(grid(2))
    # The runs' processes are given a database path that is a folder: SQLite cannot open it
    # there, while the agent's own store is sound.
    folder = tmp_path / "not-a-database"
    folder.mkdir()
    runner = IsolatedFunctionRunner(store_child.plain, f"sqlite:///{folder}", sweep_id)

    with pytest.raises(StoreError) as raised:
        Agent(store, sweep_id, runner=runner, count=3).run()

    message = str(raised.value)
    assert f"{folder} is a folder" in message
    [run] = store.list_runs(sweep_id)
    assert f"Met by the process of run {run.id}" in message
    assert run.state is RunState.KILLED
    assert run.end_reason == "store_error"
    assert f"{folder} is a folder" in (run.error or "")
