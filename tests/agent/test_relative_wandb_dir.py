"""A relative ``WANDB_DIR`` (or ``dir=``): the run's folder and output files are recorded
absolute, so that ``Run.dir``, ``Run.stdout_path`` and ``localsweep sync`` find them from
any folder (docs/sync.md: a run folder is looked for where the agent recorded it)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

import localsweep

sys.path.insert(0, str(Path(__file__).parents[1] / "helpers"))
from cli_process import cli_at

pytestmark = pytest.mark.slow

TRAIN = """\
import wandb

def train():
    with wandb.init() as run:
        print("training", flush=True)
        run.log({"loss": run.config["lr"]})

if __name__ == "__main__":
    train()
"""


@pytest.mark.parametrize(
    "mode",
    [["-f", "t:train"], ["-f", "t:train", "--isolation", "process"], []],
    ids=["thread", "process", "program"],
)
def test_runs_of_a_relative_wandb_dir_are_found_from_another_folder(
    tmp_path: Path, mode: list[str]
) -> None:
    here = tmp_path / "rel"
    (here / "out").mkdir(parents=True)
    (tmp_path / "sub").mkdir()
    (here / "t.py").write_text(TRAIN)
    (here / "sweep.yaml").write_text(
        "program: t.py\nmethod: grid\nparameters:\n  lr: {values: [0.1]}\n"
    )
    sweep_id = cli_at(here, "sweep", "sweep.yaml", "--db", "../r.db").stdout.strip()
    done = cli_at(here, "agent", sweep_id, "--db", "../r.db", *mode, env={"WANDB_DIR": "out"})
    assert done.returncode == 0, done.stderr
    os.chdir(tmp_path / "sub")
    (run,) = localsweep.Api(tmp_path / "r.db").sweep(sweep_id).runs
    assert run.state == "finished"
    assert run.dir is not None and Path(run.dir).is_absolute(), run.dir
    assert Path(run.dir).parent == here / "out" / "wandb"
    assert Path(run.dir).is_dir()
    if mode[-1:] != ["t:train"]:  # a run with a process of its own: its output files
        for path in (run.stdout_path, run._record.stderr_path):
            assert path is not None and Path(path).is_absolute() and Path(path).is_file(), path
        assert "training" in Path(run.stdout_path).read_text()
    dry = cli_at(tmp_path / "sub", "sync", sweep_id, "--db", "../r.db", "--dry-run", "-e", "team")
    assert dry.returncode == 0, dry.stdout + dry.stderr
