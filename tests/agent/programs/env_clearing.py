"""A sweep program that starts one worker process per fold with every ``WANDB_*`` variable
cleared, each calling ``wandb.init`` (the pattern of wandb's cross-validation example).

Each worker writes the mode its run got to ``fold-<i>.mode`` in the working directory, or
``fold-<i>.error`` when ``wandb.init`` failed. With ``FOLD_CWD`` set, the workers run in
that folder instead (out of reach of the agent's workspace settings file), and still write
those files in the program's working directory.
"""

import os
import subprocess
import sys
from pathlib import Path

import wandb


def worker(fold: int, out: Path) -> None:
    try:
        run = wandb.init(project="cv", group="folds", job_type="fold")
        run.log({"fold_loss": fold / 10})
        mode = run.settings.mode
        run.finish()
        (out / f"fold-{fold}.mode").write_text(mode)
    except Exception as exc:
        (out / f"fold-{fold}.error").write_text(repr(exc))
        raise


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--fold":
        worker(int(sys.argv[2]), Path(sys.argv[3]))
        sys.exit(0)
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    cwd = os.environ.get("FOLD_CWD") or None
    out = os.getcwd()
    with wandb.init() as parent:
        for fold in range(2):
            argv = [sys.executable, __file__, "--fold", str(fold), out]
            subprocess.run(argv, env=env, cwd=cwd, timeout=60)
        parent.log({"loss": 0.5})
