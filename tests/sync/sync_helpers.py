"""What the sync tests share: the copy of the finished sweeps a test works on, the
stand-in server (``tests/helpers/wandb_standin.py``), and small helpers."""

from __future__ import annotations

import glob
import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "helpers"))

from wandb_standin import StandinServer

__all__ = [
    "CHILD_TIMEOUT",
    "ROWS",
    "Site",
    "StandinServer",
    "interrupt_sync",
    "run_cli",
    "tree_digest",
]

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


def interrupt_sync(
    server: StandinServer, sweep_id: str, staging: Path, run_ids: Sequence[str]
) -> tuple[set[str], set[str]]:
    """``localsweep sync SWEEP_ID -e team -n 1`` with each file upload held a second, and
    Ctrl-C to its whole process group (as a terminal sends it) once wandb sync has
    finished one of ``run_ids``: its ``.synced`` marker beside the staged copy under
    ``staging``, what sync itself goes by. Checks that the sync stopped midway, saying
    so, and returns the runs it recorded as uploaded (their staged copies are removed
    then), and those the server completed before wandb sync wrote their markers, which
    the next sync cannot tell from runs cut short and sends again (docs/sync.md)."""

    def marked(pattern: str) -> set[str]:
        # The copies are staged in the target's folder under the state folder (prior runs'
        # a level below). glob.glob, not a recursive Path walk: wandb sync makes and removes
        # folders inside a copy (its tmp/) while this looks, and sync removes copies it
        # has uploaded; glob.glob passes over a folder gone meanwhile.
        depths = ("", "*/", "*/*/")
        return {
            r
            for r in run_ids
            if any(glob.glob(os.path.join(staging, f"{d}*-{r}", pattern)) for d in depths)
        }

    server.upload_delay = 1.0
    proc = subprocess.Popen(
        [sys.executable, "-m", "localsweep.cli", "sync", sweep_id, "-e", "team", "-n", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.monotonic() + CHILD_TIMEOUT
    while not marked("*.wandb.synced") and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGINT)
    _out, err = proc.communicate(timeout=CHILD_TIMEOUT)
    server.upload_delay = 0.0
    assert "Traceback" not in err, err
    assert "Interrupted" in err and proc.returncode == 130, err  # stopped midway
    recorded = set(run_ids) - marked("*.wandb")
    assert recorded, err  # at least the run it waited for
    return recorded, server.uploaded_runs() - recorded
