"""Multi-objective sweeps (``method: custom`` with ``metrics:``): how good a front, at what cost.

Quality: hypervolume (higher is better) after 50 and 100 runs, median over seeds, on

- ``zdt1``: ZDT1 with 5 variables, the standard two-objective problem with a known front
  (f2 = 1 - sqrt(f1)); reference point (1.1, 3.0), where the true front's hypervolume is
  1.1 * 3 - 1/3 = 2.9667 (100 runs do not get near it; the ranking is what counts);
- ``tree-digits``: a real one from scikit-learn: a decision tree on the digits data,
  validation error against model size (log2 of its leaves, divided by 10), four
  hyperparameters; reference point (1.0, 1.1).

Methods, each proposing without knowing the budget:

- ``ls-tpe``: what ``method: custom`` + ``metrics`` runs without user code (BayesSearch,
  TPE with one direction per metric), through ``propose`` as the agent calls it;
- ``optuna-tpe``: Optuna used directly with the same sampler
  (``TPESampler(multivariate=True, constant_liar=True, seed=...)``), ``study.optimize``;
- ``ls-nsga2``: a user's ``optimizer`` returning a study with ``NSGAIISampler``
  (population 20) through CustomSearch (``engine: optuna``);
- ``optuna-nsga2``: the same sampler in Optuna directly;
- ``random``: Optuna's RandomSampler, the floor.

Overhead: wall time per run of ``localsweep.run`` on a SQLite file, a ``train(config)``
that only returns its metrics, a two-metric ``method: custom`` sweep beside a one-metric
``method: bayes`` sweep (both TPE), same parameters and budget.

    python benchmarks/multiobjective.py --seeds 10        # about 10 minutes on 2 busy cores
    python benchmarks/multiobjective.py --seeds 3 --skip-overhead
"""

from __future__ import annotations

import argparse
import logging
import math
import random
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import optuna  # noqa: E402

from localsweep.config import parse_config  # noqa: E402
from localsweep.records import RunState, RunView  # noqa: E402
from localsweep.search._bayes import BayesSearch  # noqa: E402
from localsweep.search._custom import CustomSearch, UserStudy  # noqa: E402

BUDGETS = (50, 100)
METHODS = ("ls-tpe", "optuna-tpe", "ls-nsga2", "optuna-nsga2", "random")
POPULATION = 20

Point = tuple[float, float]


# --- problems --------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    name: str
    parameters: dict[str, Any]
    evaluate: Callable[[dict[str, Any]], Point]
    reference: Point
    #: Optuna's define-by-run version of ``parameters``.
    suggest: Callable[[optuna.Trial], dict[str, Any]]


ZDT_DIM = 5


def zdt1(p: dict[str, Any]) -> Point:
    x = [p[f"x{i}"] for i in range(ZDT_DIM)]
    f1 = x[0]
    g = 1 + 9 * sum(x[1:]) / (ZDT_DIM - 1)
    return f1, g * (1 - math.sqrt(f1 / g))


_DIGITS: Any = None


def tree_digits(p: dict[str, Any]) -> Point:
    global _DIGITS
    from sklearn.tree import DecisionTreeClassifier

    if _DIGITS is None:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        x, y = load_digits(return_X_y=True)
        _DIGITS = train_test_split(x, y, test_size=0.3, random_state=0)
    x_train, x_val, y_train, y_val = _DIGITS
    model = DecisionTreeClassifier(
        max_depth=p["max_depth"],
        min_samples_leaf=p["min_samples_leaf"],
        ccp_alpha=p["ccp_alpha"],
        criterion=p["criterion"],
        random_state=0,
    ).fit(x_train, y_train)
    error = 1.0 - float(model.score(x_val, y_val))
    return error, math.log2(model.get_n_leaves()) / 10


def problems() -> list[Problem]:
    zdt_params = {f"x{i}": {"min": 0.0, "max": 1.0} for i in range(ZDT_DIM)}
    tree_params = {
        "max_depth": {"min": 1, "max": 20},
        "min_samples_leaf": {"distribution": "q_log_uniform_values", "min": 1, "max": 64, "q": 1},
        "ccp_alpha": {"distribution": "log_uniform_values", "min": 1e-5, "max": 0.05},
        "criterion": {"values": ["gini", "entropy"]},
    }
    return [
        Problem(
            "zdt1",
            zdt_params,
            zdt1,
            (1.1, 3.0),
            lambda t: {f"x{i}": t.suggest_float(f"x{i}", 0.0, 1.0) for i in range(ZDT_DIM)},
        ),
        Problem(
            "tree-digits",
            tree_params,
            tree_digits,
            (1.0, 1.1),
            lambda t: {
                "max_depth": t.suggest_int("max_depth", 1, 20),
                "min_samples_leaf": t.suggest_int("min_samples_leaf", 1, 64, log=True),
                "ccp_alpha": t.suggest_float("ccp_alpha", 1e-5, 0.05, log=True),
                "criterion": t.suggest_categorical("criterion", ["gini", "entropy"]),
            },
        ),
    ]


# --- hypervolume -----------------------------------------------------------------


def hypervolume(points: Sequence[Point], reference: Point) -> float:
    """The area two minimized objectives' points dominate within ``reference``."""
    inside = sorted(p for p in points if p[0] < reference[0] and p[1] < reference[1])
    area, best_f2 = 0.0, reference[1]
    for i, (f1, f2) in enumerate(inside):
        if f2 < best_f2:
            best_f2 = f2
        next_f1 = inside[i + 1][0] if i + 1 < len(inside) else reference[0]
        area += (next_f1 - f1) * (reference[1] - best_f2)
    return area


# --- methods ---------------------------------------------------------------------

METRICS = [{"name": "f1", "goal": "minimize"}, {"name": "f2", "goal": "minimize"}]


