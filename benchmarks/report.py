"""How long the HTML report takes to write, and how big it is, at 100, 1,000 and 5,000 runs.

Each sweep is a random search over five parameters (one log-scale, one categorical, one
nested); every run logs its metric for 10 steps through the real recorder (the agent's
runner seam, without wandb's start-up cost), so the report draws real learning curves.
Runs that are poor at step 3 or 9 end there as ``early_terminated`` at that band, the
outcome hyperband (eta 3, min_iter 3) gives, without running hyperband itself: its stopper
reads every run's history at each band, which makes building 5,000 runs take many
minutes, and this measures the report, not the stopper.

    python benchmarks/report.py            # 100, 1000, 5000 runs
    python benchmarks/report.py 200 2000   # other sizes
"""

from __future__ import annotations

import argparse
import math
import random
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import localsweep
from localsweep.agent import Agent, RunOutcome, RunRecorder
from localsweep.config import load_config
from localsweep.records import RunState
from localsweep.report import write_report
from localsweep.store import RunRecord, Store

STEPS = 10
#: Band -> the loss above which a run ends there (about two thirds, then a third more).
BANDS = {3: 0.75, 9: 0.3}

CONFIG: dict[str, Any] = {
    "method": "random",
    "metric": {"name": "val_loss", "goal": "minimize"},
    "localsweep": {"seed": 1},
    "parameters": {
        "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1.0},
        "optimizer": {"values": ["adam", "sgd", "rmsprop", "adamw"]},
        "layers": {"distribution": "int_uniform", "min": 1, "max": 8},
        "batch_size": {"values": [16, 32, 64, 128, 256]},
        "model": {"parameters": {"dropout": {"min": 0.0, "max": 0.6}}},
    },
}


def _loss(config: Mapping[str, Any], step: int, rng: random.Random) -> float:
    distance = abs(math.log10(config["lr"]) + 2.5)
    penalty = 0.3 if config["optimizer"] == "sgd" else 0.0
    return (1 + distance + penalty) / (1 + step) + 0.02 * config["layers"] + rng.gauss(0, 0.01)


def build(runs: int, db: Path) -> localsweep.Sweep:
    store = Store(db)
    try:
        sweep_id = store.create_sweep(load_config(CONFIG)).id

        def runner(run: RunRecord, recorder: RunRecorder) -> RunOutcome:
            rng = random.Random(run.id)
            for step in range(STEPS):
                loss = _loss(run.config, step, rng)
                recorder.on_log({"val_loss": loss}, step)
                band = step + 1
                if band in BANDS and loss > BANDS[band]:
                    return RunOutcome(RunState.EARLY_TERMINATED, stopped_at_band=band)
            return RunOutcome(RunState.FINISHED, exit_code=0)

        Agent(store, sweep_id, runner=runner, count=runs).run()
    finally:
        store.close()
    return localsweep.Api(db).sweep(sweep_id)


def main(sizes: list[int]) -> None:
    print(f"{'runs':>6} {'build (s)':>10} {'report (s)':>11} {'size (MB)':>10}  states")
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            started = time.perf_counter()
            sweep = build(n, Path(tmp) / f"s{n}.db")
            built = time.perf_counter() - started
            sweep = localsweep.Api(Path(tmp) / f"s{n}.db").sweep(sweep.id)  # a cold read
            started = time.perf_counter()
            path = write_report(sweep, Path(tmp) / f"report-{n}.html")
            took = time.perf_counter() - started
            states: dict[str, int] = {}
            for run in sweep.runs:
                states[run.state] = states.get(run.state, 0) + 1
            size = path.stat().st_size / 1e6
            print(f"{n:>6} {built:>10.1f} {took:>11.1f} {size:>10.1f}  {states}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sizes", nargs="*", type=int, default=[100, 1000, 5000], help="runs")
    main(parser.parse_args().sizes)
