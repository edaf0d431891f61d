"""A run that logs, sets summary values by hand, then works a long epoch without logging:
as a program, or as the function ``long_epoch:train``.

It logs ``loss`` 3.0 and 2.0, sets ``run.summary["best_epoch"] = 1`` and writes
``logged-<run id>`` to ``$LOCALSWEEP_TEST_SIGNALS``; then it waits (its "epoch") until a
``summary`` file appears there, sets ``run.summary["note"] = "halfway"`` and writes
``noted-<run id>``; then waits until a ``release`` file appears, logs ``loss`` 1.0 and
finishes."""

import os
import time
from pathlib import Path

import wandb


def _wait_for(path: Path) -> None:
    while not path.exists():
        time.sleep(0.05)


def train() -> None:
    signals = Path(os.environ["LOCALSWEEP_TEST_SIGNALS"])
    with wandb.init() as run:
        run.log({"loss": 3.0})
        run.log({"loss": 2.0})
        run.summary["best_epoch"] = 1
        (signals / f"logged-{run.id}").touch()
        _wait_for(signals / "summary")
        run.summary["note"] = "halfway"
        (signals / f"noted-{run.id}").touch()
        _wait_for(signals / "release")
        run.log({"loss": 1.0})


if __name__ == "__main__":
    train()
