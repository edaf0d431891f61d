"""Training code whose run starts other processes calling ``wandb.init``, or reaches wandb's
``init`` under a name other than the ``wandb.init`` attribute: the whole process tree of a
run must stay offline. Functions for ``--function offline_tree:NAME`` and, run as a
program, the same by ``CASE`` (``python offline_tree.py``).

The helper and the worker start runs of their own (without the sweep run's
``WANDB_RUN_ID``, which a program-mode child would otherwise pass on). Every process writes
the mode its run got to ``<name>.mode`` in the run's working directory (``HERE``, else the
working directory), or the error of its ``wandb.init`` to ``<name>.error``.

- ``helper``: a helper ``python -c`` in ``elsewhere/`` (no workspace settings file of
  localsweep's there); ``HELPER`` says how: ``inherit`` (the environment as it is),
  ``clear`` (every ``WANDB_*`` variable removed), ``online`` (``wandb.init(mode="online")``);
- ``spawn``: ``os.environ["WANDB_MODE"] = "online"`` (an argparse default), then a
  ``multiprocessing`` worker (``START``: ``spawn`` or ``forkserver``) calls ``wandb.init()``,
  as torch DDP's rank 0 does;
- ``bound``: ``wandb_init(mode="online")``, bound by ``from wandb import init`` when this
  module was imported (before the agent opened the run);
- ``sdk``: ``wandb.sdk.init(mode="online")``; ``sdk_module``: ``wandb.sdk.wandb_init.init``;
- anything else: a plain ``wandb.init()``.
"""

import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import wandb
from wandb import init as wandb_init

HELPER = """
import os, sys, wandb
from pathlib import Path
for name in ("WANDB_RUN_ID", "WANDB_SWEEP_ID", "WANDB_SERVICE"):  # a run of its own
    os.environ.pop(name, None)
out, mode = Path(sys.argv[1]), sys.argv[2]
try:
    run = wandb.init(project="helper", mode=mode or None)
    run.log({"a": 1})
    out.joinpath("helper.mode").write_text(run.settings.mode)
    run.finish()
except Exception as exc:
    out.joinpath("helper.error").write_text(repr(exc))
    raise
"""


def _out() -> Path:
    return Path(os.environ.get("HERE") or os.getcwd())


def _note(name: str, run: object) -> None:
    _out().joinpath(f"{name}.mode").write_text(run.settings.mode)  # type: ignore[attr-defined]


def _helper() -> None:
    how = os.environ.get("HELPER", "inherit")
    env = dict(os.environ)
    if how == "clear":
        env = {k: v for k, v in env.items() if not k.startswith("WANDB_")}
    elsewhere = _out() / "elsewhere"
    elsewhere.mkdir(exist_ok=True)
    mode = "online" if how == "online" else ""
    argv = [sys.executable, "-c", HELPER, str(_out()), mode]
    subprocess.run(argv, env=env, cwd=elsewhere, timeout=120, check=False)


def _worker(out: str) -> None:
    os.environ["HERE"] = out
    for name in ("WANDB_RUN_ID", "WANDB_SWEEP_ID", "WANDB_SERVICE"):  # a run of its own
        os.environ.pop(name, None)
    try:
        run = wandb.init(group="ddp")
        run.log({"a": 1})
        _note("worker", run)
        run.finish()
    except Exception as exc:
        Path(out, "worker.error").write_text(repr(exc))
        raise


def _spawn() -> None:
    os.environ["WANDB_MODE"] = "online"
    context = multiprocessing.get_context(os.environ.get("START", "spawn"))
    worker = context.Process(target=_worker, args=(str(_out()),))
    worker.start()
    worker.join(120)


def _own_run(case: str) -> object:
    if case == "bound":
        return wandb_init(mode="online")
    if case == "sdk":
        return wandb.sdk.init(mode="online")
    if case == "sdk_module":
        return wandb.sdk.wandb_init.init(mode="online")
    return wandb.init()


def train() -> None:
    case = os.environ.get("CASE", "helper")
    run = _own_run(case)
    if case == "helper":
        _helper()
    elif case == "spawn":
        _spawn()
    x = run.config["x"]  # type: ignore[attr-defined]
    run.log({"loss": float(x)})  # type: ignore[attr-defined]
    _note(f"run-{x}", run)
    run.finish()  # type: ignore[attr-defined]


def train_config(config: dict) -> float:
    """A ``train(config)`` function that starts a wandb run of its own (outside the sweep)."""
    with wandb.init() as run:
        _note(f"run-{config['x']}", run)
    return float(config["x"])


def train_config_helper(config: dict) -> float:
    """A ``train(config)`` function (the sweep's run is no wandb run) whose helper process
    calls ``wandb.init``."""
    _helper()
    return float(config["x"])


if __name__ == "__main__":
    train()
