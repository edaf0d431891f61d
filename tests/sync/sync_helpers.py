"""What the sync tests share: the copy of the finished sweeps a test works on, the
stand-in server (``tests/helpers/wandb_standin.py``), and small helpers."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "helpers"))

from wandb_standin import StandinServer

__all__ = ["CHILD_TIMEOUT", "ROWS", "Site", "StandinServer", "run_cli", "tree_digest"]

#: Rows each run of the finished sweeps logs.
ROWS = 25
#: A guard against a hung child, not a timing.
CHILD_TIMEOUT = 300.0


@dataclass(frozen=True)
class Site:
    """A copy of the finished sweeps: ``root`` (the working directory, with
    ``localsweep.db`` and ``wandb/``), the in-process sweep ``sweep_id`` with its
    ``run_ids``, the program-mode sweep ``program_sweep_id``, and ``prior_sweep_id``, a
    sweep with three prior runs: ``prior_ids`` (a hand-run training, then a run of the
    in-process sweep, as W&B ids) and a row of ``runs.csv`` (``tbl1``)."""

    root: Path
    sweep_id: str
    run_ids: tuple[str, ...]
    program_sweep_id: str
    prior_sweep_id: str
    prior_ids: tuple[str, ...]

    @property
    def db(self) -> Path:
        return self.root / "localsweep.db"

    def run_folder(self, run_id: str) -> Path:
        [folder] = (self.root / "wandb").glob(f"offline-run-*-{run_id}")
        return folder


def tree_digest(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` and the SHA-256 of its bytes."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def run_cli(*args: str, timeout: float = CHILD_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """``localsweep ARGS`` in a child process, in the current environment."""
    return subprocess.run(
        [sys.executable, "-m", "localsweep.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
