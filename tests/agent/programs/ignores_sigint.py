"""Ignores SIGINT (it says so), so only SIGTERM, a grace period later, ends it; logs
``loss`` every 0.1 s for ``--seconds`` (120) and writes ``started-<pid>-<x>`` to
``$LOCALSWEEP_TEST_SIGNALS`` when that is set.

``--detached=1``: first starts ``sleep 600`` in a session of its own, outside the run's
process group (as a launcher's rank or a data server may be), its pid in
``detached-<pid>`` there.
"""

import argparse
import os
import signal
import subprocess
import time
from pathlib import Path

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("--x", type=int, default=0)
parser.add_argument("--seconds", type=float, default=120.0)
parser.add_argument("--detached", type=int, default=0)
args, _ = parser.parse_known_args()
signal.signal(signal.SIGINT, lambda *_: print("ignoring SIGINT", flush=True))
signals = os.environ.get("LOCALSWEEP_TEST_SIGNALS")

if args.detached and signals:
    sleeper = subprocess.Popen(["sleep", "600"], start_new_session=True)
    (Path(signals) / f"detached-{sleeper.pid}").touch()
run = wandb.init()
if signals:
    (Path(signals) / f"started-{os.getpid()}-{args.x}").touch()
deadline = time.monotonic() + args.seconds
step = 0
while time.monotonic() < deadline:
    run.log({"loss": float(args.x + step)})
    step += 1
    time.sleep(0.1)
run.finish()
