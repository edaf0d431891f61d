"""wandb's workspace settings file keeps every process offline, and the reader sees a run's
``mark_preempting()`` (both used by the agent for issue 11)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from localsweep.wandb_bridge import keep_offline, read_run_file, workspace_settings_path


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}


def test_a_process_without_wandb_variables_reads_offline_from_the_workspace_file(
    tmp_path: Path,
) -> None:
    settings = tmp_path / "wandb" / "settings"
    settings.parent.mkdir()
    settings.write_text("[default]\nproject = mine\nmode = online\n")
    assert keep_offline([tmp_path]) == [settings]
    assert keep_offline([tmp_path]) == []  # already offline: left alone
    text = settings.read_text()
    assert "mode = offline" in text and "project = mine" in text
    probe = "import wandb; s = wandb.setup().settings; print(s.mode, s.project)"
    out = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert out.stdout.split()[-2:] == ["offline", "mine"]


def test_a_dot_wandb_folder_gets_the_file_wandb_reads(tmp_path: Path) -> None:
    (tmp_path / ".wandb").mkdir()
    assert workspace_settings_path(tmp_path) == tmp_path / ".wandb" / "settings"
    keep_offline([tmp_path])
    assert "mode = offline" in (tmp_path / ".wandb" / "settings").read_text()


def test_the_reader_sees_mark_preempting(tmp_path: Path) -> None:
    program = (
        "import wandb\n"
        "run = wandb.init(project='p', mode='offline')\n"
        "run.log({'a': 1})\n"
        "run.mark_preempting()\n"
        "run.finish(exit_code=1)\n"
    )
    env = dict(_clean_env(), WANDB_SILENT="true", WANDB_DIR=str(tmp_path))
    subprocess.run([sys.executable, "-c", program], cwd=tmp_path, env=env, timeout=120, check=True)
    (path,) = tmp_path.glob("wandb/offline-run-*/run-*.wandb")
    summary = read_run_file(path)
    assert summary.preempting and summary.exit_code == 1 and len(summary.history) == 1
