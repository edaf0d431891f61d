"""localsweep's numpy GP with agents in parallel: proposals made while others run.

Each round asks ``--batch`` proposals in a row, every one with the earlier ones of the
round still running (what parallel agents see: the GP takes running runs as constant
liars), then tells them all; ``--rounds`` rounds per seed. The peer, in the same run:
Optuna's ``TPESampler(multivariate=True, constant_liar=True)`` (what localsweep's TPE
is) asked the same way. Prints the median regret over seeds (the best noiseless value
found, minus the optimum) and the GP's ratio to TPE.

    python benchmarks/gp_batch.py                        # 20 seeds, batches of 4, 12 rounds
    python benchmarks/gp_batch.py --seeds 5 --problems branin
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

SAMPLERS = ("gp-numpy", "tpe")


def run_task(task: tuple[str, str, int, int, int]) -> tuple[str, str, float]:
    """One sampler, problem and seed: the regret after ``rounds`` batches of ``batch``."""
    import optuna
    from quality import problems

    from localsweep.search._gp import NumpyGPSampler

    sampler_name, problem_name, seed, batch, rounds = task
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    problem = next(p for p in problems() if p.name == problem_name)
    if sampler_name == "gp-numpy":
        sampler: optuna.samplers.BaseSampler = NumpyGPSampler(seed=seed)
    else:
        sampler = optuna.samplers.TPESampler(multivariate=True, constant_liar=True, seed=seed)
    study = optuna.create_study(sampler=sampler)
    noise, seen = random.Random(seed + 10_000), []
    for _ in range(rounds):
        trials = [study.ask() for _ in range(batch)]
        # Every proposal of the round before any is told: Optuna samples a trial's
        # params at its first suggest call, so each sees the round's earlier ones
        # running with their params, as an agent sees the others' runs.
        asked = [problem.suggest(trial) for trial in trials]
        for trial, params in zip(trials, asked, strict=True):
            y = problem.observe(params, noise)
            study.tell(trial, y)
            seen.append(problem.true_value(params, y))
    return sampler_name, problem_name, min(seen) - problem.optimum


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--batch", type=int, default=4, help="proposals per round")
    parser.add_argument("--rounds", type=int, default=12)
    parser.add_argument("--problems", default="branin,hartmann6,mixed8d,noisy-hartmann3")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    names = [p for p in args.problems.split(",") if p]
    tasks = [
        (s, p, seed, args.batch, args.rounds)
        for p in names
        for s in SAMPLERS
        for seed in range(args.seeds)
    ]
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        results = list(pool.map(run_task, tasks))
    runs = args.batch * args.rounds
    print(
        f"Median regret after {runs} runs in batches of {args.batch} "
        f"({args.batch - 1} running runs per last proposal), {args.seeds} seeds"
    )
    print(f"{'problem':<18}{'gp-numpy':>12}{'tpe':>12}{'gp/tpe':>9}")
    for name in names:
        med = {
            s: statistics.median(r for ss, p, r in results if ss == s and p == name)
            for s in SAMPLERS
        }
        ratio = med["gp-numpy"] / med["tpe"] if med["tpe"] > 0 else float("nan")
        print(f"{name:<18}{med['gp-numpy']:>12.4g}{med['tpe']:>12.4g}{ratio:>8.2f}x")


if __name__ == "__main__":
    main()
