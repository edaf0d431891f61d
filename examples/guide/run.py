"""The user's guide's sweep, run locally: its sweep configuration unchanged, and
``wandb.agent(sweep_id, function=train, count=10)`` replaced by
``localsweep.run(sweep_configuration, train, count=10)``.

python examples/guide/run.py
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

# Step 4.2 of the guide, as written there.
sweep_configuration = {
    "method": "random",  # 'grid'，'random'，'bayes'（贝叶斯优化）
    "name": "sweep_run_01",
    "metric": {
        "name": "val_accuracy",
        "goal": "maximize",  # 目标是最大化val_accuracy
    },
    "parameters": {
        "batch_size": {"values": [16, 32, 64, 128]},
        "learning_rate": {"min": 1e-5, "max": 1e-1},
        "epochs": {"value": 10},
    },
}

# Step 4.3: wandb.sweep(...) and wandb.agent(sweep_id, function=train, count=10) become
sweep = localsweep.run(
    sweep_configuration, train, count=10, db=os.environ.get("LOCALSWEEP_DB", "localsweep.db")
)

best = sweep.best_run()
print(f"sweep {sweep.id}: {len(sweep.runs)} runs, state {sweep.state}")
for run in sweep.runs:
    print(f"  {run.id} {run.state:<17} {run.end_reason or '':<9} epochs {len(run.history()):>2}")
if best is not None:
    print(f"best run {best.id}: val_accuracy={best.metric:.4f} config={best.config}")
print(f"see all runs: localsweep show {sweep.id}")
