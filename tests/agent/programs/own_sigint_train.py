"""Training code with a SIGINT handler of its own, as a loop that ends its epochs early on
Ctrl-C installs (``localsweep agent SWEEP --function own_sigint_train:NAME``, with this
folder on PYTHONPATH).

It says where it is through files in ``$LOCALSWEEP_TEST_SIGNALS``: ``started-<pid>-<x>``
once a run has logged its first row, ``caught-<x>`` once its handler took a Ctrl-C.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import wandb


def _signals() -> Path:
    return Path(os.environ["LOCALSWEEP_TEST_SIGNALS"])


def stops_its_loop() -> None:
    """Logs ``loss`` = x, then waits for a Ctrl-C, which its own handler takes; then logs
    ``loss`` = x - 0.5 and returns, its wandb run finished. A run that starts after a
    Ctrl-C was caught returns at once (so an agent that goes on ends soon)."""
    caught: list[int] = []
    signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    with wandb.init() as run:
        x = run.config["x"]
        run.log({"loss": float(x)})
        if any(_signals().glob("caught-*")):
            return
        (_signals() / f"started-{os.getpid()}-{x}").touch()
        for _ in range(3000):
            if caught:
                break
            time.sleep(0.1)
        (_signals() / f"caught-{x}").touch()
        print("caught, returning", flush=True)
        run.log({"loss": x - 0.5})
