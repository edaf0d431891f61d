"""A sweep program that looks for wandb before importing it, as transformers'
``is_wandb_available()`` does, then asks for an online run: the look must not let wandb be
imported past localsweep's offline hook."""

import importlib.util
import os
from pathlib import Path

if importlib.util.find_spec("wandb") is not None:
    import wandb

if __name__ == "__main__":
    run = wandb.init(mode="online")
    run.log({"loss": float(run.config["x"])})
    out = Path(os.environ.get("HERE") or os.getcwd())
    out.joinpath(f"run-{run.config['x']}.mode").write_text(run.settings.mode)
    run.finish()
