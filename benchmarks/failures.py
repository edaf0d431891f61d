"""Runs that fail: does ``method: bayes`` learn to stay away from the points that crash?

A training that runs out of memory at large batch sizes, or diverges to NaN at large
learning rates, is everyday tuning. wandb's engine imputes such runs (``metric.impute``,
``worst`` by default: the worst value seen) so that its GP learns the region is bad.
Optuna's samplers leave failed trials out, and so did localsweep's ``bayes`` before it
imputed them as wandb does: a sampler that learns nothing from a crash proposes into the
crashing region as often as random search, and the agent stops after
``max_consecutive_failures`` (5) failures in a row.

Two problems over wandb's distributions, each a smooth loss whose optimum lies near the
edge of the failing region (the best batch size is the largest that fits):

- ``oom``: ``lr`` (log, 1e-4..0.1), ``batch_size`` (int, 16..512), ``dropout`` (0..0.5);
  a run with ``batch_size >= 256`` raises (out of memory): about half the space;
- ``nan``: the same parameters; a run with ``lr > 0.03`` logs only NaN (diverged): about
  a sixth of the space in log scale, and where a naive model puts the optimum, since the
  loss falls with ``lr`` up to that edge.

Each method runs 30 runs per seed; the table gives the median over seeds of the failed
runs and of the best loss's regret:

- ``ls-gp-numpy`` / ``ls-gp`` / ``ls-tpe``: localsweep's ``bayes`` with ``sampler:``
  ``gp-numpy`` (what ``auto`` picks here), ``gp`` (Optuna's GPSampler; left out without
  PyTorch) and ``tpe``, with wandb's default ``impute: worst``;
- ``wandb-bayes``: wandb's own engine (PyPI ``sweeps`` 0.3.0 under
  ``/opt/sweeps-venv/bin/python``), told each failure as a ``failed`` run;
- ``optuna-tpe``: Optuna's ``TPESampler`` used directly, failures told as ``FAIL``;
- ``ls-random``: wandb's ``method: random``, for what chance gives.

    python benchmarks/failures.py              # 10 seeds, about 5 minutes on 2 cores
    python benchmarks/failures.py --seeds 3    # a quick look
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import random
import statistics
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from quality import ENGINE_PYTHON, wandb_engine  # noqa: E402

from localsweep.config import parse_config  # noqa: E402
from localsweep.records import RunState, RunView  # noqa: E402
from localsweep.search import make_search  # noqa: E402

RUNS = 30
METHODS = ("ls-gp-numpy", "ls-gp", "ls-tpe", "wandb-bayes", "optuna-tpe", "ls-random")
PARAMETERS: dict[str, Any] = {
    "lr": {"distribution": "log_uniform_values", "min": 1e-4, "max": 0.1},
    "batch_size": {"distribution": "int_uniform", "min": 16, "max": 512},
    "dropout": {"distribution": "uniform", "min": 0.0, "max": 0.5},
}


def loss(p: dict[str, Any]) -> float:
    """Smooth, lowest at lr 0.02, batch_size 240, dropout 0.2 (0.0 there)."""
    return (
        (math.log10(p["lr"]) - math.log10(0.02)) ** 2
        + ((p["batch_size"] - 240) / 200) ** 2
        + (p["dropout"] - 0.2) ** 2
    )


def fails(problem: str, p: dict[str, Any]) -> bool:
    if problem == "oom":
        return bool(p["batch_size"] >= 256)
    return bool(p["lr"] > 0.03)


def _config(method: str, seed: int) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "method": "random" if method == "ls-random" else "bayes",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": PARAMETERS,
    }
    if method.startswith("ls-"):
        sampler = "auto" if method == "ls-random" else method[3:]
        cfg["localsweep"] = {"sampler": sampler, "seed": seed}
    return cfg


def run_localsweep(problem: str, method: str, seed: int) -> list[float | None]:
    """The loss of each of ``RUNS`` runs (``None``: failed), proposed by localsweep's
    search as the agent asks it: every run so far, the failed ones as the agent records
    them (an out-of-memory run ``failed``; a NaN run ``finished``, its metric NaN)."""
    search = make_search(parse_config(_config(method, seed)))
    runs: list[RunView] = []
    out: list[float | None] = []
    for i in range(RUNS):
        proposal = search.propose(runs, random.Random(seed * 100_003 + i))
        assert proposal is not None
        p = {path[0]: v for path, v in proposal.params.items()}
        params = dict(proposal.params)
        if not fails(problem, p):
            y = loss(p)
            out.append(y)
            runs.append(RunView(str(i), RunState.FINISHED, params, (y,), y))
        elif problem == "oom":
            out.append(None)
            runs.append(RunView(str(i), RunState.FAILED, params))
        else:
            out.append(None)
            runs.append(RunView(str(i), RunState.FINISHED, params, (math.nan,), math.nan))
    return out


def run_optuna(problem: str, seed: int) -> list[float | None]:
    import optuna

    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    out: list[float | None] = []
    for _ in range(RUNS):
        trial = study.ask()
        p = {
            "lr": trial.suggest_float("lr", 1e-4, 0.1, log=True),
            "batch_size": trial.suggest_int("batch_size", 16, 512),
            "dropout": trial.suggest_float("dropout", 0.0, 0.5),
        }
        if fails(problem, p):
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            out.append(None)
        else:
            y = loss(p)
            study.tell(trial, y)
            out.append(y)
    return out


def run_wandb(problem: str, seed: int) -> list[float | None]:
    out: list[float | None] = []
    with wandb_engine() as ask:
        ask({"op": "start", "config": _config("wandb-bayes", seed), "seed": seed})
        for _ in range(RUNS):
            p = ask({"op": "next"})["params"]
            if fails(problem, p):
                ask({"op": "tell", "params": p, "state": "failed"})
                out.append(None)
            else:
                y = loss(p)
                ask({"op": "tell", "params": p, "value": y})
                out.append(y)
    return out


def run_task(task: tuple[str, str, int]) -> tuple[str, str, int, list[float | None]]:
    problem, method, seed = task
    logging.getLogger("optuna").setLevel(logging.WARNING)
    if method == "wandb-bayes":
        return problem, method, seed, run_wandb(problem, seed)
    if method == "optuna-tpe":
        return problem, method, seed, run_optuna(problem, seed)
    return problem, method, seed, run_localsweep(problem, method, seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    from localsweep.search._bayes import torch_available

    methods = [m for m in METHODS if m != "wandb-bayes" or ENGINE_PYTHON.exists()]
    if "wandb-bayes" not in methods:
        print(f"{ENGINE_PYTHON} not found: leaving out wandb's engine", file=sys.stderr)
    if not torch_available():
        methods.remove("ls-gp")  # Optuna's GPSampler needs PyTorch
    tasks = [(pr, m, s) for pr in ("oom", "nan") for m in methods for s in range(args.seeds)]
    traces: dict[tuple[str, str], list[list[float | None]]] = {}
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for problem, method, _seed, trace in pool.map(run_task, tasks):
            traces.setdefault((problem, method), []).append(trace)
    print(f"\nFailed runs of {RUNS} and regret of the best run: median over {args.seeds} seeds")
    print(f"{'problem':<9}{'method':<13}{'failed':>8}{'of guided':>11}{'regret':>12}")
    report: dict[str, Any] = {}
    for problem in ("oom", "nan"):
        for method in methods:
            runs = traces[(problem, method)]
            failed = statistics.median(sum(v is None for v in t) for t in runs)
            # After the first 10 runs, where every sampler here has left its random start.
            guided = statistics.median(sum(v is None for v in t[10:]) for t in runs)
            regret = statistics.median(
                min((v for v in t if v is not None), default=math.inf) for t in runs
            )
            report[f"{problem}/{method}"] = {
                "failed": failed,
                "failed_guided": guided,
                "regret": regret,
            }
            print(f"{problem:<9}{method:<13}{failed:>8g}{guided:>11g}{regret:>12.4g}")
    print("\nratio of failed runs, localsweep (gp-numpy, what auto picks) / peer:")
    for problem in ("oom", "nan"):
        ours = report[f"{problem}/ls-gp-numpy"]["failed"]
        cells = []
        for peer in ("wandb-bayes", "optuna-tpe", "ls-random"):
            key = f"{problem}/{peer}"
            if key in report and report[key]["failed"]:
                cells.append(f"{peer} {ours / report[key]['failed']:.2f}x")
        print(f"  {problem}: " + ", ".join(cells))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
