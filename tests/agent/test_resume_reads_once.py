"""A resumed (preempted) run's recorder reads its earlier attempts' rows once, from a real
SQLite store: hyperband's values, the iterations, the step to go on from and the summaries
``define_metric`` asks for all come from that one read."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from localsweep.agent._recorder import RunRecorder
from localsweep.config import parse_config
from localsweep.records import Proposal, RunView
from localsweep.search import make_search
from localsweep.store import AgentInfo, HistoryRow, RunRecord, Store


class CountingStore(Store):
    """The real store, counting the reads of a run's rows."""

    reads = 0

    def history(self, run_id: str) -> list[dict[str, Any]]:
        self.reads += 1
        return super().history(run_id)

    def metric_histories(
        self, sweep_id: str, run_ids: Sequence[str] | None = None
    ) -> dict[str, list[float]]:
        self.reads += 1
        return super().metric_histories(sweep_id, run_ids)


def _row(step: int, data: dict[str, Any], metric: float | None) -> HistoryRow:
    return HistoryRow(step=step, data=data, metric=metric, has_metric="acc" in data)


def _resumed(store: Store) -> RunRecord:
    config = parse_config(
        {
            "method": "grid",
            "metric": {"name": "acc", "goal": "maximize"},
            "parameters": {"x": {"value": 1}},
        }
    )
    sweep = store.create_sweep(config)
    search = make_search(config)

    def claim() -> RunRecord:
        def propose(runs: Sequence[RunView], number: int) -> Proposal | None:
            return search.propose(runs, random.Random(number))

        claimed = store.claim_run(sweep.id, AgentInfo.current(), propose, nest=config.nest)
        assert claimed.run is not None, claimed
        return claimed.run

    first = claim()
    rows = [
        _row(0, {"acc": 0.5}, 0.5),
        _row(1, {"note": "no acc"}, None),
        _row(2, {"acc": math.nan}, None),
        _row(3, {"acc": 0.9}, 0.9),
    ]
    store.requeue_run(first, history=rows, summary={"acc": 0.9, "best": 1}, metric=0.9)
    resumed = claim()
    assert resumed.id == first.id and resumed.attempt == 2
    return resumed


def test_a_resumed_run_reads_its_earlier_rows_once(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "sweeps.db")
    try:
        run = _resumed(store)
        config = store.get_sweep(run.sweep_id).config
        store.reads = 0
        recorder = RunRecorder(store, run, config)
        assert store.reads == 1
        # What that one read gives: hyperband's values (NaN for the logged NaN), the
        # iterations (finite values), the step to go on from and the earlier summary.
        assert recorder.metric_values[:1] == [0.5] and recorder.metric_values[2] == 0.9
        assert math.isnan(recorder.metric_values[1]) and len(recorder.metric_values) == 3
        assert recorder.iterations == 2
        assert recorder.resume_step == 4
        assert recorder.resume_summary == {"acc": 0.9, "best": 1}
    finally:
        store.close()
