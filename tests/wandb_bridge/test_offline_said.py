"""The agent's ``mode = offline`` in wandb's workspace settings file outlives the sweep, so
localsweep says so when it writes it, once, on stderr: what, why, and how to undo it."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from localsweep.wandb_bridge import keep_offline


def _clean_env(folder: Path) -> dict[str, str]:
    """No WANDB_* variable, and a global wandb settings folder of the test's own (which
    `wandb online` edits too)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env["WANDB_CONFIG_DIR"] = str(folder / "wandb-config")
    return env


def _wandb_mode(folder: Path) -> str:
    """The mode a plain wandb program started in ``folder`` gets."""
    probe = "import wandb; print(wandb.setup().settings.mode)"
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=folder,
        env=_clean_env(folder),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return out.stdout.split()[-1]


def test_writing_the_file_is_said_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        keep_offline([tmp_path])
        keep_offline([tmp_path])  # already offline: nothing to say
    [record] = caplog.records
    said = record.getMessage()
    assert (
        f"wrote `mode = offline` to wandb's settings file {tmp_path / 'wandb' / 'settings'}" in said
    )
    assert "even one that clears WANDB_MODE" in said
    assert f"run `wandb online` in {tmp_path}" in said


def test_changing_the_mode_says_what_it_was(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = tmp_path / "wandb" / "settings"
    settings.parent.mkdir()
    settings.write_text("[default]\nmode = online\n")
    with caplog.at_level(logging.WARNING):
        keep_offline([tmp_path])
    [record] = caplog.records
    assert "changed `mode = online` to `mode = offline`" in record.getMessage()


def test_a_file_already_offline_is_not_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = tmp_path / "wandb" / "settings"
    settings.parent.mkdir()
    settings.write_text("[default]\nmode = offline\n")
    with caplog.at_level(logging.WARNING):
        assert keep_offline([tmp_path]) == []
    assert caplog.records == []


@pytest.mark.slow
def test_the_first_sweep_in_a_folder_says_it_and_wandb_online_undoes_it(
    tmp_path: Path,
) -> None:
    """`localsweep run` in a fresh folder: stderr says it once (two runs), the next sweep
    there says nothing, and the undo it names works."""
    (tmp_path / "fn.py").write_text("def train(config):\n    return {'loss': config['x']}\n")
    (tmp_path / "grid.yaml").write_text(
        "method: grid\nmetric: {name: loss}\nparameters:\n  x: {values: [1, 2]}\n"
    )
    env = dict(_clean_env(tmp_path), WANDB_SILENT="true", WANDB_DISABLE_GIT="true")
    argv = [sys.executable, "-m", "localsweep", "run", "grid.yaml", "-f", "fn:train"]
    argv += ["--db", "s.db"]

    def sweep() -> str:
        ran = subprocess.run(
            argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
        )
        assert ran.returncode == 0, ran.stderr
        return " ".join(ran.stderr.split())  # the terminal may fold the line

    said = sweep()
    assert said.count("wrote `mode = offline` to wandb's settings file") == 1, said
    assert "run `wandb online` in" in said
    assert _wandb_mode(tmp_path) == "offline"  # what it says: later plain runs too
    assert "settings file" not in sweep()

    subprocess.run(
        [sys.executable, "-m", "wandb", "online"],
        cwd=tmp_path,
        env=_clean_env(tmp_path),
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert _wandb_mode(tmp_path) == "online"


def test_a_folder_it_cannot_write_is_said_with_what_it_leaves_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A container's read-only code folder beside a writable WANDB_DIR: the warning said
    # only "cannot write wandb's settings file", which read like a failure of the sweep.
    code, data = tmp_path / "code", tmp_path / "data"
    code.mkdir()
    data.mkdir()
    (code / "wandb").write_text("")  # the file's folder cannot be made (as read-only)
    with caplog.at_level(logging.WARNING, logger="localsweep.wandb_bridge._offline"):
        written = keep_offline([code, data])
    assert written == [data.resolve() / "wandb" / "settings"]
    said = [r.getMessage() for r in caplog.records if "could not write" in r.getMessage()]
    assert len(said) == 1
    assert str(code.resolve() / "wandb" / "settings") in said[0]
    assert "Runs stay offline all the same" in said[0]
    assert "make that folder writable or start the agent from a writable folder" in said[0]
