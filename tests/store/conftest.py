"""Helpers for the store tests: a store on every backend, configs, and claims made through
the real search, as an agent makes them."""

from __future__ import annotations

import contextlib
import glob
import os
import random
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from localsweep.config import SweepConfig, parse_config
from localsweep.records import Proposal, RunView
from localsweep.search import make_search
from localsweep.store import AgentInfo, Claim, Store
from localsweep.store._engine import resolve_url


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.slow]),
    ]
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An empty store: a SQLite file, and a fresh database on a real PostgreSQL server."""
    if request.param == "sqlite":
        url = str(tmp_path / "sweeps.db")
    else:
        url = request.getfixturevalue("postgres_db")
    s = Store(url)
    yield s
    s.close()


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.slow]),
    ]
)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database URL: a SQLite file, and a fresh database on a real PostgreSQL server."""
    if request.param == "sqlite":
        return resolve_url(tmp_path / "sweeps.db")
    return str(request.getfixturevalue("postgres_db"))


def _grid(n: int = 3, **top: Any) -> SweepConfig:
    raw: dict[str, Any] = {
        "method": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"x": {"values": list(range(n))}},
    }
    raw.update(top)
    return parse_config(raw)


def _random(**top: Any) -> SweepConfig:
    raw: dict[str, Any] = {
        "method": "random",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"x": {"min": 0.0, "max": 1.0}},
    }
    raw.update(top)
    return parse_config(raw)


@pytest.fixture
def grid() -> Callable[..., SweepConfig]:
    """``grid(n, **top)``: a grid over ``x`` in ``0..n-1``, metric ``loss`` minimized."""
    return _grid


@pytest.fixture
def random_sweep() -> Callable[..., SweepConfig]:
    """``random_sweep(**top)``: random ``x`` in [0, 1], metric ``loss`` minimized."""
    return _random


def _claim(store: Store, sweep_id: str, agent: AgentInfo | None = None) -> Claim:
    config = store.get_sweep(sweep_id).config
    search = make_search(config)

    def propose(runs: Sequence[RunView], number: int) -> Proposal | None:
        return search.propose(runs, random.Random(number))

    return store.claim_run(sweep_id, agent or AgentInfo.current(), propose, nest=config.nest)


@pytest.fixture
def claim() -> Callable[..., Claim]:
    """``claim(store, sweep_id, agent=None)``: claim the next run through the real search."""
    return _claim


class PrivatePostgres:
    """A PostgreSQL server of one test's own, which the test may stop and start again."""

    def __init__(self, base: Path, bin_dir: Path, port: int):
        self.base, self.bin_dir, self.port = base, bin_dir, port
        self.data = base / "data"
        self.url = f"postgresql+psycopg://localsweep@127.0.0.1:{port}/postgres"

    def _pg(self, *args: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *args], capture_output=True, text=True, check=True, timeout=120)

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.base} -c fsync=off"
        self._pg(
            str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.base / "log"),
            "-o", options, "-w", "start",
        )  # fmt: skip

    def stop(self) -> None:
        """Stop the server now, dropping every connection (as a restart or crash does)."""
        self._pg(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A throwaway PostgreSQL server for this test alone (it can be stopped and restarted)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.skip("no PostgreSQL server binaries: apt-get install postgresql")
    bin_dir = Path(found[-1]).parent
    base = Path(tempfile.mkdtemp(prefix="localsweep-pg-private-"))
    if os.geteuid() == 0:
        shutil.chown(base, user="postgres", group="postgres")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = PrivatePostgres(base, bin_dir, port)
    server._pg(
        str(bin_dir / "initdb"), "-D", str(server.data), "-U", "localsweep", "--auth=trust",
        "-E", "UTF8",
    )  # fmt: skip
    server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):  # already stopped
            server._pg(str(bin_dir / "pg_ctl"), "-D", str(server.data), "-m", "immediate", "stop")
        shutil.rmtree(base, ignore_errors=True)
