"""After a setup error (the run's files cannot be written: ``WANDB_DIR`` not a folder one
can write in), the run is ``killed`` and not counted, so the agent's stop message must not
say the sweep "ran the runs of its count": the command to go on keeps the ``--count`` the
user gave, less the runs that did count (as the Ctrl-C message does)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import localsweep

sys.path.insert(0, str(Path(__file__).parents[1] / "helpers"))
from cli_process import cli_at

pytestmark = pytest.mark.slow

TRAIN = """
import wandb


def train():
    with wandb.init() as run:
        run.log({"loss": float(run.config["x"])})
"""


def _agent(tmp_path: Path, wandb_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"WANDB_MODE": "offline", "WANDB_DIR": str(wandb_dir)}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])
    return cli_at(tmp_path, "agent", "--db", "s.db", "-f", "st_train:train", *args, env=env)


@pytest.mark.parametrize(("done_first", "count"), [(0, 1), (1, 3)])
def test_after_a_setup_error_the_go_on_command_keeps_the_runs_left_of_the_count(
    tmp_path: Path, done_first: int, count: int
) -> None:
    (tmp_path / "st_train.py").write_text(TRAIN)
    config = {
        "method": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"x": {"values": [1, 2, 3, 4]}},
    }
    sweep_id = localsweep.sweep(config, db=str(tmp_path / "s.db"))
    if done_first:
        first = _agent(tmp_path, tmp_path, sweep_id, "--count", str(done_first))
        assert first.returncode == 0, first.stderr
    (tmp_path / "a-file").write_text("")

    # A "folder" under a file: the run's parameter file cannot be written there.
    stopped = _agent(tmp_path, tmp_path / "a-file" / "runs", sweep_id, "--count", str(count))

    said = " ".join(stopped.stderr.split())  # the terminal width may fold the message
    assert stopped.returncode == 1, stopped.stderr
    assert "Error: cannot write the run's files" in said, said
    assert "ran the runs of its count" not in said
    # This agent ran none of its count: all of it is left.
    command = f"`localsweep agent --db s.db --function st_train:train --count {count} {sweep_id}`"
    assert f"Sweep {sweep_id} goes on with {command}" in said, said
    assert f"count={count}, db='s.db')" in said
    runs = localsweep.Api(str(tmp_path / "s.db")).sweep(sweep_id).runs
    assert sorted((r.state, r.end_reason) for r in runs) == sorted(
        [("finished", None)] * done_first + [("killed", "setup_error")]
    )
