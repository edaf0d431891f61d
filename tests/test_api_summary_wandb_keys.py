"""``Run.summary`` of a function-mode run has wandb's ``_runtime``, ``_timestamp`` and
``_step``, as wandb writes them into every run's summary (and so as wandb.Api gives them),
whether or not the training code wrote to its summary. Real wandb offline runs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import localsweep
from localsweep import Api
from localsweep.report._export import run_rows
from localsweep.wandb_bridge import read_run_file

GRID = {"method": "grid", "metric": {"name": "loss"}, "parameters": {"rows": {"values": [1]}}}
WANDB_KEYS = {"_runtime", "_timestamp", "_step"}


def _plain() -> None:
    import wandb

    with wandb.init() as run:
        for i in range(run.config.rows):
            # A few hundred rows make a file of several 32 KiB blocks, records split
            # across their ends: the summary's keys are read from the file's end.
            run.log({"loss": 1.0 / (i + 1), "text": "x" * 200})


def _touched() -> None:
    import wandb

    with wandb.init() as run:
        run.log({"loss": 1.0})
        run.summary["note"] = "x"


def _file_summary(run: Any) -> dict[str, Any]:
    return read_run_file(Path(run.dir) / f"run-{run.id}.wandb").summary


def test_a_run_that_never_touched_its_summary_has_wandbs_keys_as_its_file(
    tmp_path: Path,
) -> None:
    db = tmp_path / "s.db"
    grid = {**GRID, "parameters": {"rows": {"values": [1, 300]}}}
    sweep = localsweep.run(grid, _plain, db=db, project="p", quiet=True)
    touched = localsweep.run(GRID, _touched, db=db, project="p", quiet=True)
    runs = Api(db).runs("p")
    assert len(runs) == 3
    for run in runs:
        assert set(run.summary) >= WANDB_KEYS, (run.config, sorted(run.summary))
    big = next(run for run in runs if run.config["rows"] == 300)
    assert Path(big.dir, f"run-{big.id}.wandb").stat().st_size > 2 * 32 * 1024
    for run in runs[:2]:
        whole = _file_summary(run)  # the whole file, read by the bridge's reader
        assert {k: run.summary[k] for k in WANDB_KEYS} == {k: whole[k] for k in WANDB_KEYS}
    assert big.summary["_step"] == 299 and big.summary["loss"] == 1.0 / 300
    assert touched.runs[0].summary["note"] == "x"
    # they read as any summary key: filters, order
    assert len(Api(db).runs("p", filters={"summary_metrics._runtime": {"$gte": 0}})) == 3
    # and change nothing else: the best run, the export's columns (no _ keys)
    best = sweep.best_run()
    assert best is not None and best.id == big.id
    assert not any(key.startswith("_") for row in run_rows(sweep) for key in row)


def test_a_run_without_wandb_has_no_wandb_keys(tmp_path: Path) -> None:
    """``train(config)`` without wandb: there is no wandb summary to match."""
    sweep = localsweep.run(GRID, lambda c: 0.5, db=tmp_path / "s.db", quiet=True)
    assert sweep.runs[0].summary == {"loss": 0.5}
