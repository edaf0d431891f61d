"""A sweep program that removes every ``WANDB_*`` variable from its own environment, then
calls ``wandb.init()``: its run is not the sweep's (wandb is not told the run's id)."""

import os

import wandb

if __name__ == "__main__":
    for name in [n for n in os.environ if n.startswith("WANDB_")]:
        del os.environ[name]
    with wandb.init(config={"x": 1}) as run:
        run.log({"loss": 1.0})
