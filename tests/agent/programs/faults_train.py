"""Training functions for the fault tests' agent processes
(``localsweep agent SWEEP --function faults_train:NAME``, with this folder on PYTHONPATH).

Each says where it is through files in ``$LOCALSWEEP_TEST_SIGNALS``: ``started-<pid>-<x>``
when a run has begun in agent process ``pid``.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import wandb


def _signals() -> Path:
    return Path(os.environ["LOCALSWEEP_TEST_SIGNALS"])


def _steps() -> int:
    return int(os.environ.get("LOCALSWEEP_TEST_STEPS", "10"))


def steps() -> None:
    """A wandb run logging ``loss`` every 0.2 s for ``$LOCALSWEEP_TEST_STEPS`` steps (10).

    Any exception it sees from ``wandb.log`` is written to ``user-saw-<run id>``: a store
    error must never reach the user's code."""
    with wandb.init() as run:
        x = run.config["x"]
        (_signals() / f"started-{os.getpid()}-{x}").touch()
        for step in range(_steps()):
            try:
                run.log({"loss": float(x) + 1.0 / (step + 1)})
            except Exception as exc:
                (_signals() / f"user-saw-{run.id}").write_text(repr(exc))
                raise
            time.sleep(0.2)


def until_released() -> None:
    """A wandb run logging ``loss`` every 0.1 s until a ``release`` file appears."""
    with wandb.init() as run:
        x = run.config["x"]
        (_signals() / f"started-{os.getpid()}-{x}").touch()
        step = 0
        while not (_signals() / "release").exists():
            run.log({"loss": float(x) + step})
            step += 1
            time.sleep(0.1)


def preempt_once() -> None:
    """On its first attempt: logs 3 rows, calls ``mark_preempting()`` (checkpoint saved) and
    exits non-zero, as a job at the end of its time slot does. Resumed (same run id), it
    logs 3 more rows from its checkpoint and finishes. Each attempt prints ``attempt from
    step <start step>`` to stdout and stderr."""
    with wandb.init() as run:
        checkpoint = _signals() / f"checkpoint-{run.id}"
        start = int(checkpoint.read_text()) if checkpoint.exists() else 0
        (_signals() / f"attempt-{run.id}-{start}").write_text(str(run.settings.resume or ""))
        print(f"attempt from step {start}", flush=True)
        print(f"attempt from step {start}", file=sys.stderr, flush=True)
        for step in range(start, start + 3):
            run.log({"loss": float(run.config["x"]) + step, "epoch": step})
        if start == 0:
            checkpoint.write_text("3")
            run.mark_preempting()
            raise SystemExit(1)


def big_rows() -> None:
    """A wandb run logging rows of 20 kB every 0.05 s, 400 of them (to fill a small disk).
    Any exception ``wandb.log`` raises is written to ``user-saw-<run id>``."""
    with wandb.init() as run:
        x = run.config["x"]
        (_signals() / f"started-{os.getpid()}-{x}").touch()
        for step in range(400):
            try:
                run.log({"loss": float(x) + step, "blob": "b" * 20_000})
            except Exception as exc:
                (_signals() / f"user-saw-{run.id}").write_text(repr(exc))
                raise
            time.sleep(0.05)


class _SignalInDel:
    """An object whose clean-up is where a Ctrl-C lands: Python prints ``Exception ignored
    in ...`` and carries on, as when one lands in an import's lock callback."""

    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):  # the handler runs here, inside __del__
            pass


def ctrl_c_swallowed() -> None:
    """Logs ``loss``, then gets a Ctrl-C that Python swallows (it lands in a ``__del__``),
    and returns normally."""
    with wandb.init() as run:
        run.log({"loss": float(run.config["x"])})
        thing = _SignalInDel()
        del thing


def ctrl_c_caught_exit() -> None:
    """Logs ``loss``, gets a Ctrl-C, catches it and exits with 1, as PyTorch Lightning 2.6's
    ``Trainer.fit`` does ("Detected KeyboardInterrupt, attempting graceful shutdown ...",
    then ``sys.exit(1)``; its ``WandbLogger`` opens the run with a plain ``wandb.init()``)."""
    run = wandb.init()
    run.log({"loss": float(run.config["x"])})
    try:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)
    except KeyboardInterrupt:
        print("Detected KeyboardInterrupt, attempting graceful shutdown ...")
        sys.exit(1)


def ctrl_c_caught() -> None:
    """Logs ``loss``, gets a Ctrl-C, catches it and returns normally, as PyTorch Lightning's
    ``Trainer.fit`` does ("Detected KeyboardInterrupt, attempting graceful shutdown")."""
    with wandb.init() as run:
        run.log({"loss": float(run.config["x"])})
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        except KeyboardInterrupt:
            run.log({"loss": float(run.config["x"]) - 0.5})
