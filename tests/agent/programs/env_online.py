"""Training code that sets ``WANDB_MODE`` itself before ``wandb.init()``, as scripts with a
``--wandb_mode`` option (default ``"online"``) do: ``SET_MODE`` is the value it sets.
``LOGIN`` set: it calls ``wandb.login()`` first. ``WHERE`` puts the run's folder elsewhere:
``dir`` (``wandb.init(dir=...)``) or ``WANDB_DIR`` (set in the script), both ``elsewhere/``
in the working directory. Writes the mode its run got to ``mode-<x>.txt``. A function
(``env_online:train``) and a program."""

import os
from pathlib import Path

import wandb


def train() -> None:
    os.environ["WANDB_MODE"] = os.environ.get("SET_MODE", "online")
    if os.environ.get("LOGIN"):
        wandb.login()  # with a key, wandb would check it with the server
    where = os.environ.get("WHERE", "")
    elsewhere = Path("elsewhere").resolve()
    elsewhere.mkdir(exist_ok=True)
    if where == "WANDB_DIR":
        os.environ["WANDB_DIR"] = str(elsewhere)
    run = wandb.init(dir=str(elsewhere)) if where == "dir" else wandb.init()
    with run:
        x = run.config["x"]
        run.log({"loss": float(x)})
        Path(f"mode-{x}.txt").write_text(run.settings.mode)


if __name__ == "__main__":
    train()
