"""The agent's "started" line numbers a run as every other surface does: ``#N`` is its
``Run.number``, from 0, as its name ``run-N``, the report's ``#N`` and the export's
``number`` (it said "run 10" for run-9, which reads as another run)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

import localsweep


def test_the_started_line_numbers_a_run_as_its_name_does(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "s.db"
    config: dict[str, Any] = {
        "method": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"x": {"values": [3, 1, 2]}},
    }
    sweep_id = localsweep.sweep(config, db=db)
    localsweep.agent(sweep_id, lambda c: float(c["x"]), db=db)
    err = capfd.readouterr().err
    started = dict(re.findall(r"run (\w{8}) started \((#\d+) of the sweep\)", err))
    runs = localsweep.Api(db).sweep(sweep_id).runs
    assert len(started) == len(runs) == 3, err
    for run in runs:
        assert run.name == f"run-{run.number}"
        assert started[run.id] == f"#{run.number}", err