def run_localsweep(problem: Problem, method: str, seed: int, budget: int) -> list[Point]:
    raw: dict[str, Any] = {
        "method": "custom",
        "metrics": METRICS,
        "parameters": problem.parameters,
        "localsweep": {"seed": seed},
    }
    if method == "ls-nsga2":
        raw["scheduler"] = {"engine": "optuna", "source": "s.py", "optimizer": "f"}
    config = parse_config(raw)
    if method == "ls-nsga2":
        sampler = optuna.samplers.NSGAIISampler(population_size=POPULATION, seed=seed)
        search: Any = CustomSearch(config, UserStudy(sampler=sampler))
    else:
        search = BayesSearch(config)
    runs: list[RunView] = []
    points = []
    for number in range(budget):
        # The agent's stream for run `number` of a sweep seeded `seed`.
        proposal = search.propose(runs, random.Random(f"localsweep:{seed}:{number}"))
        params = config.nest(proposal.params)
        f1, f2 = problem.evaluate(params)
        points.append((f1, f2))
        runs.append(
            RunView(
                id=f"r{number}",
                state=RunState.FINISHED,
                params=proposal.params,
                summary_data={"f1": f1, "f2": f2},
                search_info=dict(proposal.info),
            )
        )
    return points


def run_optuna(problem: Problem, method: str, seed: int, budget: int) -> list[Point]:
    if method == "optuna-tpe":
        sampler: optuna.samplers.BaseSampler = optuna.samplers.TPESampler(
            multivariate=True, constant_liar=True, seed=seed
        )
    elif method == "optuna-nsga2":
        sampler = optuna.samplers.NSGAIISampler(population_size=POPULATION, seed=seed)
    else:
        sampler = optuna.samplers.RandomSampler(seed=seed)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    points: list[Point] = []

    def objective(trial: optuna.Trial) -> tuple[float, float]:
        point = problem.evaluate(problem.suggest(trial))
        points.append(point)
        return point

    study.optimize(objective, n_trials=budget)
    return points


def quality(seeds: int, methods: Sequence[str], only: Sequence[str] = ()) -> None:
    print(f"Hypervolume (higher is better), median of {seeds} seeds; * best per row")
    header = f"{'problem':<12} {'runs':>5} " + " ".join(f"{m:>13}" for m in methods)
    print(header)
    for problem in problems():
        if only and problem.name not in only:
            continue
        results: dict[str, dict[int, list[float]]] = {m: {b: [] for b in BUDGETS} for m in methods}
        seconds: dict[str, float] = dict.fromkeys(methods, 0.0)
        for seed in range(seeds):
            for method in methods:
                started = time.perf_counter()
                if method.startswith("ls-"):
                    points = run_localsweep(problem, method, seed, max(BUDGETS))
                else:
                    points = run_optuna(problem, method, seed, max(BUDGETS))
                seconds[method] += time.perf_counter() - started
                for budget in BUDGETS:
                    results[method][budget].append(hypervolume(points[:budget], problem.reference))
        for budget in BUDGETS:
            medians = {m: statistics.median(results[m][budget]) for m in methods}
            top = max(medians.values())
            cells = " ".join(
                f"{medians[m]:>12.4f}{'*' if medians[m] == top else ' '}" for m in methods
            )
            print(f"{problem.name:<12} {budget:>5} {cells}")
        spread = {
            m: (min(results[m][max(BUDGETS)]), max(results[m][max(BUDGETS)])) for m in methods
        }
        print(
            f"{'':<12} {'range':>5} "
            + " ".join(f"{lo:>6.3f}-{hi:<6.3f}" for lo, hi in spread.values())
        )
        print(f"{'':<12} {'s/100':>5} " + " ".join(f"{seconds[m] / seeds:>13.2f}" for m in methods))
    sys.stdout.flush()


# --- overhead --------------------------------------------------------------------


def overhead(runs: int, repeats: int) -> None:
    import localsweep

    params = {"x": {"min": 0.0, "max": 1.0}, "y": {"min": 0.0, "max": 1.0}}

    def train(config: dict[str, Any]) -> dict[str, float]:
        return {"f1": config["x"], "f2": (1 - config["x"]) ** 2 + config["y"]}

    configs = {
        "one metric (bayes, tpe)": {
            "method": "bayes",
            "metric": {"name": "f1"},
            "parameters": params,
            "localsweep": {"sampler": "tpe"},
        },
        "two metrics (custom)": {"method": "custom", "metrics": METRICS, "parameters": params},
    }
    per_run: dict[str, float] = {}
    for name, config in configs.items():
        times = []
        for _ in range(repeats):
            with tempfile.TemporaryDirectory() as tmp:
                started = time.perf_counter()
                localsweep.run(config, train, count=runs, db=Path(tmp) / "db.db")
                times.append((time.perf_counter() - started) / runs)
        per_run[name] = statistics.median(times)
    one, two = per_run.values()
    print(f"\nPer-run cost of localsweep.run, {runs} runs on SQLite, median of {repeats}")
    for name, value in per_run.items():
        print(f"  {name:<26} {value * 1000:8.1f} ms/run")
    print(f"  ratio two/one: {two / one:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--problems", default="", help="comma-separated: zdt1,tree-digits")
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--skip-overhead", action="store_true")
    parser.add_argument("--overhead-runs", type=int, default=60)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("localsweep").setLevel(logging.WARNING)
    warnings.simplefilter("ignore")
    np.seterr(all="ignore")
    if not args.skip_quality:
        methods = [m for m in args.methods.split(",") if m]
        quality(args.seeds, methods, [p for p in args.problems.split(",") if p])
    if not args.skip_overhead:
        overhead(args.overhead_runs, 3)


if __name__ == "__main__":
    main()
