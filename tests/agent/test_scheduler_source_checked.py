"""A ``scheduler.source`` that names no file is refused when the config is checked or the
sweep made (``validate``, ``sweep``, :func:`localsweep.sweep`), as an agent refuses it:
not only later, by every agent of a sweep that was made anyway. A valid one's
``search_space`` is named by ``validate`` instead of an empty parameter table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import localsweep
from localsweep.errors import ConfigError
from localsweep.store import Store


def write_config(folder: Path, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "method": "custom",
        "metric": {"name": "loss", "goal": "minimize"},
        "scheduler": {"engine": "optuna", "source": source, "search_space": "space"},
    }
    path = folder / "opt.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def cli(cwd: Path, db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, WANDB_MODE="offline", WANDB_SILENT="true")
    return subprocess.run(
        [sys.executable, "-m", "localsweep", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def sweep_ids(db: Path) -> list[str]:
    if not db.exists():
        return []
    store = Store(db)
    try:
        return [s.id for s in store.list_sweeps()]
    finally:
        store.close()


@pytest.mark.parametrize("command", ["validate", "sweep"])
def test_the_cli_refuses_a_source_file_that_is_not_there(tmp_path: Path, command: str) -> None:
    # The config is in another folder than the working directory: the path looked at is
    # the one next to the config file, where an agent would look.
    path = write_config(tmp_path / "conf", "nosuch.py")
    db = tmp_path / "s.db"
    args = [command, str(path)] + (["--db", str(db)] if command == "sweep" else [])
    proc = cli(tmp_path, db, *args)
    assert proc.returncode == 2, proc.stderr
    assert "scheduler.source" in proc.stderr
    assert str(tmp_path / "conf" / "nosuch.py") in proc.stderr.replace("\n", "")
    assert "valid" not in proc.stdout
    assert sweep_ids(db) == []


def test_validate_takes_a_source_next_to_the_config_and_names_its_space(tmp_path: Path) -> None:
    path = write_config(tmp_path / "conf", "study.py")
    (tmp_path / "conf" / "study.py").write_text(
        "def space(trial):\n    return {'x': trial.suggest_float('x', 0, 1)}\n", encoding="utf-8"
    )
    proc = cli(tmp_path, tmp_path / "s.db", "validate", str(path))
    assert proc.returncode == 0, proc.stderr
    assert "valid" in proc.stdout
    # No empty parameter table: the space is the search_space function.
    assert "parameters come from scheduler.search_space (study.py:space)" in proc.stdout
    assert "distribution" not in proc.stdout


def test_localsweep_sweep_refuses_it_before_making_the_sweep(tmp_path: Path) -> None:
    path = write_config(tmp_path / "conf", "nosuch.py")
    db = tmp_path / "s.db"
    with pytest.raises(ConfigError) as info:
        localsweep.sweep(path, db=str(db))
    (v,) = info.value.violations
    assert v.path == "scheduler.source"
    assert str(tmp_path / "conf" / "nosuch.py") in v.message
    assert sweep_ids(db) == []
