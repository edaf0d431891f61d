"""A program-mode run that checkpoints and can be preempted: ``--x=N --mode=MODE``.

Each attempt writes ``attempt-<run id>-<start step>`` (holding its ``resume`` setting) to
``$LOCALSWEEP_TEST_SIGNALS`` and prints ``attempt from step <start step>`` to stdout and
stderr. A resumed attempt (a checkpoint exists) logs 3 more rows from
its checkpoint and finishes. A first attempt logs a row every 0.1 s and writes
``pid-<run id>`` after its first row; then, by ``--mode``:

- ``mark``: after 3 rows, saves a checkpoint, calls ``wandb.run.mark_preempting()`` and exits 1;
- ``sigterm``: on SIGTERM from outside, saves a checkpoint, finishes its run with exit code 143
  and exits 143 (what a SLURM job does at the end of its time slot);
- ``plain``: runs until stopped; on Ctrl-C (the agent's SIGINT) it saves a checkpoint.
"""

import argparse
import os
import signal
import sys
import time
from pathlib import Path

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("--x", type=int, default=0)
parser.add_argument("--mode", default="plain")
args, _ = parser.parse_known_args()
signals = Path(os.environ["LOCALSWEEP_TEST_SIGNALS"])

run = wandb.init()
checkpoint = signals / f"checkpoint-{run.id}"
start = int(checkpoint.read_text()) if checkpoint.exists() else 0
(signals / f"attempt-{run.id}-{start}").write_text(str(run.settings.resume or ""))
print(f"attempt from step {start}", flush=True)
print(f"attempt from step {start}", file=sys.stderr, flush=True)
if start:
    for step in range(start, start + 3):
        run.log({"loss": float(args.x + step), "epoch": step})
    run.finish()
    sys.exit(0)

terminated = []
if args.mode == "sigterm":
    signal.signal(signal.SIGTERM, lambda *_: terminated.append(True))
# A row and the count of rows move together: a Ctrl-C (the agent's SIGINT) is noted and
# acted on between rows, never inside run.log, which would leave a logged row out of the
# checkpoint and log it again on resume. (Blocking SIGINT with pthread_sigmask is not
# enough: it blocks the main thread only, and wandb's threads take the signal.)
interrupted = []
signal.signal(signal.SIGINT, lambda *_: interrupted.append(True))
step = 0
try:
    while not terminated:
        run.log({"loss": float(args.x + step), "epoch": step})
        step += 1
        if interrupted:
            raise KeyboardInterrupt
        if step == 1:
            # Said once a row is logged: stopped before it, the checkpoint would be step 0,
            # which the resumed attempt could not tell from no checkpoint.
            (signals / f"pid-{run.id}").write_text(str(os.getpid()))
        if args.mode == "mark" and step == 3:
            checkpoint.write_text(str(step))
            run.mark_preempting()
            run.finish(exit_code=1)
            sys.exit(1)
        time.sleep(0.1)
except KeyboardInterrupt:
    checkpoint.write_text(str(step))
    raise
checkpoint.write_text(str(step))
run.finish(exit_code=143)
sys.exit(143)
