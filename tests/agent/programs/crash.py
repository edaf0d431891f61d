"""Logs two rows, then raises."""

import wandb

wandb.init()
wandb.log({"loss": 1.0})
wandb.log({"loss": 0.5})
raise ValueError("the model diverged at step 2")
