"""In a notebook or IPython, wandb's default ``reinit`` finishes an open run when
``wandb.init()`` is called again (wandb/sdk/wandb_init.py: ``reinit == "default" and
in_notebook()``): a helper that gets the run with a second ``wandb.init()`` starts a second
wandb run, and localsweep records the first and says why in words that fit that case
(docs/differences.md). ``reinit="return_previous"`` hands back the open run there, and so
does a plain second call with ``isolation="process"``, whose run's process is no notebook.
Real IPython, real wandb offline, real SQLite."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

pytest.importorskip("IPython")

CELL = """
import json, localsweep, wandb
cfg = {{"method": "grid", "metric": {{"goal": "minimize", "name": "loss"}},
        "parameters": {{"lr": {{"values": [0.5]}}}}}}
def setup():
    return wandb.init({init_args})
def train():
    run = wandb.init()
    run.log({{"loss": 1.0, "phase": 0}})
    run2 = setup()
    run2.log({{"loss": run2.config.lr, "phase": 1}})
if __name__ == "__main__":
    sweep = localsweep.run(cfg, train, db="n.db", quiet=True, isolation={isolation!r})
    r = sweep.runs[0]
    print("RESULT", json.dumps([r.state, r.metric, [row["loss"] for row in r.history()]]))
"""


def _in_ipython(tmp_path: Path, init_args: str = "", isolation: str = "thread") -> tuple:
    (tmp_path / "cell.py").write_text(CELL.format(init_args=init_args, isolation=isolation))
    env = dict(os.environ, WANDB_MODE="offline", WANDB_DIR=str(tmp_path))
    env.pop("WANDB_SILENT", None)
    # IPython's own shell: wandb's in_notebook() is true there, as in Jupyter.
    ran = subprocess.run(
        [sys.executable, "-m", "IPython", "--no-banner", "--colors=NoColor", "-c", "%run cell.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    said = ran.stdout + ran.stderr
    results = [line for line in ran.stdout.splitlines() if line.startswith("RESULT ")]
    assert results, said
    return json.loads(results[-1].removeprefix("RESULT ")), " ".join(said.split())


def test_a_second_wandb_init_in_a_notebook_is_a_second_run_and_the_warning_says_why(
    tmp_path: Path,
) -> None:
    (state, metric, losses), said = _in_ipython(tmp_path)
    assert "Finishing previous runs because reinit is set to 'default'" in said
    # The first wandb run is the sweep run's: its rows, its metric.
    assert (state, metric, losses) == ("finished", 1.0, [1.0])
    assert (
        "wandb.init() was called again after this run's wandb run finished, or while it "
        "was open, which finished it (as wandb.init() does in a notebook or IPython" in said
    )
    assert "wandb.init(reinit='return_previous') hands back the open run" in said


def test_reinit_return_previous_in_a_notebook_hands_back_the_open_run(tmp_path: Path) -> None:
    (state, metric, losses), said = _in_ipython(tmp_path, init_args="reinit='return_previous'")
    assert (state, metric, losses) == ("finished", 0.5, [1.0, 0.5])
    assert "called again" not in said


def test_with_isolation_process_a_second_wandb_init_hands_back_the_open_run(
    tmp_path: Path,
) -> None:
    (state, metric, losses), said = _in_ipython(tmp_path, isolation="process")
    assert (state, metric, losses) == ("finished", 0.5, [1.0, 0.5])
    assert "called again" not in said
