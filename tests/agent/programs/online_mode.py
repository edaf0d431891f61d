"""Training code that asks wandb for online mode, as ported projects do: ``ASK`` says how
(``mode``: ``wandb.init(mode="online")``; ``settings``: ``settings=wandb.Settings(mode=...)``;
``dict``: ``settings={"mode": ...}``; ``shared``: ``mode="shared"``). Writes the mode its run
got to ``mode-<x>.txt`` in the working directory. A function (``online_mode:train``) and a
program alike."""

import os
from pathlib import Path

import wandb


def train() -> None:
    ask = os.environ.get("ASK", "mode")
    if ask == "settings":
        run = wandb.init(settings=wandb.Settings(mode="online"))
    elif ask == "dict":
        run = wandb.init(settings={"mode": "online"})
    elif ask == "shared":
        run = wandb.init(mode="shared")
    else:
        run = wandb.init(mode="online")
    with run:
        x = run.config["x"]
        run.log({"loss": float(x)})
        Path(f"mode-{x}.txt").write_text(run.settings.mode)


def train_with_config(config: dict) -> float:
    """A ``train(config)`` function that starts a wandb run of its own, asking for online."""
    with wandb.init(mode="online") as run:
        run.log({"loss": float(config["x"])})
        Path(f"mode-{config['x']}.txt").write_text(run.settings.mode)
    return float(config["x"])


if __name__ == "__main__":
    train()
