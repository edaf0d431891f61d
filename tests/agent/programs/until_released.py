"""A program-mode run (``--x=N``) that writes ``started-<pid>-<x>`` to
``$LOCALSWEEP_TEST_SIGNALS`` and logs ``loss`` every 0.1 s until a ``release`` file appears
there."""

import argparse
import os
import time
from pathlib import Path

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("--x", type=int, default=0)
args, _ = parser.parse_known_args()
signals = Path(os.environ["LOCALSWEEP_TEST_SIGNALS"])

with wandb.init() as run:
    (signals / f"started-{os.getpid()}-{args.x}").touch()
    step = 0
    while not (signals / "release").exists():
        run.log({"loss": float(args.x + step)})
        step += 1
        time.sleep(0.1)
