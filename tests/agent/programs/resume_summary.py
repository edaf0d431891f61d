"""A run that asks for its metrics' summaries (``define_metric``) and may be preempted once.

As a program (``--mode=MODE``) or as the function ``resume_summary:train`` (``mode`` from
its config). Each attempt writes ``attempt-<run id>-<n>`` to ``$LOCALSWEEP_TEST_SIGNALS``
holding ``run.resumed`` and ``run.starting_step`` as JSON. A first attempt (no checkpoint)
logs ``acc`` 0.5, 0.9, 0.4 and ``loss`` 3, 1, 2, writes ``logged-<run id>``, then by mode:

- ``wait``: waits until it is stopped (the agent's SIGINT), after saving its checkpoint;
- ``mark``: saves its checkpoint, calls ``mark_preempting()`` and exits 1;
- ``live``: logs ``tick`` 0, 1, 2, ... until a ``release`` file appears, then finishes;
- ``early``: finishes (its first attempt was ended by SIGTERM before ``wandb.init``, as
  a scheduler may end a job that is starting).

A resumed attempt (a checkpoint exists) logs ``acc`` 0.6, 0.7 and ``loss`` 4, 5 and finishes.
"""

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path

import wandb


def train() -> None:
    """The function-mode entry: ``mode`` comes from the run's config."""
    attempt(None)


def attempt(mode: str | None) -> None:
    signals = Path(os.environ["LOCALSWEEP_TEST_SIGNALS"])
    if mode == "early" and not (signals / "early").exists():
        (signals / "early").touch()
        os.kill(os.getpid(), signal.SIGTERM)
    run = wandb.init()
    mode = mode or run.config["mode"]
    run.define_metric("acc", summary="max")
    run.define_metric("loss", summary="min,mean,first,last")
    number = len(list(signals.glob(f"attempt-{run.id}-*"))) + 1
    (signals / f"attempt-{run.id}-{number}").write_text(
        json.dumps({"resumed": run.resumed, "starting_step": run.starting_step})
    )
    checkpoint = signals / f"checkpoint-{run.id}"
    if checkpoint.exists():
        for acc, loss in ((0.6, 4.0), (0.7, 5.0)):
            run.log({"acc": acc, "loss": loss})
        run.finish()
        return
    for acc, loss in ((0.5, 3.0), (0.9, 1.0), (0.4, 2.0)):
        run.log({"acc": acc, "loss": loss})
    if mode != "live":
        checkpoint.write_text("3")
    (signals / f"logged-{run.id}").touch()
    if mode == "early":
        run.finish()
        return
    if mode == "mark":
        run.mark_preempting()
        run.finish(exit_code=1)
        sys.exit(1)
    tick = 0
    while mode == "wait" or not (signals / "release").exists():
        if mode == "live":
            # Rows go on (rows are written as a run logs), without acc or loss.
            run.log({"tick": tick})
            tick += 1
        time.sleep(0.05)
    run.finish()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", default="wait")
    args, _ = parser.parse_known_args()
    attempt(args.mode)
