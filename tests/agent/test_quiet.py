"""``localsweep.run(..., quiet=True)`` as docs/python-api.md describes it: no progress and no
never-logged-metric warning on stderr (the warning is logged at INFO, for logging set up to
show it); a failed run's traceback is still shown, once, as ``wandb.agent`` shows it: a
failure must not go unseen. Each case is a real Python process, as a user runs it (pytest's
own log capture would hide what the process prints)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SCRIPT = """
import logging, sys
import wandb
import localsweep

if "--log" in sys.argv:
    logging.basicConfig(level=logging.INFO)

def train():
    with wandb.init() as run:
        run.log({"val_loss": float(run.config["x"])})

def broken():
    if "--with" in sys.argv:
        with wandb.init():
            raise RuntimeError("broken on purpose")
    wandb.init()
    raise RuntimeError("broken on purpose")

config = {"method": "grid", "metric": {"name": "valid_loss"},
          "parameters": {"x": {"values": [1, 2]}}}
localsweep.run(config, broken if "--broken" in sys.argv else train, db="s.db", quiet=True)
"""


def _run(tmp_path: Path, *args: str) -> str:
    (tmp_path / "script.py").write_text(textwrap.dedent(SCRIPT))
    done = subprocess.run(
        [sys.executable, "script.py", *args],
        cwd=tmp_path,
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def test_quiet_prints_no_progress_and_no_never_logged_warning(tmp_path: Path) -> None:
    out = _run(tmp_path)
    assert "never logged" not in out, out
    assert "[localsweep]" not in out, out


def test_quiet_still_logs_the_warning_for_logging_that_shows_info(tmp_path: Path) -> None:
    out = _run(tmp_path, "--log")
    assert out.count("'valid_loss' was never logged") == 1, out


@pytest.mark.parametrize("how", ["--plain", "--with"])
def test_quiet_still_shows_each_failed_runs_traceback_once(tmp_path: Path, how: str) -> None:
    out = _run(tmp_path, "--broken", how)
    assert out.count("RuntimeError: broken on purpose") == 2, out
    assert "[localsweep]" not in out, out
