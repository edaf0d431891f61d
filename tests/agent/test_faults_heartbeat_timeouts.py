"""Two agents of one sweep with different heartbeat timeouts: an agent with
``LOCALSWEEP_HEARTBEAT_TIMEOUT=1`` (it beats four times a second) claims runs beside an
agent with the default timeout (120 s: it beats every 30 s). Each run is judged by the
timeout of the agent holding it, so the quick agent never takes the default agent's live
run for dead; it used to reap it at its first claim, and the run trained to its end for
nothing ("another agent took it for dead"). Real agent processes, SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from faults_support import grid, no_traceback_of_ours, start_agent, wait_for

import localsweep

pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "shared.db")
    else:
        yield request.getfixturevalue("postgres_db")


def test_an_agent_with_a_short_timeout_never_reaps_a_default_agents_live_run(
    db: str, tmp_path: Path, signals: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LOCALSWEEP_HEARTBEAT_TIMEOUT", raising=False)
    sweep_id = localsweep.sweep(grid(4), db=db)
    patient = start_agent(
        sweep_id,
        db,
        tmp_path / "patient.log",
        function="faults_train:until_released",
        extra=["--count", "1"],
    )
    agents = [patient]
    try:
        wait_for(
            lambda: any(signals.glob(f"started-{patient.pid}-*")),
            "the default agent started its run",
            agents=agents,
        )
        quick = start_agent(
            sweep_id,
            db,
            tmp_path / "quick.log",
            function="faults_train:steps",
            extra=["--count", "3"],
            env={"LOCALSWEEP_HEARTBEAT_TIMEOUT": "1", "LOCALSWEEP_TEST_STEPS": "3"},
        )
        agents.append(quick)
        # Three claims (each one looks for dead agents' runs) while the default agent's
        # run trains on without a beat for far longer than 1 s.
        assert quick.wait() == 0, quick.output()
        (signals / "release").touch()
        assert patient.wait() == 0, patient.output()
    finally:
        for agent in agents:
            agent.kill()
    for agent in agents:
        no_traceback_of_ours(agent.output())
    assert "took it for dead" not in patient.output()
    assert "marked" not in quick.output()
    runs = localsweep.Api(db).sweep(sweep_id).runs
    assert sorted((r.config["x"], r.state) for r in runs) == [(x, "finished") for x in range(4)]
