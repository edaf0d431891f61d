"""A password changed mid-sweep: the server turns the agent's next connection away. That
cannot recover by waiting, so the agent stops at once with the fix (exit 2, as for a wrong
password at start), and the store's error never shows as the user's run failing."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from faults_support import grid, start_agent, wait_for
from sqlalchemy.engine import make_url

import localsweep

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_a_password_changed_mid_sweep_stops_the_agent_with_the_fix(
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
    try:
        wait_for(lambda: any(signals.glob("started-*")), "a run started", agents=[agent])
        role = make_url(postgres_password_db).username
        admin = make_url(postgres_db)
        with psycopg.connect(
            host=admin.host, port=admin.port, user=admin.username, dbname="postgres",
            autocommit=True,
        ) as conn:  # fmt: skip
            conn.execute(f"ALTER ROLE {role} PASSWORD 'rotated'")
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
    assert "password authentication failed" in output
    assert "Check the user and password in the URL" in output
    assert "pick-a-password" not in output
    assert list(signals.glob("user-saw-*")) == []
