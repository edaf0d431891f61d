"""Training functions for ``--isolation process`` runs whose own store connection fails
while the agent's does not (``localsweep agent SWEEP --function store_child:NAME``, with this
folder on PYTHONPATH).

Any exception the user's code sees from ``wandb.log`` is written to
``$LOCALSWEEP_TEST_SIGNALS/user-saw-<run id>``: a store error must never reach it.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path

import wandb


def no_file_writes() -> None:
    """Logs ``loss`` with this process's file-size limit at 0 (``ulimit -f 0``) after its
    first row: every write of the run's process to the database file fails (a disk I/O
    error), as a file made read-only fails a new connection, while the agent, another
    process, writes on. Root is bound by the limit too. The limit is lifted again before the
    function returns (or the run is stopped), so the run's process can report how it ended."""
    with wandb.init() as run:
        x = run.config["x"]
        run.log({"loss": float(x)})
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        seen: Exception | None = None
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, hard))
        try:
            for step in range(600):
                try:
                    run.log({"loss": float(x) + 1.0 / (step + 2)})
                except Exception as exc:
                    seen = exc
                    break
                time.sleep(0.05)
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        if seen is not None:
            signals = Path(os.environ["LOCALSWEEP_TEST_SIGNALS"])
            (signals / f"user-saw-{run.id}").write_text(repr(seen))
            raise seen


def fails_after_its_last_log() -> None:
    """Logs ``loss`` once more under a file-size limit of 0 and then works on for 2.5 s
    without logging (a checkpoint, an evaluation): the recorder's timed flush of that row
    fails in the run's process while the training never logs again, so nothing raises into
    it. The limit is lifted before the function returns."""
    with wandb.init() as run:
        x = run.config["x"]
        run.log({"loss": float(x) + 1.0})
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (0, hard))
        try:
            run.log({"loss": float(x)})
            time.sleep(2.5)
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def plain() -> None:
    """A short wandb run logging ``loss``."""
    with wandb.init() as run:
        for step in range(3):
            run.log({"loss": float(run.config["x"]) + step})
