"""Training functions for the multi-objective agent-process tests (imported by the CLI agent)."""

from __future__ import annotations

import wandb


def two_metrics() -> None:
    """Logs ``loss`` (minimize) and ``acc`` (maximize), which trade off in ``x``."""
    with wandb.init() as run:
        x = float(run.config["x"])
        for step in range(3):
            run.log({"loss": (x - 0.2) ** 2 + 0.01 * (3 - step), "acc": x - 0.01 * step})
