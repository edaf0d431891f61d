"""A memory limit that keeps wandb-core from starting (``ulimit -v``, SGE's ``h_vmem``, a
batch system's address-space cap) fails each run with wandb's own error, as ``wandb.init``
does outside a sweep; the agent goes on and ends. It hung for good: the bridge called
``wandb.setup()``, which starts the service under wandb's singleton lock, and wandb 0.31's
error path takes that lock again (SIGTERM could not stop it either)."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from localsweep import Api

pytestmark = pytest.mark.slow

TRAIN = """
import wandb

def train():
    run = wandb.init()
    wandb.log({"loss": float(run.config["x"])})
"""

CONFIG = "method: grid\nmetric: {name: loss, goal: minimize}\nparameters:\n  x: {values: [1, 2]}\n"

#: Enough for Python, numpy and wandb's Python side; too little for wandb-core (Go
#: reserves a large address range as it starts).
ADDRESS_SPACE = 600 * 1024 * 1024


def _limit_address_space() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_runs_whose_wandb_core_cannot_start_fail_with_wandbs_error_and_the_agent_ends(
    offline: Path, isolation: str
) -> None:
    (offline / "fn.py").write_text(TRAIN)
    (offline / "f.yaml").write_text(CONFIG)
    argv = [sys.executable, "-m", "localsweep", "run", "f.yaml", "--db", "s.db"]
    argv += ["--function", "fn:train", "--isolation", isolation]
    # The timeout turns the old hang into a failure; a run takes a few seconds.
    done = subprocess.run(
        argv,
        cwd=offline,
        capture_output=True,
        text=True,
        timeout=240,
        preexec_fn=_limit_address_space,
        env={
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(offline), os.environ.get("PYTHONPATH", "")]),
        },
    )
    assert done.returncode == 0, done.stderr[-3000:]
    runs = Api(str(offline / "s.db")).sweeps()[0].runs
    assert sorted(run.config["x"] for run in runs) == [1, 2]
    for run in runs:
        assert run.state == "failed"
        assert "wandb-core exited" in (run.error or ""), run.error
    # The closing summary does not load scikit-learn under the cap: that import hung,
    # crashed (SIGSEGV) or raised SystemError there, after every run was recorded.
    said = " ".join((done.stdout + done.stderr).split())
    assert "parameter importance: left out: the address space is capped at 600 MB" in said
