"""A run taken for dead comes back (issue 11, item 1): an agent suspended with SIGSTOP past
the heartbeat timeout has its run reaped and its point run by another agent; resumed with
SIGCONT, it learns at its next heartbeat or write that it lost the run, stops it cleanly
(rows kept, end reason ``lease_lost``) and goes on. Every point or run counts once."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from faults_support import Agent, grid, start_agent, wait_for

import localsweep
from localsweep.store import Store
from localsweep.wandb_bridge import read_run_file

pytestmark = pytest.mark.slow

#: Short, so the test does not wait minutes; the agents beat every timeout / 4.
HEARTBEAT_TIMEOUT = "3"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "shared.db")
    else:
        yield request.getfixturevalue("postgres_db")


def _suspend_outside_a_transaction(pid: int, db: str) -> None:
    """SIGSTOP ``pid`` while it holds no SQLite write lock. A process frozen inside a write
    transaction holds the file's only write lock until it wakes, and SQLite has no server
    to end it (PostgreSQL ends it: see test_store_faults); every other agent then waits out
    its store timeout, which is not what these tests are about. On a loaded machine the
    victim's heartbeat writes make that moment likely, so stop it again until it is not."""
    if "://" in db:
        os.kill(pid, signal.SIGSTOP)
        return
    for _ in range(200):
        os.kill(pid, signal.SIGSTOP)
        probe = sqlite3.connect(db, timeout=0, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")
            probe.execute("ROLLBACK")
            return
        except sqlite3.OperationalError:  # locked: the victim is inside a transaction
            os.kill(pid, signal.SIGCONT)
            time.sleep(0.05)
        finally:
            probe.close()
    raise AssertionError("the victim held the database's write lock at every try")


def _suspend_one_agent_past_the_timeout(
    config: dict[str, Any], db: str, tmp_path: Path
) -> tuple[str, Agent, str]:
    """Start a victim agent, SIGSTOP it mid-run, let two more agents reap and redo its run,
    SIGCONT it, and wait for all three; returns the sweep id, the victim, its run id."""
    signals = tmp_path / "signals"
    signals.mkdir()
    env = {
        "LOCALSWEEP_HEARTBEAT_TIMEOUT": HEARTBEAT_TIMEOUT,
        "LOCALSWEEP_TEST_SIGNALS": str(signals),
        "LOCALSWEEP_TEST_STEPS": "5",
    }
    sweep_id = localsweep.sweep(config, db=db)
    store = Store(db)
    agents: list[Agent] = []
    try:
        victim = start_agent(
            sweep_id, db, tmp_path / "victim.log", function="faults_train:steps", env=env
        )
        agents.append(victim)
        wait_for(
            lambda: any(signals.glob(f"started-{victim.pid}-*")),
            "the victim started a run",
            agents=agents,
        )
        _suspend_outside_a_transaction(victim.pid, db)
        (victim_run,) = [r for r in store.list_runs(sweep_id) if r.state.value == "running"]
        for i in range(2):
            agents.append(
                start_agent(
                    sweep_id,
                    db,
                    tmp_path / f"agent-{i}.log",
                    function="faults_train:steps",
                    env=env,
                )
            )
        wait_for(
            lambda: store.get_run(victim_run.id).state.value == "crashed",
            "another agent reaped the suspended agent's run",
            agents=agents[1:],
        )
        os.kill(victim.pid, signal.SIGCONT)
        for agent in agents:
            assert agent.wait() == 0, agent.output()
    finally:
        for agent in agents:
            if agent.process.poll() is None:
                os.kill(agent.pid, signal.SIGCONT)
            agent.kill()
        store.close()
    return sweep_id, victim, victim_run.id


def test_a_reaped_run_of_a_suspended_agent_never_counts_on_a_grid(db: str, tmp_path: Path) -> None:
    sweep_id, victim, victim_run_id = _suspend_one_agent_past_the_timeout(grid(6), db, tmp_path)
    sweep = localsweep.Api(db).sweep(sweep_id)
    finished = [r for r in sweep.runs if r.state == "finished"]
    assert sorted(r.config["x"] for r in finished) == list(range(6))
    reaped = localsweep.Api(db).run(victim_run_id)
    assert (reaped.state, reaped.end_reason) == ("crashed", "lease_lost")
    # Stopped cleanly: its wandb run was finished with its rows (and it says why).
    (folder,) = (tmp_path / "wandb").glob(f"offline-run-*-{victim_run_id}")
    offline = read_run_file(folder / f"run-{victim_run_id}.wandb")
    assert offline.finished and offline.history
    assert "took it for dead" in victim.output()
    # Its last line does not count that run among its results.
    assert re.search(r"Agent done: \d+ run\(s\), 1 not counted; stopped", victim.output())
    assert (sweep.state, sweep.finished_reason) == ("FINISHED", "exhausted")


def test_a_reaped_run_of_a_suspended_agent_never_counts_for_run_cap(
    db: str, tmp_path: Path
) -> None:
    config = {
        "method": "random",
        "run_cap": 10,
        "metric": {"name": "loss"},
        "parameters": {"x": {"min": 0.0, "max": 1.0}},
    }
    sweep_id, _victim, victim_run_id = _suspend_one_agent_past_the_timeout(config, db, tmp_path)
    sweep = localsweep.Api(db).sweep(sweep_id)
    assert len([r for r in sweep.runs if r.state == "finished"]) == 10
    assert localsweep.Api(db).run(victim_run_id).state == "crashed"
    assert (sweep.state, sweep.finished_reason) == ("FINISHED", "run_cap")
