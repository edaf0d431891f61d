"""Logs ``val_loss``, then ends its wandb run with ``wandb.finish(exit_code=code)``
(wandb's way to mark a run failed), and exits 0. A run marked failed logs the better
value, so it would be the sweep's best if it counted. Its parameters come from
``wandb.config`` (with ``${args}`` they are on the command line too, ignored here)."""

import wandb

run = wandb.init()
code = int(run.config["code"])
run.log({"val_loss": 0.05 if code else 0.5})
wandb.finish(exit_code=code)
