"""wandb's keyword names work here too: ``wandb.agent(..., max_consecutive_failed_runs=N)``
ported as it is to ``localsweep.agent`` / ``localsweep.run``, and ``localsweep run`` takes
``--max-consecutive-failed-runs`` as ``localsweep agent`` (and ``wandb agent``) do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import localsweep
from localsweep import AgentError

CONFIG: dict[str, Any] = {
    "method": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"x": {"values": list(range(10))}},
}


def _broken(config: dict[str, Any]) -> None:
    raise RuntimeError(f"always broken ({config['x']})")


def test_agent_takes_wandbs_max_consecutive_failed_runs(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    sweep_id = localsweep.sweep(CONFIG, db=db)
    with pytest.raises(AgentError, match="2 runs in a row failed"):
        localsweep.agent(sweep_id, _broken, db=db, max_consecutive_failed_runs=2, quiet=True)
    assert len(localsweep.Api(db).sweep(sweep_id).runs) == 2


def test_run_takes_wandbs_max_consecutive_failed_runs(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    with pytest.raises(AgentError, match="3 runs in a row failed"):
        localsweep.run(CONFIG, _broken, db=db, max_consecutive_failed_runs=3, quiet=True)
    (sweep,) = localsweep.Api(db).sweeps()
    assert len(sweep.runs) == 3


def test_both_names_at_once_is_an_error_before_anything_runs(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    with pytest.raises(TypeError, match="max_consecutive_failed_runs"):
        localsweep.run(
            CONFIG,
            _broken,
            db=db,
            max_consecutive_failures=2,
            max_consecutive_failed_runs=3,
        )
    assert not db.exists()
    sweep_id = localsweep.sweep(CONFIG, db=db)
    with pytest.raises(TypeError, match="not both"):
        localsweep.agent(
            sweep_id, _broken, db=db, max_consecutive_failures=2, max_consecutive_failed_runs=2
        )
    assert localsweep.Api(db).sweep(sweep_id).runs == []
    with pytest.raises(ValueError, match="max_consecutive_failed_runs must be a whole number"):
        localsweep.agent(sweep_id, _broken, db=db, max_consecutive_failed_runs=0)


@pytest.mark.slow
def test_localsweep_run_takes_max_consecutive_failed_runs(tmp_path: Path) -> None:
    (tmp_path / "sweep.yaml").write_text(
        "method: grid\nmetric: {name: loss}\nparameters:\n  x: {values: [0, 1, 2, 3, 4, 5]}\n"
    )
    (tmp_path / "broken.py").write_text(
        "def train(config):\n    raise RuntimeError('always broken')\n"
    )
    db = str(tmp_path / "s.db")
    options = ["--db", db, "--max-consecutive-failed-runs", "2", "--quiet"]
    done = subprocess.run(
        [sys.executable, "-m", "localsweep", "run", "sweep.yaml", "-f", "broken:train", *options],
        env=dict(os.environ),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0
    assert "2 runs in a row failed" in done.stderr, done.stderr
    (sweep,) = localsweep.Api(db).sweeps()
    assert len(sweep.runs) == 2
