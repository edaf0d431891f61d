"""Reading one long run's history through the Api, beside a bare sqlite3 loop over the
same rows in the same run.

A run of 200,000 logged rows of 10 keys (what a day of per-step logging gives) is
written to a SQLite file through the store. Then, each the median of 3:

- ``historyLineCount`` and ``lastHistoryStep``, beside a bare ``SELECT count(*), max(step)``;
- ``scan_history(keys=["loss"])``: the time to its first row, to its last, and the
  Python memory it holds at most (tracemalloc's peak, measured in a separate pass),
  beside a bare loop that reads the rows with sqlite3 and decodes each row's JSON, and
  beside ``history(keys=["loss"])``, which reads them all at once (as wandb's
  ``history()`` does, and as ``scan_history`` did before it read pages).

    python benchmarks/long_history.py [--rows 200000]
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import localsweep
from localsweep.records import RunState
from localsweep.search import make_search
from localsweep.store import AgentInfo, HistoryRow, Store

CONFIG = {
    "method": "random",
    "metric": {"name": "loss"},
    "parameters": {"lr": {"min": 0.0001, "max": 0.1}},
}


def _build(db: Path, rows: int) -> str:
    """One finished run of ``rows`` rows of 10 keys; its id."""
    sweep_id = localsweep.sweep(CONFIG, db=str(db))
    store = Store(str(db))
    config = store.get_sweep(sweep_id).config
    search = make_search(config)
    claim = store.claim_run(
        sweep_id,
        AgentInfo.current(),
        lambda runs, n: search.propose(runs, random.Random(n)),
        nest=config.nest,
    )
    run = claim.run
    assert run is not None
    rng = random.Random(0)
    logged = []
    for step in range(rows):
        loss = 1.0 / (step + 1) + rng.random() * 0.01
        data = {"loss": loss, **{f"k{j}": rng.random() for j in range(9)}}
        logged.append(HistoryRow(step=step, data=data, metric=loss, has_metric=True))
    store.finish_run(run, RunState.FINISHED, history=logged, metric=logged[-1].metric)
    store.close()
    return run.id


def _median(fn: Callable[[], Any], repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _peak_mb(fn: Callable[[], Any]) -> float:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "long.db"
        started = time.perf_counter()
        run_id = _build(db, args.rows)
        print(f"a run of {args.rows:,} rows written in {time.perf_counter() - started:.1f} s")
        run = localsweep.Api(str(db)).run(run_id)
        bare = sqlite3.connect(db)

        def bare_count() -> tuple[int, int]:
            return bare.execute(
                "SELECT count(*), max(step) FROM history WHERE run_id = ?", (run_id,)
            ).fetchone()

        def bare_scan() -> int:
            n = 0
            for (data,) in bare.execute(
                "SELECT data_json FROM history WHERE run_id = ? ORDER BY id", (run_id,)
            ):
                n += "loss" in json.loads(data)
            return n

        def first_row() -> dict[str, Any]:
            return next(iter(run.scan_history(keys=["loss"])))

        def scan() -> int:
            return sum(1 for _ in run.scan_history(keys=["loss"]))

        def whole() -> int:
            return len(run.history(keys=["loss"]))

        assert (run.historyLineCount, run.lastHistoryStep) == bare_count()
        assert scan() == whole() == bare_scan() == args.rows
        counted = _median(lambda: (run.historyLineCount, run.lastHistoryStep))
        bare_counted = _median(bare_count) * 2  # the two properties: two queries
        bare_scanned = _median(bare_scan)
        rows: list[tuple[str, float, float | None, float | None]] = [
            ("line count + last step", counted, bare_counted, None),
            ("scan: first row", _median(first_row), None, None),
            ("scan: every row", _median(scan), bare_scanned, _peak_mb(scan)),
            ("history(): every row", _median(whole), bare_scanned, _peak_mb(whole)),
        ]
        print(f"{'':24} {'localsweep':>11} {'bare sqlite3':>13} {'ratio':>7} {'peak MB':>8}")
        for name, ours, peer, mb in rows:
            peer_text = f"{peer:>12.3f}s" if peer is not None else f"{'':>13}"
            ratio = f"{ours / peer:>7.2f}" if peer else f"{'':>7}"
            mb_text = f"{mb:>8.1f}" if mb is not None else f"{'':>8}"
            print(f"{name:24} {ours:>10.3f}s {peer_text} {ratio} {mb_text}")
        print(f"(the bare loop's peak: {_peak_mb(bare_scan):.1f} MB)")
        bare.close()


if __name__ == "__main__":
    main()
