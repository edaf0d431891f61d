"""A `command` with YAML ints and bools (``--n_envs 4 --use_wandb true``) runs, as under
``wandb agent``, with ``str()`` of each item in the program's argv."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import localsweep
from localsweep.records import RunState
from localsweep.store import Store

PROGRAM = """\
import sys
import wandb

with wandb.init() as run:
    run.log({"loss": run.config.lr})
    run.summary["argv"] = sys.argv[1:]
"""

CONFIG = """\
program: main.py
method: grid
metric: {name: loss, goal: minimize}
parameters:
  lr: {values: [0.1]}
command:
  - ${env}
  - ${interpreter}
  - ${program}
  - --n_envs
  - 4
  - --use_wandb
  - true
  - ${args}
"""


def test_yaml_ints_and_bools_in_command_reach_the_program_as_wandbs_agent_passes_them(
    store: Store, offline: Path
) -> None:
    (offline / "main.py").write_text(PROGRAM)
    (offline / "sweep.yaml").write_text(CONFIG)
    checked = subprocess.run(
        [sys.executable, "-m", "localsweep.cli", "validate", "sweep.yaml"],
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stderr
    assert "command[6]: true is passed to the program as 'True'" in checked.stderr
    sweep_id = localsweep.sweep(str(offline / "sweep.yaml"), db=store.url)
    localsweep.agent(sweep_id, db=store.url, quiet=True)
    [run] = store.list_runs(sweep_id)
    assert run.state is RunState.FINISHED, run.error
    assert run.summary["argv"] == ["--n_envs", "4", "--use_wandb", "True", "--lr=0.1"]
