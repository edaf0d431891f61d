"""Training code that catches the Ctrl-C and ends normally, and one slow to import
(``localsweep agent SWEEP --function caught_train:NAME``, with this folder on PYTHONPATH).

Each says where it is through files in ``$LOCALSWEEP_TEST_SIGNALS``: ``started-<pid>-<x>``
once a run has logged its first row, ``importing-<pid>`` while a run's process imports
this module.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import wandb


def _signals() -> Path:
    return Path(os.environ["LOCALSWEEP_TEST_SIGNALS"])


# The agent imports this module first (``--function``), then each run's process of
# isolation="process" does: there, with CAUGHT_TRAIN_SLOW_IMPORT set, it stays in this
# import until the Ctrl-C comes, as a heavy import (torch) would.
_agent = os.environ.setdefault("CAUGHT_TRAIN_AGENT", str(os.getpid()))
if os.environ.get("CAUGHT_TRAIN_SLOW_IMPORT") and _agent != str(os.getpid()):
    (_signals() / f"importing-{os.getpid()}").touch()
    for _ in range(3000):
        time.sleep(0.1)


def catches_and_returns() -> None:
    """Logs ``loss`` = x, waits for the Ctrl-C, catches it, logs ``loss`` = x - 0.5 and
    returns, as a training loop that saves its work on Ctrl-C does."""
    with wandb.init() as run:
        x = float(run.config["x"])
        run.log({"loss": x})
        (_signals() / f"started-{os.getpid()}-{run.config['x']}").touch()
        try:
            for _ in range(3000):
                time.sleep(0.1)
        except KeyboardInterrupt:
            print("caught, returning", flush=True)
            run.log({"loss": x - 0.5})


def steps() -> None:
    """Logs ``loss`` = x once."""
    with wandb.init() as run:
        run.log({"loss": float(run.config["x"])})


if __name__ == "__main__":  # program mode: `python caught_train.py`
    catches_and_returns()
