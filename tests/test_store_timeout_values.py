"""``--store-timeout`` and ``LOCALSWEEP_STORE_TIMEOUT`` as users write them. ``inf`` (retry
as long as the database takes to come back, for an agent left to run for days) made every
command stop with an OverflowError traceback, and ``nan`` with a ValueError. Now ``inf``
waits without bound, ``nan`` at the command line is refused naming the option, and in the
variable counts as unset, as ``abc`` does. Real ``localsweep`` processes, real SQLite."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from localsweep.records import RunState
from localsweep.store import Store

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
from cli_process import cli_at

CONFIG = """\
program: train.py
method: grid
metric: {name: loss}
parameters:
  x: {values: [1, 2]}
"""

TRAIN = """\
import wandb
run = wandb.init()
wandb.log({"loss": run.config.x})
run.finish()
"""


def _sweep(work: Path, env: dict[str, str]) -> str:
    (work / "sweep.yaml").write_text(CONFIG)
    (work / "train.py").write_text(TRAIN)
    made = cli_at(work, "sweep", "sweep.yaml", env=env)
    assert made.returncode == 0, made.stderr
    assert "Traceback" not in made.stderr
    return made.stdout.split()[-1]


@pytest.mark.parametrize("value", ["inf", "nan", "abc", "-5"])
def test_any_store_timeout_variable_leaves_commands_working(tmp_path: Path, value: str) -> None:
    env = {"LOCALSWEEP_STORE_TIMEOUT": value}
    sweep_id = _sweep(tmp_path, env)
    for args in (("ls",), ("show", sweep_id)):
        proc = cli_at(tmp_path, *args, env=env)
        assert proc.returncode == 0, (args, proc.stderr)
        assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_an_agent_told_to_retry_without_bound_runs_its_sweep(tmp_path: Path) -> None:
    sweep_id = _sweep(tmp_path, {})
    proc = cli_at(tmp_path, "agent", sweep_id, "--store-timeout", "inf")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    runs = Store(tmp_path / "localsweep.db").list_runs(sweep_id)
    assert sorted(r.state for r in runs) == [RunState.FINISHED, RunState.FINISHED]


def test_a_store_timeout_that_is_no_number_of_seconds_is_refused_naming_it(
    tmp_path: Path,
) -> None:
    sweep_id = _sweep(tmp_path, {})
    proc = cli_at(tmp_path, "agent", sweep_id, "--store-timeout", "nan")
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "--store-timeout" in proc.stderr
    assert "inf" in proc.stderr  # the way to say "no bound"
    assert [r.state for r in Store(tmp_path / "localsweep.db").list_runs(sweep_id)] == []
