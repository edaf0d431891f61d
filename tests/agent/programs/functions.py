"""Training functions for ``isolation="process"``: importable, as a fresh process needs."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import wandb

_calls: list[int] = []


def train_with_wandb() -> None:
    """Reads its parameter from ``wandb.config`` and logs a short curve."""
    run = wandb.init()
    for epoch in range(3):
        wandb.log({"loss": wandb.config.x / (epoch + 1)})
    run.summary["pid"] = os.getpid()
    run.finish()


def count_calls(config: dict[str, Any]) -> dict[str, float]:
    """Returns how often this process ran it: always 1 when each run has a fresh process."""
    _calls.append(1)
    return {"loss": float(config["x"]), "calls": float(len(_calls)), "pid": float(os.getpid())}


def sleep_forever(config: dict[str, Any]) -> None:
    """Never returns."""
    while True:
        time.sleep(0.1)


def ignore_sigint_forever(config: dict[str, Any]) -> None:
    """Ignores SIGINT and never returns: only SIGTERM ends it."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    while True:
        time.sleep(0.1)


def raise_error(config: dict[str, Any]) -> None:
    """Fails as training code fails."""
    raise RuntimeError(f"bad batch at x={config['x']}")


def die_by_sigkill(config: dict[str, Any]) -> None:
    """Dies as the out-of-memory killer would end it."""
    os.kill(os.getpid(), signal.SIGKILL)


def curve() -> None:
    """Logs a loss curve whose level is ``wandb.config.quality``, slowly enough to be stopped."""
    run = wandb.init()
    for epoch in range(30):
        wandb.log({"loss": wandb.config.quality / (epoch + 1)})
        time.sleep(0.05)
    run.finish()


def finish_with_code() -> None:
    """Logs ``val_loss`` (the better value when ``code`` is not 0), then ends its run as
    wandb documents marking it failed: ``run.finish(exit_code=code)``; returns normally."""
    run = wandb.init()
    code = int(run.config["code"])
    run.log({"val_loss": 0.05 if code else 0.5})
    run.finish(exit_code=code)


def raise_keyboard_interrupt() -> None:
    """Training that raises KeyboardInterrupt itself (no Ctrl-C was pressed)."""
    with wandb.init() as run:
        run.log({"loss": float(run.config["x"])})
        raise KeyboardInterrupt
