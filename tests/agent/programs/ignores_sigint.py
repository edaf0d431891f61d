"""Ignores SIGINT (it says so), so only SIGTERM, a grace period later, ends it; logs
``loss`` every 0.1 s for ``--seconds`` (120) and writes ``started-<pid>-<x>`` to
``$LOCALSWEEP_TEST_SIGNALS`` when that is set."""

import argparse
import os
import signal
import time
from pathlib import Path

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("--x", type=int, default=0)
parser.add_argument("--seconds", type=float, default=120.0)
args, _ = parser.parse_known_args()
signal.signal(signal.SIGINT, lambda *_: print("ignoring SIGINT", flush=True))

run = wandb.init()
if "LOCALSWEEP_TEST_SIGNALS" in os.environ:
    (Path(os.environ["LOCALSWEEP_TEST_SIGNALS"]) / f"started-{os.getpid()}-{args.x}").touch()
deadline = time.monotonic() + args.seconds
step = 0
while time.monotonic() < deadline:
    run.log({"loss": float(args.x + step)})
    step += 1
    time.sleep(0.1)
run.finish()
