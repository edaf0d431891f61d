"""A run that spans several processes (``torchrun``, ``srun``, ``accelerate launch`` in the
config's ``command``): one run per point, reported by the rank that calls ``wandb.init``.

The launcher here stands in for torchrun, which cannot run here without torch: like
torchrun it starts the program once per rank with ``RANK``, ``LOCAL_RANK`` and
``WORLD_SIZE`` set and the same arguments, and exits with the worst exit code.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import localsweep
from localsweep.records import RunState
from localsweep.store import Store

pytestmark = pytest.mark.slow

LAUNCHER = """\
import os, subprocess, sys

procs = []
for rank in range(2):
    env = dict(os.environ, RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE="2")
    procs.append(subprocess.Popen([sys.executable, *sys.argv[1:]], env=env))
sys.exit(max(p.wait() for p in procs))
"""

TRAIN = """\
import argparse, json, os
import wandb

parser = argparse.ArgumentParser()
parser.add_argument("--x", type=float)
args = parser.parse_args()
rank = int(os.environ["RANK"])
seen = {"x": args.x, "run_id": os.environ.get("WANDB_RUN_ID")}
with open(f"rank{rank}-x{args.x:g}.json", "w") as f:
    json.dump(seen, f)
loss = args.x * 10 + rank  # each rank computes its own value; only rank 0 reports
if rank == 0:
    run = wandb.init()
    for step in range(3):
        run.log({"loss": loss + step})
    run.finish()
"""


def test_two_ranks_make_one_run_with_rank_0s_metrics(tmp_path: Path) -> None:
    (tmp_path / "launch.py").write_text(LAUNCHER)
    (tmp_path / "train.py").write_text(TRAIN)
    db = str(tmp_path / "sweeps.db")
    config = {
        "method": "grid",
        "program": "train.py",
        "command": ["${env}", "${interpreter}", "launch.py", "${program}", "${args}"],
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"x": {"values": [1, 2]}},
    }
    sweep_id = localsweep.sweep(config, db=db)
    localsweep.agent(sweep_id, db=db)

    store = Store(db)
    runs = store.list_runs(sweep_id)
    histories = {r.id: [row["loss"] for row in store.history(r.id)] for r in runs}
    store.close()
    assert sorted(r.config["x"] for r in runs) == [1, 2]  # one run per point, not per rank
    for run in runs:
        x = run.config["x"]
        assert run.state == RunState.FINISHED, run.error
        assert histories[run.id] == [x * 10, x * 10 + 1, x * 10 + 2]  # rank 0's values
        assert run.metric == x * 10 + 2
        for rank in (0, 1):
            seen = json.loads((tmp_path / f"rank{rank}-x{x:g}.json").read_text())
            assert seen == {"x": x, "run_id": run.id}  # every rank ran the same run's point
