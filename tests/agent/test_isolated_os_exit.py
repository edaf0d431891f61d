"""A training that ends its process with ``os._exit(0)`` (to skip a slow interpreter
shutdown: hung data loader workers) is recorded the same way with ``isolation="process"``
as in program mode: from the run's wandb file, since the process never said how the run
ended. After ``wandb.finish()`` it is ``finished``, with its rows and its metric; without
it, ``finished`` too, as in program mode. Real processes, real wandb offline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import localsweep

pytestmark = pytest.mark.slow

TRAIN = """
import os
import wandb

def train():
    wandb.init()
    wandb.log({"loss": float(wandb.config.x)})
    wandb.log({"loss": float(wandb.config.x) / 2})
    FINISH
    os._exit(0)

def marked_failed():
    wandb.init()
    wandb.log({"loss": float(wandb.config.x)})
    wandb.finish(exit_code=3)
    os._exit(0)

if __name__ == "__main__":
    import sys
    {"train": train, "marked_failed": marked_failed}[sys.argv[1]]()
"""


def _sweep(tmp_path: Path, mode: str, function: str, finish: bool) -> str:
    (tmp_path / "t.py").write_text(TRAIN.replace("FINISH", "wandb.finish()" if finish else ""))
    head = (
        f'program: t.py\ncommand: ["${{interpreter}}", "${{program}}", {function}]\n'
        if mode == "program"
        else ""
    )
    (tmp_path / "s.yaml").write_text(
        head + "method: grid\nmetric: {name: loss, goal: minimize}\n"
        "parameters:\n  x: {values: [4, 2]}\n"
    )
    return localsweep.sweep(str(tmp_path / "s.yaml"), db=str(tmp_path / "s.db"))


def _agent(tmp_path: Path, sweep_id: str, mode: str, function: str) -> None:
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])
    how = [] if mode == "program" else ["-f", f"t:{function}", "--isolation", "process"]
    done = subprocess.run(
        [sys.executable, "-m", "localsweep.cli", "agent", sweep_id, "--db", "s.db", *how],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("mode", ["process", "program"])
def test_os_exit_after_wandb_finish_is_a_finished_run_with_its_rows(
    tmp_path: Path, mode: str
) -> None:
    sweep_id = _sweep(tmp_path, mode, "train", finish=True)

    _agent(tmp_path, sweep_id, mode, "train")

    sweep = localsweep.Api(str(tmp_path / "s.db")).sweep(sweep_id)
    runs = sorted(sweep.runs, key=lambda r: r.config["x"])
    assert [(r.state, r.exit_code) for r in runs] == [("finished", 0), ("finished", 0)]
    assert [[row["loss"] for row in r.scan_history()] for r in runs] == [[2.0, 1.0], [4.0, 2.0]]
    assert [r.summary["loss"] for r in runs] == [1.0, 2.0]
    assert sweep.best_run().config["x"] == 2


@pytest.mark.parametrize("mode", ["process", "program"])
def test_os_exit_without_wandb_finish_is_finished_in_both_modes(tmp_path: Path, mode: str) -> None:
    sweep_id = _sweep(tmp_path, mode, "train", finish=False)

    _agent(tmp_path, sweep_id, mode, "train")

    runs = localsweep.Api(str(tmp_path / "s.db")).sweep(sweep_id).runs
    assert [(r.state, r.exit_code, r.error) for r in runs] == [("finished", 0, None)] * 2


@pytest.mark.parametrize("mode", ["process", "program"])
def test_os_exit_after_a_run_marked_failed_is_failed_with_its_exit_code(
    tmp_path: Path, mode: str
) -> None:
    sweep_id = _sweep(tmp_path, mode, "marked_failed", finish=True)

    _agent(tmp_path, sweep_id, mode, "marked_failed")

    runs = localsweep.Api(str(tmp_path / "s.db")).sweep(sweep_id).runs
    assert [(r.state, r.exit_code) for r in runs] == [("failed", 3), ("failed", 3)]
    assert all("wandb.finish(exit_code=3)" in (r.error or "") for r in runs)
