"""Several agent processes on one sweep, on a SQLite file and on a real PostgreSQL server:
every grid point runs once, run_cap holds across agents, and a killed agent's run is marked
crashed and run again."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import localsweep

HELPERS = Path(__file__).parents[1] / "helpers"
# Generous: three agents importing wandb at once on two busy cores take a while, and a
# hung agent must fail the test rather than hang the suite.
AGENT_TIMEOUT = 240

pytestmark = pytest.mark.slow


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The database the agents share: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield str(tmp_path / "shared.db")
    else:
        yield request.getfixturevalue("postgres_db")


def _start_agent(sweep_id: str, function: str, db: str, log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HELPERS), env.get("PYTHONPATH", "")])
    with log.open("wb") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "localsweep.cli",
                "agent",
                sweep_id,
                "--function",
                f"sweep_train:{function}",
                "--db",
                db,
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _run_agents(sweep_id: str, function: str, db: str, tmp_path: Path, n: int = 3) -> None:
    logs = [tmp_path / f"agent-{i}.log" for i in range(n)]
    procs = [_start_agent(sweep_id, function, db, log) for log in logs]
    try:
        for proc in procs:
            proc.wait(timeout=AGENT_TIMEOUT)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for proc, log in zip(procs, logs, strict=True):
        assert proc.returncode == 0, log.read_text()


def _grid(n: int) -> dict[str, Any]:
    return {
        "method": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"x": {"values": list(range(n))}},
    }


def test_three_agent_processes_run_every_grid_point_exactly_once(db: str, tmp_path: Path) -> None:
    sweep_id = localsweep.sweep(_grid(30), db=db)
    _run_agents(sweep_id, "train", db, tmp_path)
    sweep = localsweep.Api(db).sweep(sweep_id)
    runs = sweep.runs
    assert sorted(r.config["x"] for r in runs) == list(range(30))
    assert [r.state for r in runs] == ["finished"] * 30
    assert sorted(r.metric for r in runs if r.metric is not None) == [float(x) for x in range(30)]
    assert (sweep.state, sweep.finished_reason) == ("FINISHED", "exhausted")


def test_run_cap_holds_across_agent_processes(db: str, tmp_path: Path) -> None:
    config = {
        "method": "random",
        "run_cap": 7,
        "metric": {"name": "loss"},
        "parameters": {"x": {"min": 0.0, "max": 1.0}},
    }
    sweep_id = localsweep.sweep(config, db=db)
    _run_agents(sweep_id, "quick", db, tmp_path)
    sweep = localsweep.Api(db).sweep(sweep_id)
    assert len([r for r in sweep.runs if r.state != "crashed"]) == 7
    assert len(sweep.runs) == 7
    assert (sweep.state, sweep.finished_reason) == ("FINISHED", "run_cap")


def test_a_killed_agents_run_is_crashed_and_its_grid_point_run_again(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    signals = tmp_path / "signals"
    signals.mkdir()
    monkeypatch.setenv("LOCALSWEEP_TEST_SIGNALS", str(signals))
    sweep_id = localsweep.sweep(_grid(3), db=db)
    victim = _start_agent(sweep_id, "blocking", db, tmp_path / "victim.log")
    try:
        deadline = time.monotonic() + AGENT_TIMEOUT
        while not (signals / "started-0").exists():
            assert victim.poll() is None, (tmp_path / "victim.log").read_text()
            assert time.monotonic() < deadline, "the agent never started its first run"
            time.sleep(0.05)
        os.kill(victim.pid, signal.SIGKILL)
    finally:
        # Reap it: an unreaped (zombie) pid still looks alive to the next agent.
        if victim.poll() is None:
            victim.wait(timeout=60)
    assert victim.returncode == -signal.SIGKILL
    api = localsweep.Api(db)
    (orphan,) = api.sweep(sweep_id).runs
    assert orphan.state == "running"

    (signals / "release").touch()
    _run_agents(sweep_id, "blocking", db, tmp_path, n=1)

    sweep = localsweep.Api(db).sweep(sweep_id)
    runs = sweep.runs
    assert runs[0].id == orphan.id
    assert (runs[0].state, runs[0].end_reason) == ("crashed", "agent_died")
    assert "died" in (runs[0].error or "")
    assert [(r.config["x"], r.state) for r in runs[1:]] == [
        (0, "finished"),
        (1, "finished"),
        (2, "finished"),
    ]
    assert (sweep.state, sweep.finished_reason) == ("FINISHED", "exhausted")
    if not db.startswith("postgresql"):
        with sqlite3.connect(db) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
