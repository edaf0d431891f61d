"""The user's guide's own sweep (examples/guide/), run as a user runs it: its training code
with step 6's ``wandb.init(early_stopping_metric=..., early_stopping_threshold=...)`` and its
sweep configuration, through ``localsweep.run(..., count=10)``, real wandb offline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import localsweep
from localsweep.config import EarlyStopping
from localsweep.stopping import plateau_stop

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "guide" / "run.py"


@pytest.mark.slow
def test_the_guides_sweep_runs_and_stops_runs_on_a_plateau(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE)],
        cwd=tmp_path,
        env={**os.environ, "LOCALSWEEP_DB": str(tmp_path / "guide.db"), "WANDB_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr

    (sweep,) = localsweep.Api(tmp_path / "guide.db").sweeps()
    runs = sweep.runs
    assert len(runs) == 10
    assert sweep.best_run() is not None
    rule = EarlyStopping("val_loss", threshold=0.01)
    plateaus = 0
    for run in runs:
        losses = [row["val_loss"] for row in run.history()]
        decision = plateau_stop(rule, losses)
        if run.state == "finished":
            # It went all 10 epochs because val_loss kept improving by more than 0.01.
            assert len(losses) == 10 and decision is None
        else:
            assert run.state == "early_terminated", run.error
            assert run.end_reason == "plateau"
            # Stopped at the first epoch where the guide's rule says so, its rows kept.
            assert decision is not None and decision.iteration == len(losses)
            plateaus += 1
    # Learning rates from 1e-5 to 0.1 on an easy problem: most runs level off in 10 epochs.
    assert plateaus >= 1
