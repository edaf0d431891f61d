"""Fixtures shared by every test: an isolated, offline wandb and a real PostgreSQL server.

Every test runs in its own temporary working directory with wandb offline, silent and
writing under that directory, and without a ``LOCALSWEEP_DB`` from the caller's shell.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest


def _drop_wandb() -> None:
    """End this process's wandb (its service and settings), if it has one, and forget the
    service's address: wandb reads its settings (WANDB_DIR among them) once per process, and
    a later ``wandb.setup`` must neither reuse them nor dial the stopped service."""
    if "wandb" in sys.modules:
        from wandb.sdk import wandb_setup

        if wandb_setup._singleton is not None:
            import wandb

            wandb.teardown()
    os.environ.pop("WANDB_SERVICE", None)


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # A wandb left by a fixture of wider scope would write this test's runs elsewhere.
    _drop_wandb()
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DISABLE_GIT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.delenv("LOCALSWEEP_DB", raising=False)
    monkeypatch.chdir(tmp_path)
    yield
    _drop_wandb()


@pytest.fixture(autouse=True)
def _no_start_hold(monkeypatch: pytest.MonkeyPatch) -> None:
    """A store of this process judges stale heartbeats from its first claim: tests open a
    store and claim at once. The hold (an agent's first 2 s) is tested with its real value
    in tests/store/test_outage_hold.py; agents the tests start as processes keep it."""
    from localsweep.store import _reaper

    monkeypatch.setattr(_reaper, "START_HOLD", 0.0)


# --------------------------------------------------------------------------- PostgreSQL


def _postgres_bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A real PostgreSQL server on 127.0.0.1 (a random free port, a throwaway data dir) with
    an empty database; yields its SQLAlchemy URL and stops the server at the end."""
    bin_dir = _postgres_bin_dir()
    if bin_dir is None:
        pytest.skip(
            "no PostgreSQL server binaries in /usr/lib/postgresql/*/bin: apt-get install postgresql"
        )
    as_root = os.geteuid() == 0
    # initdb and pg_ctl refuse to run as root: run them as the postgres system user, in a
    # directory it owns (pytest's own tmp dirs are private to root).
    base = Path(tempfile.mkdtemp(prefix="localsweep-pg-"))
    data, log = base / "data", base / "server.log"
    if as_root:
        shutil.chown(base, user="postgres", group="postgres")
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []

    def pg(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*prefix, *args], capture_output=True, text=True, check=True, timeout=120
        )

    user = "localsweep"
    pg(str(bin_dir / "initdb"), "-D", str(data), "-U", user, "--auth=trust", "-E", "UTF8")
    port = _free_port()
    options = f"-p {port} -c listen_addresses=127.0.0.1 -k {base} -c fsync=off"
    pg(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start")
    try:
        import psycopg

        database = f"test_{uuid.uuid4().hex[:8]}"
        deadline = time.monotonic() + 60
        while True:
            try:
                with psycopg.connect(
                    host="127.0.0.1", port=port, user=user, dbname="postgres", autocommit=True
                ) as conn:
                    conn.execute(f'CREATE DATABASE "{database}"')
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield f"postgresql+psycopg://{user}@127.0.0.1:{port}/{database}"
    finally:
        pg(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgres_db(postgres_url: str) -> str:
    """A fresh empty database on the session's PostgreSQL server, for one test; its URL."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(postgres_url)
    name = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(
        host=url.host, port=url.port, user=url.username, dbname=url.database, autocommit=True
    ) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.set(database=name).render_as_string(hide_password=False)


@pytest.fixture
def postgres_password_db(postgres_db: str) -> str:
    """A fresh database owned by a role that logs in with a password, as docs/cluster.md
    sets one up; its URL with the password in it (``pick-a-password``). The session's
    server trusts its own user; a line at the top of its pg_hba.conf makes this role
    (and only it) give a password over TCP."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(postgres_db)
    role = f"sweeper_{uuid.uuid4().hex[:8]}"
    admin = {"host": url.host, "port": url.port, "user": url.username, "autocommit": True}
    with psycopg.connect(**admin, dbname=url.database) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'pick-a-password'")
        conn.execute(f'ALTER DATABASE "{url.database}" OWNER TO {role}')
        conn.execute(f"ALTER SCHEMA public OWNER TO {role}")
        hba = Path(str(conn.execute("SHOW hba_file").fetchone()[0]))  # type: ignore[index]
        hba.write_text(f"host all {role} 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
        conn.execute("SELECT pg_reload_conf()")
    return url.set(username=role, password="pick-a-password").render_as_string(hide_password=False)
