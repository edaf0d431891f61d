"""Sources of prior runs made for real: wandb offline run folders written by real wandb in
a child process, localsweep databases with real sweeps, tables as the exports write them."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

#: Three trainings run by hand, as a user runs them before any sweep: two finish (one
#: wrote its nested config as one dotted key, and named its run), one fails.
HAND_RUNS = """
    import wandb

    def train(config, losses, fail=False, name=None):
        run = wandb.init(project="priors-test", config=config, name=name)
        for loss in losses:
            wandb.log({"loss": loss, "acc": 1 - loss})
        if fail:
            run.finish(exit_code=1)
        else:
            run.finish()
        return run.id

    ids = [
        train({"lr": 0.01, "opt": {"name": "adam"}, "epochs": 5}, [0.4, 0.2, 0.1, 0.1, 0.1]),
        train(
            {"lr": 0.05, "opt.name": "sgd", "epochs": 5},
            [0.5, 0.3, 0.2, 0.2, 0.2],
            name="sgd-by-hand",
        ),
        train({"lr": 0.02, "opt": {"name": "sgd"}, "epochs": 5}, [0.9], fail=True),
    ]
    print(" ".join(ids))
"""


@pytest.fixture(scope="session")
def hand_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, list[str]]]:
    """A folder whose ``wandb/`` holds three real offline runs (see ``HAND_RUNS``), and
    their run ids in order: finished (nested config), finished (dotted key, named
    ``sgd-by-hand``), failed."""
    root = tmp_path_factory.mktemp("hand_runs")
    script = root / "train.py"
    script.write_text(textwrap.dedent(HAND_RUNS))
    env = {
        **os.environ,
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
        "WANDB_DISABLE_GIT": "true",
        "WANDB_DIR": str(root),
    }
    env.pop("WANDB_SERVICE", None)
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    ids = proc.stdout.split()
    assert len(ids) == 3
    yield root, ids
