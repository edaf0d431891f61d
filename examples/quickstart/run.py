"""Run the bundled example sweep with localsweep, offline, and print the best run.

python examples/quickstart/run.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
sys.path.insert(0, str(here))
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")

from train import train  # noqa: E402

import localsweep  # noqa: E402

sweep = localsweep.run(
    here / "sweep.yaml",
    train,
    count=12,
    project="quickstart",
    db=os.environ.get("LOCALSWEEP_DB", "localsweep.db"),
)
best = sweep.best_run()
print(f"sweep {sweep.id}: {len(sweep.runs)} runs, state {sweep.state}")
if sweep.state == "RUNNING":
    print(
        "  (a random sweep has no end of its own: it stays RUNNING, so more agents can add "
        "runs; count= bounds one call, run_cap in the config bounds the sweep)"
    )
print(f"best run {best.id}: val_loss={best.metric:.4f} parameters={best.params}")
print(f"its offline wandb run folder: {best.dir}")
print(f"see all runs: localsweep show {sweep.id}")
# Not plain `wandb sync`: W&B's server drops runs of a sweep it does not know.
print(f"upload them later as one W&B sweep: localsweep sync {sweep.id} -e ENTITY")
