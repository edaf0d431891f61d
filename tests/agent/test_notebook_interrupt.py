"""Interrupting a Jupyter kernel while ``localsweep.run(..., isolation="process")`` waits for
a run (the notebook's Ctrl-C): the agent's "waiting" line names the notebook's action,
"interrupt the kernel again", and is a whole line of its own, the run's traceback (shown as
it comes) after it, not glued to its end. A real ipykernel, interrupted as JupyterLab does
(SIGINT to the kernel's process group)."""

from __future__ import annotations

import json
import os
import queue
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("ipykernel")
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager

pytestmark = pytest.mark.slow

CHECKOUT = Path(__file__).resolve().parents[2]
DEADLINE = 240.0

TRAIN = """\
import time
from pathlib import Path

import wandb


def train():
    with wandb.init() as run:
        run.log({"loss": float(run.config["x"])})
        Path("started").touch()
        for _ in range(3000):
            time.sleep(0.1)
"""

CELL = """\
import localsweep
import nbtrain

cfg = {"method": "grid", "metric": {"name": "loss", "goal": "minimize"},
       "parameters": {"x": {"values": [1, 2]}}}
localsweep.run(cfg, nbtrain.train, db="nb.db", isolation="process")
"""


def test_the_waiting_line_says_interrupt_the_kernel_again_on_a_line_of_its_own(
    tmp_path: Path,
) -> None:
    (tmp_path / "nbtrain.py").write_text(TRAIN)
    spec_dir = tmp_path / "kernels" / "lsw-interrupt"
    spec_dir.mkdir(parents=True)
    pythonpath = os.pathsep.join(
        p for p in (str(CHECKOUT), str(tmp_path), os.environ.get("PYTHONPATH")) if p
    )
    spec = {
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "lsw-interrupt",
        "language": "python",
        "env": {"PYTHONPATH": pythonpath, "WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path)},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec))
    manager = KernelManager(
        kernel_name="lsw-interrupt",
        kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(spec_dir.parent)]),
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    manager.start_kernel(cwd=str(tmp_path), env=env)
    client = manager.client()
    client.start_channels()
    stderr: list[str] = []
    try:
        client.wait_for_ready(timeout=DEADLINE)
        msg_id = client.execute(CELL)
        interrupted = False
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            if not interrupted and (tmp_path / "started").exists():
                manager.interrupt_kernel()  # the notebook's interrupt button
                interrupted = True
            try:
                msg = client.get_iopub_msg(timeout=0.2)
            except queue.Empty:
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            content = msg["content"]
            if msg["msg_type"] == "stream" and content["name"] == "stderr":
                stderr.append(content["text"])
            if msg["msg_type"] == "status" and content["execution_state"] == "idle":
                break
        else:
            raise AssertionError(f"the cell did not end:\n{''.join(stderr)}")
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    said = "".join(stderr)
    assert "interrupt the kernel again to terminate it.\n" in said, said
    assert "press Ctrl-C again" not in said, said
    line = next(x for x in said.splitlines() if "Ctrl-C: waiting for run" in x)
    assert line.endswith("interrupt the kernel again to terminate it."), said
