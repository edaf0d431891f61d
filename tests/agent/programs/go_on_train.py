"""Training functions for the tests of what the agent says on Ctrl-C and of an isolated
run's output (``--function go_on_train:NAME``, with this folder on PYTHONPATH). They say
where they are through files in ``$LOCALSWEEP_TEST_SIGNALS``, and wait for ``release``."""

from __future__ import annotations

import os
import time
from pathlib import Path

import wandb


def _signals() -> Path:
    return Path(os.environ["LOCALSWEEP_TEST_SIGNALS"])


def _wait_for_release() -> None:
    while not (_signals() / "release").exists():
        time.sleep(0.1)


def first_finishes() -> None:
    """The sweep's first run finishes at once; each later one writes ``started-<pid>-<x>``
    and waits for ``release``. Each logs ``loss`` and the ``pid`` of its process."""
    with wandb.init() as run:
        run.log({"loss": float(run.config["x"]), "pid": os.getpid()})
        first = _signals() / "first-done"
        if not first.exists():
            first.touch()
            return
        (_signals() / f"started-{os.getpid()}-{run.config['x']}").touch()
        _wait_for_release()


def prints_then_waits() -> None:
    """Prints ``hello-from-<x>`` (no flush, as people print), then waits for ``release``
    before it logs ``loss`` and ends."""
    with wandb.init() as run:
        print(f"hello-from-{run.config['x']}")
        _wait_for_release()
        run.log({"loss": float(run.config["x"])})
