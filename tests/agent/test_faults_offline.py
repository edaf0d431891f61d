"""Nothing leaves the machine (issue 11, item 7): a sweep program that clears every
``WANDB_*`` variable before starting worker processes that call ``wandb.init`` still gets
offline runs, with and without a wandb login; the login points at an HTTP server of this
test's own on loopback, which must receive nothing."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from faults_support import PROGRAMS, grid, start_agent

import localsweep
from localsweep.wandb_bridge import workspace_settings_path

pytestmark = pytest.mark.slow


class _Recorder(http.server.BaseHTTPRequestHandler):
    requests: ClassVar[list[str]] = []

    def _any(self) -> None:
        type(self).requests.append(f"{self.command} {self.path}")
        self.send_response(500)
        self.end_headers()

    do_GET = do_POST = do_PUT = do_HEAD = _any

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[tuple[str, list[str]]]:
    """A W&B server stand-in on 127.0.0.1 (no real one can run here) that records every
    request it gets; yields its URL and the list."""
    _Recorder.requests = []
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", _Recorder.requests
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize(
    ("logged_in", "elsewhere"),
    [(False, False), (True, False), (True, True)],
    ids=["no-login", "login", "login-other-cwd"],
)
def test_workers_that_clear_the_wandb_variables_stay_offline(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    server: tuple[str, list[str]],
    logged_in: bool,
    elsewhere: bool,
) -> None:
    """``elsewhere``: the workers run in another folder (``cwd=``), where no workspace
    settings file of localsweep's is: the ``wandb.init`` of localsweep's sitecustomize (on
    the ``PYTHONPATH`` they keep) holds them offline."""
    url, requests = server
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("WANDB_CONFIG_DIR", "WANDB_API_KEY", "WANDB_BASE_URL", "NETRC"):
        monkeypatch.delenv(name, raising=False)
    if logged_in:
        # What `wandb login --host URL` leaves: the host in the global settings, a key in netrc.
        settings = home / ".config" / "wandb" / "settings"
        settings.parent.mkdir(parents=True)
        settings.write_text(f"[default]\nbase_url = {url}\n")
        netrc = home / ".netrc"
        host = url.removeprefix("http://")
        netrc.write_text(f"machine {host}\n  login user\n  password {'k' * 40}\n")
        netrc.chmod(0o600)
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(grid(1, program=str(PROGRAMS / "env_clearing.py")), db=db)

    env = {}
    if elsewhere:
        (tmp_path / "other").mkdir()
        env["FOLD_CWD"] = str(tmp_path / "other")
    agent = start_agent(sweep_id, db, tmp_path / "agent.log", env=env)
    assert agent.wait() == 0, agent.output()

    assert requests == []
    errors = {p.name: p.read_text() for p in tmp_path.glob("fold-*.error")}
    assert errors == {}
    assert [p.read_text() for p in sorted(tmp_path.glob("fold-*.mode"))] == ["offline"] * 2
    (run,) = localsweep.Api(db).sweep(sweep_id).runs
    assert run.state == "finished"
    # The way it holds: wandb's workspace settings file, as `wandb offline` writes it.
    assert "mode = offline" in workspace_settings_path(tmp_path).read_text()


def test_a_program_setting_wandb_mode_online_itself_sends_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: tuple[str, list[str]]
) -> None:
    """``os.environ["WANDB_MODE"] = "online"`` in the program before ``wandb.init()``, with a
    login, and ``wandb.login()``: the run is offline and wandb sends nothing, not the key
    check of ``wandb.login()``, nor its own telemetry."""
    url, requests = server
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("WANDB_CONFIG_DIR", "NETRC", "WANDB_MODE", "WANDB_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    env = {"WANDB_API_KEY": "k" * 40, "WANDB_BASE_URL": url, "SET_MODE": "online", "LOGIN": "1"}
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(grid(1, program=str(PROGRAMS / "env_online.py")), db=db)
    agent = start_agent(sweep_id, db, tmp_path / "agent.log", env=env)
    assert agent.wait() == 0, agent.output()
    assert requests == []
    assert (tmp_path / "mode-0.txt").read_text() == "offline"
    (run,) = localsweep.Api(db).sweep(sweep_id).runs
    assert (run.state, run.summary.get("loss")) == ("finished", 0.0)
