"""What the UI tests share: a small training function and its sweep, and a poll."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[1] / "helpers"))
from chromium import MISSING, chromium_paths, headless_chromium

__all__ = ["CONFIG", "MISSING", "chromium_paths", "headless_chromium", "train", "wait_for"]


def train() -> None:
    import wandb

    run = wandb.init()
    lr = wandb.config["lr"]
    for epoch in range(4):
        wandb.log({"loss": lr * (4 - epoch) + (0.1 if wandb.config["opt"] == "a" else 0.0)})
    run.finish()


CONFIG: dict[str, Any] = {
    "method": "random",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {
        "lr": {"min": 0.001, "max": 0.1, "distribution": "log_uniform_values"},
        "opt": {"values": ["a", "b"]},
    },
}


def wait_for(check: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    """Poll ``check`` until it returns something truthy (a browser test waits on a page)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except Exception as exc:  # the page may be mid-update
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what or check}: last {last!r}")
