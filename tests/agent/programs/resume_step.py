"""A run preempted once, that reads ``run.step`` and ``run.summary`` as its resumed attempt
starts: as a program, or as the function ``resume_step:train``.

Each attempt writes ``attempt-<run id>-<n>`` to ``$LOCALSWEEP_TEST_SIGNALS``, holding as
JSON what the run shows right after ``wandb.init()``: ``resumed``, ``starting_step``,
``step`` and its summary's ``acc`` and ``best``. A first attempt logs ``acc`` 0.5 and 0.9,
sets ``run.summary["best"] = 0.9``, calls ``mark_preempting()`` and exits 1; a resumed
attempt logs ``acc`` 0.6 and finishes."""

import json
import os
import sys
from pathlib import Path

import wandb


def train() -> None:
    signals = Path(os.environ["LOCALSWEEP_TEST_SIGNALS"])
    run = wandb.init()
    number = len(list(signals.glob(f"attempt-{run.id}-*"))) + 1
    seen = {
        "resumed": run.resumed,
        "starting_step": run.starting_step,
        "step": run.step,
        "summary": {key: run.summary.get(key) for key in ("acc", "best")},
    }
    (signals / f"attempt-{run.id}-{number}").write_text(json.dumps(seen))
    if run.resumed:
        run.log({"acc": 0.6})
        run.finish()
        return
    run.log({"acc": 0.5})
    run.log({"acc": 0.9})
    run.summary["best"] = 0.9
    run.mark_preempting()
    run.finish(exit_code=1)
    sys.exit(1)


if __name__ == "__main__":
    train()
