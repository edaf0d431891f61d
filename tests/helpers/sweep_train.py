"""Training functions for agent processes started by the tests
(``localsweep agent SWEEP --function sweep_train:NAME``, with this folder on PYTHONPATH)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import wandb


def train() -> None:
    """A short wandb run logging ``loss = x``."""
    with wandb.init() as run:
        time.sleep(0.02)
        run.log({"loss": float(run.config["x"])})


def quick(config: dict[str, Any]) -> float:
    """No wandb: ``loss = x``, after a short pause."""
    time.sleep(0.02)
    return float(config["x"])


def blocking() -> None:
    """A wandb run that says it started (``started-<x>`` in ``$LOCALSWEEP_TEST_SIGNALS``) and
    then waits until a ``release`` file appears there: a run that is surely mid-way."""
    folder = Path(os.environ["LOCALSWEEP_TEST_SIGNALS"])
    with wandb.init() as run:
        run.log({"loss": float(run.config["x"])})
        (folder / f"started-{run.config['x']}").touch()
        while not (folder / "release").exists():
            time.sleep(0.05)


def steady(config: dict[str, Any]) -> float:
    """No wandb: ``loss = x``, after a quarter second, so that agents started together
    overlap even when one of them is slow to start."""
    time.sleep(0.25)
    return float(config["x"])
