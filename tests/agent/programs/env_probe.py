"""Records the environment variables localsweep sets (or must not set) in its summary."""

import os

import wandb

NAMES = [
    "WANDB_SERVICE",
    "WANDB_MODE",
    "WANDB_PROJECT",
    "WANDB_SWEEP_ID",
    "WANDB_RUN_ID",
    "WANDB_X_TRANSACTION_LOG_FLUSH_INTERVAL",
    "CUDA_VISIBLE_DEVICES",
]
inherited = {name: os.environ.get(name) for name in NAMES}
run = wandb.init()
wandb.log({"loss": 1.0})
run.summary["env"] = inherited
wandb.finish()
