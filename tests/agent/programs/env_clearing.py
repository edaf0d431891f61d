"""A sweep program that starts one worker process per fold with every ``WANDB_*`` variable
cleared, each calling ``wandb.init`` (the pattern of wandb's cross-validation example).

Each worker writes the mode its run got to ``fold-<i>.mode`` in the working directory, or
``fold-<i>.error`` when ``wandb.init`` failed.
"""

import os
import subprocess
import sys
from pathlib import Path

import wandb


def worker(fold: int) -> None:
    try:
        run = wandb.init(project="cv", group="folds", job_type="fold")
        run.log({"fold_loss": fold / 10})
        mode = run.settings.mode
        run.finish()
        Path(f"fold-{fold}.mode").write_text(mode)
    except Exception as exc:
        Path(f"fold-{fold}.error").write_text(repr(exc))
        raise


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--fold":
        worker(int(sys.argv[2]))
        sys.exit(0)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    with wandb.init() as parent:
        for fold in range(2):
            subprocess.run([sys.executable, __file__, "--fold", str(fold)], env=env, timeout=60)
        parent.log({"loss": 0.5})
