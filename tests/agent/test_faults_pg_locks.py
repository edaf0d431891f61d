"""Agents on a real PostgreSQL whose statements wait on locks or are turned away.

- A ``lock_timeout`` on the agents' role, with another session holding the sweep's row
  longer than that while a run ends: the server cancels the agent's statements (55P03) and
  the agent retries them; the run ends ``finished`` with every row once, and the agent
  exits 0. (Both agents used to exit 1 and lose the ends and rows of finished runs.)
- SIGTERM while a finished run's end waits for the database: the run is recorded
  finished, and the agent says that no run was left to requeue (not that "0 runs" will be
  resumed).
- The agents' role made NOLOGIN mid-sweep: one message naming the fix, exit 2, at once
  (it used to be retried as "the database server is unreachable" for the whole
  ``--store-timeout``).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import psycopg
import pytest
from faults_support import PROGRAMS, alive, grid, no_traceback_of_ours, start_agent, wait_for
from sqlalchemy.engine import make_url

import localsweep
from localsweep.wandb_bridge import read_run_file

# The other sessions the store's tests use (tests/store/pg_sessions.py).
sys.path.insert(0, str(Path(__file__).parents[1] / "store"))
from pg_sessions import set_for_localsweep, sweep_row_held, wait_for_waits

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def _rows_once(db: str, sweep_id: str, wandb_dir: Path) -> None:
    """Each run finished, with exactly the rows its wandb run logged, each once."""
    for run in localsweep.Api(db).sweep(sweep_id).runs:
        assert run.state == "finished", (run.id, run.state, run.end_reason)
        (folder,) = wandb_dir.glob(f"offline-run-*-{run.id}")
        logged = read_run_file(folder / f"run-{run.id}.wandb").history
        steps = [row["_step"] for row in run.history()]
        assert steps == list(range(len(logged))), steps


def test_statements_cancelled_by_lock_timeout_are_retried_and_the_run_counts_once(
    tmp_path: Path, signals: Path, postgres_db: str
) -> None:
    set_for_localsweep(postgres_db, "lock_timeout", "300ms")
    sweep_id = localsweep.sweep(grid(1), db=postgres_db)
    agent = start_agent(
        sweep_id, postgres_db, tmp_path / "agent.log", function="faults_train:until_released"
    )
    try:
        wait_for(lambda: any(signals.glob("started-*")), "a run started", agents=[agent])
        with sweep_row_held(postgres_db, sweep_id) as watch:
            # The run ends while the sweep's row is held: its last rows and its end wait,
            # and are cancelled by lock_timeout again and again.
            (signals / "release").touch()
            wait_for_waits(watch, 6, alive=lambda: agent.process.poll() is None)
        assert agent.wait() == 0, agent.output()
    finally:
        agent.kill()
    no_traceback_of_ours(agent.output())
    assert "Error:" not in agent.output()
    _rows_once(postgres_db, sweep_id, tmp_path / "wandb")


def test_sigterm_while_a_finished_runs_end_waits_says_no_run_was_requeued(
    tmp_path: Path, signals: Path, postgres_db: str
) -> None:
    config = grid(2, program=str(PROGRAMS / "until_released.py"))
    sweep_id = localsweep.sweep(config, db=postgres_db)
    agent = start_agent(sweep_id, postgres_db, tmp_path / "agent.log")
    try:
        wait_for(lambda: any(signals.glob("started-*")), "a run started", agents=[agent])
        (started,) = signals.glob("started-*")
        child = int(started.name.split("-")[1])
        with sweep_row_held(postgres_db, sweep_id) as watch:
            (signals / "release").touch()
            wait_for(lambda: not alive(child), "the run's program ended", agents=[agent])
            # The agent now records the run's end, which waits for the sweep's row.
            wait_for_waits(watch, 1, alive=lambda: agent.process.poll() is None)
            os.kill(agent.pid, signal.SIGTERM)
        assert agent.wait() == 143, agent.output()
    finally:
        agent.kill()
    output = agent.output()
    no_traceback_of_ours(output)
    assert "Stopped on SIGTERM; no run was left to requeue." in output
    assert "resumes them" not in output
    (run,) = localsweep.Api(postgres_db).sweep(sweep_id).runs
    assert run.state == "finished"


def test_a_role_made_nologin_mid_sweep_stops_the_agent_at_once_with_the_fix(
    tmp_path: Path, signals: Path, postgres_password_db: str, postgres_db: str
) -> None:
    sweep_id = localsweep.sweep(grid(2), db=postgres_password_db)
    agent = start_agent(
        sweep_id,
        postgres_password_db,
        tmp_path / "agent.log",
        function="faults_train:steps",
        # Long enough that retrying it as an outage would never end within the test.
        extra=["--store-timeout", "600"],
        env={"LOCALSWEEP_TEST_STEPS": "400"},
    )
    role = make_url(postgres_password_db).username
    try:
        wait_for(lambda: any(signals.glob("started-*")), "a run started", agents=[agent])
        admin = make_url(postgres_db)
        with psycopg.connect(
            host=admin.host, port=admin.port, user=admin.username, dbname="postgres",
            autocommit=True,
        ) as conn:  # fmt: skip
            conn.execute(f"ALTER ROLE {role} NOLOGIN")
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                (role,),
            )
        assert agent.wait(timeout=120) == 2, agent.output()
    finally:
        agent.kill()
    output = agent.output()
    assert "Traceback" not in output
    assert output.count("Error:") == 1, output
    assert f'role "{role}" is not permitted to log in' in output
    assert f"ALTER ROLE {role} LOGIN" in output
    assert "unreachable" not in output
    assert list(signals.glob("user-saw-*")) == []
