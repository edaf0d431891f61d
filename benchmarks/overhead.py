"""Per-run overhead of localsweep, beside a peer measured in the same run.

1. Without wandb: a random sweep over a function that does nothing, on a SQLite file,
   beside Optuna's ``study.optimize`` with RandomSampler on SQLite storage (same work).
2. With real wandb offline: localsweep running ``train()`` (wandb.init, log, finish),
   beside a bare loop of the same wandb.init/log/finish.

    python benchmarks/overhead.py [--runs 1000] [--wandb-runs 50]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path

CONFIG = {
    "method": "random",
    "metric": {"name": "loss"},
    "parameters": {
        "lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 1e-1},
        "layers": {"values": [1, 2, 3, 4]},
        "dropout": {"min": 0.0, "max": 0.5},
    },
}


def bench_localsweep(n: int, db: Path) -> float:
    import localsweep

    def train(config: dict) -> float:
        return config["lr"]

    start = time.perf_counter()
    localsweep.run(CONFIG, train, count=n, db=str(db))
    return (time.perf_counter() - start) / n


def bench_optuna(n: int, db: Path) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: optuna.Trial) -> float:
        lr = trial.suggest_float("lr", 1e-4, 1e-1, log=True)
        trial.suggest_categorical("layers", [1, 2, 3, 4])
        trial.suggest_float("dropout", 0.0, 0.5)
        return lr

    start = time.perf_counter()
    study = optuna.create_study(
        storage=f"sqlite:///{db}", sampler=optuna.samplers.RandomSampler(seed=0)
    )
    study.optimize(objective, n_trials=n)
    return (time.perf_counter() - start) / n


def wandb_train() -> None:
    import wandb

    run = wandb.init()
    for step in range(10):
        wandb.log({"loss": 1.0 / (step + 1)})
    run.finish()


def bench_localsweep_wandb(n: int, db: Path) -> float:
    import localsweep

    start = time.perf_counter()
    localsweep.run(CONFIG, wandb_train, count=n, db=str(db), project="bench")
    return (time.perf_counter() - start) / n


def bench_bare_wandb(n: int) -> float:
    import wandb

    start = time.perf_counter()
    for i in range(n):
        run = wandb.init(project="bench", config={"lr": 0.01, "layers": 2, "dropout": 0.1 * i})
        for step in range(10):
            wandb.log({"loss": 1.0 / (step + 1)})
        run.finish()
    return (time.perf_counter() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--wandb-runs", type=int, default=50, help="0: skip the wandb side")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    logging.disable(logging.WARNING)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ.update(
            WANDB_MODE="offline", WANDB_SILENT="true", WANDB_DISABLE_GIT="true", WANDB_DIR=tmp
        )
        os.chdir(tmp)

        # Interleave the two sides so that background load hits both alike.
        ls_times, op_times = [], []
        for i in range(args.repeats):
            ls_times.append(bench_localsweep(args.runs, root / f"ls{i}.db"))
            op_times.append(bench_optuna(args.runs, root / f"optuna{i}.db"))
        ls, op = statistics.median(ls_times), statistics.median(op_times)
        print(f"without wandb, {args.runs} runs, SQLite file (median of {args.repeats}):")
        print(f"  localsweep random     {ls * 1e3:8.3f} ms/run")
        print(f"  optuna RandomSampler  {op * 1e3:8.3f} ms/trial")
        print(f"  ratio localsweep/optuna = {ls / op:.3f}   (goal: at most 2 ms/run)")

        if args.wandb_runs <= 0:  # --wandb-runs 0: the store's side alone
            return
        import wandb

        wandb.setup()  # both sides share one wandb-core, started before timing
        bench_bare_wandb(2)  # warm up
        lw_times, bw_times = [], []
        for i in range(args.repeats):
            lw_times.append(bench_localsweep_wandb(args.wandb_runs, root / f"lsw{i}.db"))
            bw_times.append(bench_bare_wandb(args.wandb_runs))
        lw, bw = statistics.median(lw_times), statistics.median(bw_times)
        print(f"with wandb offline, {args.wandb_runs} runs of init + 10 logs + finish:")
        print(f"  localsweep            {lw * 1e3:8.2f} ms/run")
        print(f"  bare wandb loop       {bw * 1e3:8.2f} ms/run")
        print(f"  ratio localsweep/bare = {lw / bw:.3f}   (goal: at most 1.10)")


if __name__ == "__main__":
    main()
