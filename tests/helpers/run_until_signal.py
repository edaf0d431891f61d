"""A process running ``localsweep.run`` whose third run blocks until the process is signalled.

    python run_until_signal.py DB STARTED_FILE

Runs 0 and 1 finish; run 2 logs one row, creates STARTED_FILE, then sleeps until a signal
(Ctrl-C) arrives.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import wandb

import localsweep


def train() -> None:
    with wandb.init() as run:
        x = run.config["x"]
        run.log({"loss": float(x)})
        if x == 2:
            Path(sys.argv[2]).touch()
            while True:
                time.sleep(0.1)


if __name__ == "__main__":
    config = {
        "method": "grid",
        "metric": {"name": "loss"},
        "parameters": {"x": {"values": [0, 1, 2, 3]}},
    }
    localsweep.run(config, train, count=None, db=sys.argv[1])
