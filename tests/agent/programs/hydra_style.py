"""A Hydra-style script: parameters arrive as ``key=value`` arguments."""

import sys

import wandb

overrides = dict(arg.split("=", 1) for arg in sys.argv[1:])
run = wandb.init()
wandb.log({"loss": float(overrides["lr"]) * int(overrides["layers"])})
run.summary["overrides"] = overrides
wandb.finish()
