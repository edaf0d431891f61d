"""A short database outage (issue 11, item 5): PostgreSQL stopped for about 8 s under two
agents and started again. Runs keep training, their rows wait in memory and are written when
the database is back, and every point finishes once; past ``--store-timeout`` the agent stops
with one clear message instead."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from faults_support import grid, start_agent, wait_for

import localsweep
from localsweep.store import Store

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


class PrivateServer:
    """A PostgreSQL server of this test's own, so it can be stopped and started."""

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not found:
            pytest.skip("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin")
        self.bin = Path(found[-1]).parent
        self.base = Path(tempfile.mkdtemp(prefix="localsweep-pg-outage-"))
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.base, user="postgres", group="postgres")
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self._pg("initdb", "-D", str(self.base / "data"), "-U", "localsweep", "--auth=trust")
        self.start()
        self.url = f"postgresql+psycopg://localsweep@127.0.0.1:{self.port}/postgres"

    def _pg(self, tool: str, *args: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if self.as_root else []
        subprocess.run(
            [*prefix, str(self.bin / tool), *args], capture_output=True, check=True, timeout=120
        )

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.base} -c fsync=off"
        data, log = str(self.base / "data"), str(self.base / "server.log")
        self._pg("pg_ctl", "-D", data, "-l", log, "-o", options, "-w", "start")

    def stop(self) -> None:
        self._pg("pg_ctl", "-D", str(self.base / "data"), "-m", "fast", "-w", "stop")

    def remove(self) -> None:
        subprocess.run(
            [*(["runuser", "-u", "postgres", "--"] if self.as_root else []),
             str(self.bin / "pg_ctl"), "-D", str(self.base / "data"), "-m", "immediate", "stop"],
            capture_output=True,
            check=False,
        )  # fmt: skip
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture
def server() -> Iterator[PrivateServer]:
    pg = PrivateServer()
    try:
        yield pg
    finally:
        pg.remove()


def test_agents_ride_out_a_database_restart(
    tmp_path: Path, signals: Path, server: PrivateServer
) -> None:
    sweep_id = localsweep.sweep(grid(4), db=server.url)
    env = {"LOCALSWEEP_TEST_STEPS": "40"}
    agents = [
        start_agent(
            sweep_id,
            server.url,
            tmp_path / f"agent-{i}.log",
            function="faults_train:steps",
            env=env,
        )
        for i in range(2)
    ]
    try:
        wait_for(
            lambda: len(list(signals.glob("started-*"))) == 2, "both agents run", agents=agents
        )
        server.stop()
        time.sleep(8)
        server.start()
        for agent in agents:
            assert agent.wait() == 0, agent.output()
    finally:
        for agent in agents:
            agent.kill()
    for agent in agents:
        assert "Traceback" not in agent.output()
    store = Store(server.url)
    runs = store.list_runs(sweep_id)
    assert sorted(r.config["x"] for r in runs if r.state.value == "finished") == [0, 1, 2, 3]
    assert "running" not in [r.state.value for r in runs]
    # Rows logged while the database was down were kept and written when it came back.
    for run in runs:
        if run.state.value == "finished":
            assert len(store.history(run.id)) == 40
    store.close()


def test_past_the_store_timeout_the_agent_stops_with_one_message(
    tmp_path: Path, signals: Path, server: PrivateServer
) -> None:
    sweep_id = localsweep.sweep(grid(2), db=server.url)
    agent = start_agent(
        sweep_id,
        server.url,
        tmp_path / "agent.log",
        function="faults_train:steps",
        extra=["--store-timeout", "4"],
        env={"LOCALSWEEP_TEST_STEPS": "40"},
    )
    try:
        wait_for(lambda: any(signals.glob("started-*")), "a run started", agents=[agent])
        server.stop()
        assert agent.wait(timeout=120) == 1, agent.output()
    finally:
        agent.kill()
    output = agent.output()
    assert "Traceback" not in output
    assert output.count("Error:") == 1, output
    assert list(signals.glob("user-saw-*")) == []
