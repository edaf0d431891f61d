"""Sweep control (issue 11, item 2): pause, resume, stop and cancel a sweep while agent
processes run it, from the command line in ``wandb sweep``'s spelling and ours, and from
``Api().sweep(id)``; on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from faults_support import grid, start_agent, wait_for

import localsweep
from localsweep.store import Store

sys.path.insert(0, str(Path(__file__).parents[1] / "helpers"))
from cli_process import cli

pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "shared.db")
    else:
        yield request.getfixturevalue("postgres_db")


def _states(store: Store, sweep_id: str) -> list[str]:
    return [r.state.value for r in store.list_runs(sweep_id)]


def test_pause_starts_no_run_until_resume(db: str, tmp_path: Path, signals: Path) -> None:
    sweep_id = localsweep.sweep(grid(5), db=db)
    store = Store(db)
    agent = start_agent(
        sweep_id,
        db,
        tmp_path / "agent.log",
        function="faults_train:steps",
        # 5 s a run: the whole grid must not finish before `--pause` (a process of its own,
        # slow to start on a loaded machine) reaches the database.
        env={"LOCALSWEEP_TEST_STEPS": "25"},
    )
    try:
        wait_for(lambda: any(signals.glob("started-*")), "a run started", agents=[agent])
        paused = cli("sweep", "--pause", sweep_id, "--db", db)
        assert paused.returncode == 0, paused.stderr
        assert paused.stdout.strip() == "paused"
        wait_for(lambda: "is paused" in agent.output(), "the agent says it waits", agents=[agent])
        wait_for(
            lambda: "running" not in _states(store, sweep_id),
            "the run in progress finished",
            agents=[agent],
        )
        before = _states(store, sweep_id)
        time.sleep(3)  # agents read the state every second: none may start a run meanwhile
        assert _states(store, sweep_id) == before
        assert len(before) < 5
        listed = cli("ls", "--db", db)
        assert "paused" in listed.stdout, listed.stdout

        resumed = cli("resume", sweep_id, "--db", db)
        assert resumed.returncode == 0, resumed.stderr
        assert agent.wait() == 0, agent.output()
    finally:
        agent.kill()
    runs = store.list_runs(sweep_id)
    assert sorted(r.config["x"] for r in runs if r.state.value == "finished") == list(range(5))
    assert len(runs) == 5
    store.close()


def test_stop_lets_the_running_run_finish_and_resume_goes_on(
    db: str, tmp_path: Path, signals: Path
) -> None:
    sweep_id = localsweep.sweep(grid(4), db=db)
    agent = start_agent(
        sweep_id, db, tmp_path / "agent.log", function="faults_train:until_released"
    )
    try:
        wait_for(lambda: any(signals.glob("started-*")), "a run started", agents=[agent])
        stopped = cli("stop", sweep_id, "--db", db)
        assert stopped.returncode == 0, stopped.stderr
        sweep = localsweep.Api(db).sweep(sweep_id)
        assert (sweep.state, sweep.finished_reason) == ("FINISHED", "stopped")
        time.sleep(2)  # the agent has seen the stop: its run goes on
        assert agent.process.poll() is None
        (signals / "release").touch()
        assert agent.wait() == 0, agent.output()
    finally:
        agent.kill()
    (only,) = localsweep.Api(db).sweep(sweep_id).runs
    assert only.state == "finished"

    localsweep.Api(db).sweep(sweep_id).resume()
    again = start_agent(
        sweep_id, db, tmp_path / "again.log", function="faults_train:until_released"
    )
    assert again.wait() == 0, again.output()
    sweep = localsweep.Api(db).sweep(sweep_id)
    assert sorted(r.config["x"] for r in sweep.runs if r.state == "finished") == list(range(4))
    assert (sweep.state, sweep.finished_reason) == ("FINISHED", "exhausted")


def test_cancel_stops_running_runs_cleanly_and_a_resumed_sweep_reruns_them(
    db: str, tmp_path: Path, signals: Path
) -> None:
    sweep_id = localsweep.sweep(grid(3), db=db)
    agent = start_agent(
        sweep_id, db, tmp_path / "agent.log", function="faults_train:until_released"
    )
    try:
        wait_for(lambda: any(signals.glob("started-*")), "a run started", agents=[agent])
        localsweep.Api(db).sweep(sweep_id).cancel()
        # No release: the agent itself must stop the run.
        assert agent.wait() == 0, agent.output()
    finally:
        agent.kill()
    assert "stopped because: canceled" in agent.output()
    (cancelled,) = localsweep.Api(db).sweep(sweep_id).runs
    assert (cancelled.state, cancelled.end_reason) == ("killed", "cancelled")
    assert cancelled.history()  # its rows are kept
    shown = cli("show", sweep_id, "--db", db)
    assert "canceled" in shown.stdout, shown.stdout

    resumed = cli("sweep", "--resume", sweep_id, "--db", db)
    assert resumed.returncode == 0, resumed.stderr
    (signals / "release").touch()
    again = start_agent(
        sweep_id, db, tmp_path / "again.log", function="faults_train:until_released"
    )
    assert again.wait() == 0, again.output()
    sweep = localsweep.Api(db).sweep(sweep_id)
    assert sorted(r.config["x"] for r in sweep.runs if r.state == "finished") == [0, 1, 2]
    assert (sweep.state, sweep.finished_reason) == ("FINISHED", "exhausted")


def test_control_of_an_unknown_sweep_is_a_clear_error(tmp_path: Path) -> None:
    db = str(tmp_path / "sweeps.db")
    localsweep.sweep(grid(2), db=db)
    result = cli("sweep", "--pause", "ls-nosuchid", "--db", db)
    assert result.returncode == 2
    assert "ls-nosuchid" in result.stderr
    assert "Traceback" not in result.stderr


def test_pausing_a_finished_sweep_is_a_clear_error(tmp_path: Path) -> None:
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(grid(2), db=db)
    assert cli("stop", sweep_id, "--db", db).returncode == 0
    result = cli("sweep", "--pause", sweep_id, "--db", db)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert localsweep.Api(db).sweep(sweep_id).state == "FINISHED"


def test_two_control_flags_are_refused_and_change_nothing(tmp_path: Path) -> None:
    # A user who meant --resume must not have their running runs cancelled.
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(grid(2), db=db)
    assert cli("sweep", "--pause", sweep_id, "--db", db).returncode == 0
    result = cli("sweep", "--resume", "--cancel", sweep_id, "--db", db)
    assert result.returncode == 2, result.stderr
    assert "--resume and --cancel were both given" in result.stderr
    assert "Traceback" not in result.stderr
    assert localsweep.Api(db).sweep(sweep_id).state == "PAUSED"


def test_an_agent_waiting_on_a_paused_sweep_that_is_stopped_says_so(tmp_path: Path) -> None:
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(grid(2), db=db)
    assert cli("pause", sweep_id, "--db", db).returncode == 0
    agent = start_agent(sweep_id, db, tmp_path / "agent.log", function="faults_train:steps")
    try:
        wait_for(lambda: "is paused" in agent.output(), "the agent says it waits", agents=[agent])
        assert cli("stop", sweep_id, "--db", db).returncode == 0
        assert agent.wait() == 0, agent.output()
    finally:
        agent.kill()
    assert "ended while paused" in agent.output()
    assert "resumed" not in agent.output()
    assert localsweep.Api(db).sweep(sweep_id).runs == []


def test_an_exhausted_grid_stays_over_when_cancelled(tmp_path: Path) -> None:
    db = str(tmp_path / "sweeps.db")
    sweep = localsweep.run(grid(2), lambda c: 1.0, db=db)
    assert (sweep.state, sweep.finished_reason) == ("FINISHED", "exhausted")
    assert cli("cancel", sweep.id, "--db", db).returncode == 0
    after = localsweep.Api(db).sweep(sweep.id)
    assert (after.state, after.finished_reason) == ("FINISHED", "exhausted")
    # So it cannot be resumed into a sweep with nothing left to run (faults.md).
    resumed = cli("resume", sweep.id, "--db", db)
    assert resumed.returncode == 2, resumed.stderr
    assert "only a paused, stopped or cancelled sweep can be resumed" in resumed.stderr


def test_controlling_a_sweep_that_already_ended_says_nothing_changed(tmp_path: Path) -> None:
    # A cancel (or stop) of a sweep that is over must not claim it cancelled anything:
    # it changes nothing, which is what was asked for (exit 0), and says so.
    db = str(tmp_path / "sweeps.db")
    sweep = localsweep.run(grid(2), lambda c: 1.0, db=db)
    for args in (("sweep", "--cancel"), ("cancel",), ("stop",)):
        result = cli(*args, sweep.id, "--db", db)
        said = " ".join(result.stderr.split())
        assert result.returncode == 0, result.stderr
        assert f"Sweep {sweep.id} had already ended (finished (exhausted)): nothing changed" in said
        assert "Cancelled" not in said and "Stopped" not in said
        assert result.stdout.strip() == "finished"
    other = localsweep.sweep(grid(2), db=db)
    assert cli("cancel", other, "--db", db).returncode == 0
    again = cli("cancel", other, "--db", db)
    assert again.returncode == 0, again.stderr
    assert f"Sweep {other} had already ended (canceled): nothing changed" in " ".join(
        again.stderr.split()
    )
    assert cli("resume", other, "--db", db).returncode == 0
    assert cli("pause", other, "--db", db).returncode == 0
    paused = cli("pause", other, "--db", db)
    assert paused.returncode == 0, paused.stderr
    assert f"Sweep {other} was already paused: nothing changed" in " ".join(paused.stderr.split())
