"""``localsweep ui`` on a port another program holds: one error at once, before it says
where to open it (that address serves the other program's pages)."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

import localsweep

pytest.importorskip("uvicorn")


def test_a_taken_port_is_an_error_before_any_address_is_given(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    localsweep.sweep({"method": "grid", "parameters": {"x": {"values": [1]}}}, db=db)
    with socket.socket() as other:  # another `localsweep ui`, or anything else
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "localsweep", "ui", "--db", db, "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 1, done.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "choose a free port with --port" in done.stderr
    assert "open http" not in done.stderr and "Traceback" not in done.stderr
