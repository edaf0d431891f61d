"""Program mode's shared wandb service (``share_service``, the overhead benchmark's option)
under a memory limit that keeps wandb-core from starting: each run fails with wandb's own
error and the agent ends. It hung for good: ``wandb.setup()`` starts the service under
wandb's singleton lock, and wandb 0.31's error path takes that lock again."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest

from localsweep import Api

pytestmark = pytest.mark.slow

#: Enough for Python, numpy and wandb's Python side; too little for wandb-core.
ADDRESS_SPACE = 600 * 1024 * 1024

AGENT = """
import sys
from localsweep.agent import Agent
from localsweep.agent._workers import WorkerSlot, runner_factory
from localsweep.config import parse_config
from localsweep.store import Store

store = Store("s.db")
config = {"program": "train.py", "method": "grid", "parameters": {"x": {"values": [1, 2]}}}
sweep_id = store.create_sweep(parse_config(config)).id
factory = runner_factory(store, sweep_id, share_service=True)
Agent(store, sweep_id, runner=factory(WorkerSlot(0)), count=2).run()
"""


def _limit_address_space() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))


def test_runs_fail_and_the_agent_ends_when_the_shared_service_cannot_start(
    offline: Path,
) -> None:
    (offline / "train.py").write_text("import wandb\nwandb.init()\n")
    (offline / "agent.py").write_text(AGENT)
    # The timeout turns the old hang into a failure; a run takes a few seconds.
    done = subprocess.run(
        [sys.executable, "agent.py"],
        cwd=offline,
        capture_output=True,
        text=True,
        timeout=240,
        preexec_fn=_limit_address_space,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    runs = Api(str(offline / "s.db")).sweeps()[0].runs
    assert sorted(run.config["x"] for run in runs) == [1, 2]
    assert {run.state for run in runs} == {"failed"}, [run.error for run in runs]
