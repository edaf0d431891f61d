"""A running run's summary so far, as W&B shows a running run: the agent writes each key's
last logged value (and the sweep metric's) with every flush of its rows, so ``show``, the
``ui`` and :class:`localsweep.Api` have something to show before the run ends. It is no
result: the best run, the search and the counts still wait for the run's end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from faults_support import grid, start_agent, wait_for

import localsweep

pytestmark = pytest.mark.slow


def test_a_running_run_shows_its_summary_so_far_and_is_no_result(
    tmp_path: Path, signals: Path
) -> None:
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(grid(1), db=db)
    agent = start_agent(
        sweep_id, db, tmp_path / "agent.log", function="faults_train:until_released"
    )
    api = localsweep.Api(db)

    def live() -> localsweep.Run | None:
        runs = api.sweep(sweep_id).runs
        return runs[0] if runs and runs[0].metric is not None and runs[0].metric >= 3 else None

    try:
        # until_released logs loss = 0, 1, 2, ... every 0.1 s.
        wait_for(lambda: live() is not None, "the running run's live metric", agents=[agent])
        run = live()
        assert run is not None and run.state == "running"
        assert run.summary["loss"] == run.metric
        assert float(run.metric).is_integer()
        # Never ahead of what was logged: the value is one of the run's rows (the row
        # being logged may not be written yet, so compare with what was written since).
        later = [row["loss"] for row in api.run(run.id).history()]
        assert run.metric <= max(later) + 1
        assert api.sweep(sweep_id).best_run() is None  # no result while it runs
        shown = subprocess.run(
            [sys.executable, "-m", "localsweep", "show", sweep_id, "--db", db],
            capture_output=True,
            text=True,
            env={**os.environ, "COLUMNS": "200"},
            timeout=120,
        )
        assert shown.returncode == 0, shown.stderr
        [line] = [line for line in shown.stdout.splitlines() if run.id in line]
        cells = [cell.strip() for cell in line.split("│")]
        assert "running" in cells
        # The loss column holds the live value (x, the other column, is 0).
        assert any(_number(cell) is not None and _number(cell) >= 3 for cell in cells), line
    finally:
        (signals / "release").touch()
    assert agent.wait(timeout=120) == 0
    [run] = api.sweep(sweep_id).runs
    assert run.state == "finished"
    history = run.history()
    assert run.metric == history[-1]["loss"] == run.summary["loss"]
    best = api.sweep(sweep_id).best_run()
    assert best is not None and best.id == run.id


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
