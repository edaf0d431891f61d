"""localsweep's copy of wandb-core's ``define_metric`` summary gives what wandb 0.31 itself
writes: the definitions read from a real offline run file, applied to its rows, make the
summary wandb-core folded into the same file (the agent's live summary, and a resumed run's
summary over every attempt, are made this way)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from localsweep.wandb_bridge._datastore import RunFileFollower
from localsweep.wandb_bridge._metric_summary import (
    MetricDefinitions,
    RowAggregates,
    definition_of,
)

SCRIPT = """
    import math
    import wandb

    run = wandb.init(project="summary-test")
    run.define_metric("acc", summary="max,mean,first,last")
    run.define_metric("loss", summary="min")
    run.define_metric("loss", summary="max")  # definitions of one name add up
    run.define_metric("val/*", summary="min,max")
    run.define_metric("nested.score", summary="max")
    run.define_metric("hidden", summary="none")
    run.define_metric("plain", step_metric="epoch")
    run.define_metric("redone", summary="max")
    run.define_metric("redone", summary="min", overwrite=True)
    run.define_metric("count", summary="max,mean")
    for i, (acc, loss) in enumerate([(0.5, 2.0), (0.9, 1.5), (0.4, 3.0), (0.7, 0.5)]):
        wandb.log({
            "acc": acc, "loss": loss, "val/a": acc * 2, "val/b": -loss,
            "nested": {"score": loss + i}, "hidden": i, "plain": 10 - i, "epoch": i,
            "redone": acc + loss, "count": i * 3, "text": f"row {i}",
        })
    # A row left open, then committed with more keys: one row, acc's last value in it.
    wandb.log({"acc": 0.1}, commit=False)
    wandb.log({"acc": 0.95, "loss": 0.25})
    run.finish()
"""


def _run(wandb_dir: Path) -> Path:
    script = wandb_dir / "train.py"
    script.write_text(textwrap.dedent(SCRIPT))
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=wandb_dir,
        env=dict(os.environ),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()
    (run_file,) = (wandb_dir / "wandb").glob("offline-run-*/run-*.wandb")
    return run_file


def _last_values(rows: list[dict[str, Any]]) -> dict[str, Any]:
    last: dict[str, Any] = {}
    for row in rows:
        for key, value in row.items():
            if isinstance(value, dict) and isinstance(last.get(key), dict):
                last[key] = {**last[key], **value}
            else:
                last[key] = value
    return last


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(a, b)
    return bool(a == b)


def test_define_metric_summaries_match_what_wandb_core_writes(datastore_wandb_dir: Path) -> None:
    with RunFileFollower(_run(datastore_wandb_dir)) as follower:
        while follower.poll() or not follower.finished:
            pass
        records = follower.take_metric_records()
        state = follower.state
    definitions = MetricDefinitions()
    for record in records:
        definition = definition_of(record)
        if definition is not None:
            definitions.add(definition)
    aggregates = RowAggregates()
    for row in state.history:
        aggregates.add_row(row)
    rows = [{k: v for k, v in row.items() if not k.startswith("_")} for row in state.history]
    ours = aggregates.apply(_last_values(rows), definitions)

    wandbs = {k: v for k, v in state.summary.items() if not k.startswith("_")}
    assert ours.keys() == wandbs.keys()
    for key in wandbs:
        assert _close(ours[key], wandbs[key]), (key, ours[key], wandbs[key])
    # What the definitions asked for, spelled out (the open row's 0.1 never counted).
    assert _close(ours["acc"], {"max": 0.95, "mean": 0.69, "first": 0.5, "last": 0.95})
    assert ours["loss"] == {"min": 0.25, "max": 3.0}
    assert ours["val/a"] == {"min": 0.8, "max": 1.8}
    assert ours["nested"] == {"score": {"max": 5.0}}
    assert "hidden" not in ours
    assert ours["plain"] == 7
    assert ours["redone"] == {"min": 1.2}
    assert ours["text"] == "row 3"


def test_a_running_runs_summary_covers_only_rows_so_far() -> None:
    definitions = MetricDefinitions()
    aggregates = RowAggregates()
    for row in ({"acc": 0.5}, {"acc": 0.9}, {"acc": 0.4}):
        aggregates.add_row(row)
    # No definition yet: each key's last value, as wandb's default summary.
    assert aggregates.apply({"acc": 0.4}, definitions) == {"acc": 0.4}
    (record,) = _metric_records(acc="max")
    definitions.add(record)
    assert aggregates.apply({"acc": 0.4}, definitions) == {"acc": {"max": 0.9}}
    # A value set by hand stands when only wandb's own summary dicts are to be completed.
    assert aggregates.apply({"acc": 0.3}, definitions, only_aggregated=True) == {"acc": 0.3}


def _metric_records(**summaries: str) -> list[Any]:
    from wandb.proto import wandb_internal_pb2 as pb

    out = []
    for name, summary in summaries.items():
        record = pb.MetricRecord(name=name)
        for kind in summary.split(","):
            setattr(record.summary, kind, True)
        definition = definition_of(record)
        assert definition is not None
        out.append(definition)
    return out
