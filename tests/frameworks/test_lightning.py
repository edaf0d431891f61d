"""PyTorch Lightning under localsweep, as W&B's integration docs write it (``WandbLogger``,
``self.log``): the sweep's values reach the model, Lightning's metrics are the runs'
results, each run is a wandb run of its own, and a Ctrl-C, which Lightning 2's
``Trainer.fit`` catches and turns into ``sys.exit(1)``, is an interrupted run whose point
runs again. Real Lightning and wandb offline; skipped where Lightning is not installed
(.ci/run installs it)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import localsweep

pytest.importorskip("lightning")
pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
FUNCTION = ("--function", "lightning_train:train")
CONFIG = {
    "method": "grid",
    "metric": {"name": "val_loss", "goal": "minimize"},
    "parameters": {"lr": {"values": [0.01, 0.05]}, "hidden": {"value": 4}, "epochs": {"value": 2}},
}


def _start(sweep_id: str, db: Path, tmp_path: Path, **env: str) -> subprocess.Popen[str]:
    environ = {**os.environ, **env, "WANDB_DIR": str(tmp_path)}
    environ["PYTHONPATH"] = os.pathsep.join([str(HERE), environ.get("PYTHONPATH", "")])
    return subprocess.Popen(
        [sys.executable, "-m", "localsweep", "agent", sweep_id, "--db", str(db), *FUNCTION],
        cwd=tmp_path,
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _agent(sweep_id: str, db: Path, tmp_path: Path) -> tuple[int, str]:
    agent = _start(sweep_id, db, tmp_path)
    output, _ = agent.communicate(timeout=300)
    return agent.returncode, output


def test_a_lightning_sweep_records_what_lightning_logs(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    sweep_id = localsweep.sweep(CONFIG, db=db)
    code, output = _agent(sweep_id, db, tmp_path)
    assert code == 0, output
    sweep = localsweep.Api(db).sweep(sweep_id)
    runs = sweep.runs
    assert [(r.state, r.config["lr"]) for r in runs] == [("finished", 0.01), ("finished", 0.05)]
    assert len({r.id for r in runs}) == 2
    for run in runs:
        assert run.summary["val_loss"] == run.metric
        assert {"train_loss", "epoch", "trainer/global_step"} <= set(run.summary)
        # the values the model got: Lightning's save_hyperparameters() put them in the config
        assert run.config["hidden"] == 4
        assert [row["epoch"] for row in run.scan_history(keys=["val_loss", "epoch"])] == [0, 1]
    best = sweep.best_run()
    assert best is not None and best.metric == min(r.metric for r in runs)


def test_a_ctrl_c_lightning_catches_is_an_interrupted_run_whose_point_runs_again(
    tmp_path: Path,
) -> None:
    db = tmp_path / "s.db"
    sweep_id = localsweep.sweep(CONFIG, db=db)
    marker = tmp_path / "second-epoch"
    agent = _start(sweep_id, db, tmp_path, LIGHTNING_WAIT=str(marker))
    try:
        deadline = time.monotonic() + 240
        while not marker.exists():
            assert agent.poll() is None and time.monotonic() < deadline, agent.stdout
            time.sleep(0.1)
        agent.send_signal(signal.SIGINT)  # Ctrl-C, in the middle of Lightning's fit
        said, _ = agent.communicate(timeout=120)
    finally:
        agent.kill()
    assert agent.returncode == 130, said
    assert "Detected KeyboardInterrupt, attempting graceful shutdown" in said
    assert "1 run interrupted; its point will run again." in said
    runs = localsweep.Api(db).sweep(sweep_id).runs
    assert [(r.state, r.end_reason, r.config["lr"]) for r in runs] == [
        ("killed", "interrupted", 0.01)
    ]

    code, output = _agent(sweep_id, db, tmp_path)
    assert code == 0, output
    runs = localsweep.Api(db).sweep(sweep_id).runs
    finished = sorted(r.config["lr"] for r in runs if r.state == "finished")
    assert finished == [0.01, 0.05]
