"""The warm-start row of benchmarks/quality.py: what prior runs are worth to ``bayes``.

For each problem and seed, 20 runs of a random sweep are done first (last week's sweep,
in its own database; ``--prior-method bayes``: of a bayes sweep, as last week's sweep
more often is). Then, on a budget of 50 runs counted from the start:

- ``cold 50``: a new bayes sweep runs 50 runs (its first 30 are ``cold 30``, what the
  30 new runs would find without the priors; its first 40 are ``cold 40``, 10 random
  start-up runs and 30 from the model, as many model-guided runs as the warm sweep's);
- ``warm 20+30``: a new bayes sweep takes the 20 as prior runs (``old.db#SWEEP_ID``,
  read, matched and stored as a user's would be) and runs 30 more;
- ``optuna 50`` and ``optuna 20+30``: Optuna's ``TPESampler`` (its defaults), cold, and
  given the same 20 through ``study.add_trials`` and asked 30 more;
- ``wandb 50`` and ``wandb 20+30``: wandb's own engine (PyPI ``sweeps`` 0.3.0, run by
  ``/opt/sweeps-venv/bin/python`` as in the main table; left out when that is missing),
  cold, and told the same 20 as finished runs first, as W&B's controller passes
  ``prior_runs``, then asked 30 more.

All sweeps go through localsweep's real path (``localsweep.run``: store, agent, the
bayes sampler ``auto`` picks). Regret is the best noiseless value among the 50 minus the
optimum; the table shows the median over seeds. The issue's goal: warm at least as good
as cold, with 30 fewer new runs; the second table gives that ratio for each method, so
that localsweep's stands beside its peers' on the same problems and seeds. The third
counts the seeds whose best run ends within 0.01 of the optimum (its basin found) and
within 1e-4 (closed in on it), cold and warm: the median mixes the two.

    python benchmarks/quality.py --warm-start                # 10 seeds, both problems
    python benchmarks/quality.py --warm-start --seeds 3      # a quick look
    python benchmarks/quality.py --warm-start --prior-method bayes   # guided prior runs
"""

from __future__ import annotations

import logging
import math
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

PROBLEMS = ("hartmann6", "mixed8d")
PRIORS, NEW = 20, 30
#: The random start-up runs of a cold bayes sweep on these problems (6 and 8 params): the
#: numpy GP's twice the params, at most 10; Optuna's GPSampler's 10.
STARTUP = 10
COLUMNS = (
    "cold 30",
    "cold 40",
    "cold 50",
    "warm 20+30",
    "optuna 50",
    "optuna 20+30",
    "wandb 50",
    "wandb 20+30",
)
#: Each method's cold and warm column, for the warm / cold table.
PAIRS = {
    "localsweep": ("cold 50", "warm 20+30"),
    "optuna": ("optuna 50", "optuna 20+30"),
    "wandb": ("wandb 50", "wandb 20+30"),
}


def _problem(name: str) -> Any:
    from quality import problems

    return next(p for p in problems() if p.name == name)


def _train(problem: Any, seen: list[float]) -> Any:
    noise = random.Random(0)

    def train(config: dict[str, Any]) -> float:
        y = float(problem.observe(config, noise))
        seen.append(problem.true_value(config, y))
        return y

    return train


def _config(problem: Any, method: str, seed: int) -> dict[str, Any]:
    return {
        "method": method,
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": problem.parameters,
        "localsweep": {"seed": seed},
    }


def _optuna(
    problem: Any, seed: int, priors: list[tuple[dict[str, Any], float]], n: int
) -> list[float]:
    """The noiseless values of ``priors`` and of ``n`` more trials Optuna's TPE asks."""
    import optuna
    from optuna.trial import create_trial

    # The distributions a direct Optuna user's suggest_* calls make, read off a scratch
    # study that replays each prior's values.
    scratch = optuna.create_study()
    trials = []
    for params, y in priors:
        fixed = {**params}
        if "width" in fixed:
            fixed["width16"] = int(fixed.pop("width")) // 16
        scratch.enqueue_trial(fixed)
        trial = scratch.ask()
        problem.suggest(trial)
        scratch.tell(trial, y)
        frozen = scratch.trials[-1]
        trials.append(
            create_trial(params=frozen.params, distributions=frozen.distributions, value=y)
        )
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    study.add_trials(trials)
    noise, seen = random.Random(0), [problem.true_value(p, y) for p, y in priors]
    for _ in range(n):
        trial = study.ask()
        p = problem.suggest(trial)
        y = problem.observe(p, noise)
        study.tell(trial, y)
        seen.append(problem.true_value(p, y))
    return seen


def _wandb(
    problem: Any, seed: int, priors: list[tuple[dict[str, Any], float]], n: int
) -> list[float]:
    """The noiseless values of ``priors`` and of ``n`` more runs wandb's engine proposes."""
    from quality import run_wandb

    return [problem.true_value(p, y) for p, y in priors] + [
        truth for _, truth in run_wandb(problem, seed, n, priors)
    ]


def _first_within(seen: list[float], bound: float) -> int | None:
    """The number (from 1) of the first run whose noiseless value is under ``bound``."""
    return next((i + 1 for i, v in enumerate(seen) if v < bound), None)


def run_task(
    task: tuple[str, int, bool, str],
) -> tuple[str, int, dict[str, float], dict[str, int | None], float]:
    """One problem and seed: the best noiseless value each column found in 50 runs, and
    the run at which localsweep's cold and warm sweeps first came within ``CLOSE[0]``."""
    import localsweep

    name, seed, with_wandb, prior_method = task
    logging.getLogger("optuna").setLevel(logging.WARNING)
    problem = _problem(name)
    started = time.perf_counter()
    best: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        old_seen: list[float] = []
        old = localsweep.run(
            _config(problem, prior_method, 1000 + seed),
            _train(problem, old_seen),
            count=PRIORS,
            db=f"{tmp}/old.db",
        )
        priors = [(r.config, float(r.metric)) for r in old.runs if r.metric is not None]
        cold_seen: list[float] = []
        localsweep.run(
            _config(problem, "bayes", seed),
            _train(problem, cold_seen),
            count=PRIORS + NEW,
            db=f"{tmp}/cold.db",
        )
        best["cold 50"] = min(cold_seen)
        # bayes proposes without knowing the budget: the first 30 are a 30-run sweep.
        best["cold 30"] = min(cold_seen[:NEW])
        # 10 random start-up runs and then 30 from the model: as many model-guided runs
        # as the warm sweep makes, after fewer random ones.
        best["cold 40"] = min(cold_seen[: NEW + 10])
        warm_seen: list[float] = []
        warm = localsweep.run(
            _config(problem, "bayes", seed),
            _train(problem, warm_seen),
            count=NEW,
            db=f"{tmp}/warm.db",
            prior_runs=[f"{tmp}/old.db#{old.id}"],
        )
        assert len(warm.prior_runs) == PRIORS and len(warm.runs) == NEW
        best["warm 20+30"] = min(old_seen + warm_seen)
        basin = problem.optimum + CLOSE[0]
        reach = {
            "cold 50": _first_within(cold_seen, basin),
            "warm 20+30": _first_within(old_seen + warm_seen, basin),
        }
        best["optuna 50"] = min(_optuna(problem, seed, [], PRIORS + NEW))
        best["optuna 20+30"] = min(_optuna(problem, seed, priors, NEW))
        if with_wandb:
            best["wandb 50"] = min(_wandb(problem, seed, [], PRIORS + NEW))
            best["wandb 20+30"] = min(_wandb(problem, seed, priors, NEW))
    return name, seed, best, reach, time.perf_counter() - started


def warm_start(
    seeds: int, workers: int, only: Sequence[str] = (), prior_method: str = "random"
) -> dict[str, Any]:
    """Run the warm-start comparison and print its table; returns the figures."""
    from quality import ENGINE_PYTHON
    from scipy.stats import mannwhitneyu

    with_wandb = ENGINE_PYTHON.exists()
    if not with_wandb:
        print(f"{ENGINE_PYTHON} not found: leaving out wandb's engine", file=sys.stderr)
    columns = [c for c in COLUMNS if with_wandb or not c.startswith("wandb")]
    pairs = {m: p for m, p in PAIRS.items() if with_wandb or m != "wandb"}
    names = [n for n in PROBLEMS if not only or n in only]
    tasks = [(n, s, with_wandb, prior_method) for n in names for s in range(seeds)]
    found: dict[str, list[dict[str, float]]] = {n: [] for n in names}
    reached: dict[str, list[dict[str, int | None]]] = {n: [] for n in names}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for name, seed, best, reach, secs in pool.map(run_task, tasks):
            found[name].append(best)
            reached[name].append(reach)
            print(f"  done warm-start {name} seed {seed} in {secs:.1f}s", file=sys.stderr)
    print(
        f"\nWarm start: median regret after 50 runs ({PRIORS} {prior_method} prior runs + "
        f"{NEW} new, against 50 new), {seeds} seeds"
    )
    print(f"{'problem':<12}" + "".join(f"{c:>14}" for c in columns))
    report: dict[str, Any] = {}
    for name in names:
        optimum = _problem(name).optimum
        regret = {c: [b[c] - optimum for b in found[name]] for c in columns}
        med = {c: statistics.median(regret[c]) for c in columns}
        print(f"{name:<12}" + "".join(f"{med[c]:>14.4g}" for c in columns))
        report[name] = {"median_regret": med, "regret": regret, "warm_over_cold": {}}
    print(
        "\nwarm 20+30 / cold 50 (below 1: the prior runs saved 20 new runs and more); in "
        "brackets the 10-90% range of the ratio over seeds drawn again, the seeds where "
        "warm is at least as good, and the rank test's p (Mann-Whitney: could the two "
        "sets of regrets come from one method?)"
    )
    print(f"{'problem':<12}" + "".join(f"{m:>40}" for m in pairs))
    for name in names:
        regret = report[name]["regret"]
        cells = ""
        for method, (cold, warm) in pairs.items():
            ratio, low, high = _ratio_with_range(regret[cold], regret[warm])
            wins = sum(w <= c for c, w in zip(regret[cold], regret[warm], strict=True))
            p = float(mannwhitneyu(regret[warm], regret[cold]).pvalue)
            report[name]["warm_over_cold"][method] = {
                "ratio": ratio, "p10": low, "p90": high, "warm_wins": wins, "rank_test_p": p
            }  # fmt: skip
            verdict = "ok" if ratio <= 1 else "WORSE"
            cell = f"{ratio:.2f}x {verdict:<5} [{low:.2f}-{high:.2f}, {wins}/{seeds}, p={p:.2f}]"
            cells += cell.rjust(40)
        print(f"{name:<12}{cells}")
    _print_close(report, names, pairs, seeds)
    _print_reach(report, names, reached)
    return report


#: Regrets a seed's best run must be under to count as having found the optimum's basin
#: (a hundredth: Hartmann6's values span 3.3, mixed 8-d's about 20, and Hartmann6's
#: second-best minimum lies 0.12 above its best) and as having closed in on the optimum.
CLOSE = (1e-2, 1e-4)


def _print_close(
    report: dict[str, Any], names: Sequence[str], pairs: dict[str, tuple[str, str]], seeds: int
) -> None:
    """How many seeds end near the optimum, cold and warm: whether the warm sweep finds
    the optimum's basin as often, apart from how tightly it closes in (the median regret
    mixes the two, and a difference of 1e-4 is below the noise of any real metric)."""
    print(f"\nseeds (of {seeds}) whose best run is this near the optimum, cold 50 -> warm 20+30")
    print(f"{'problem':<12}{'within':>8}" + "".join(f"{m:>14}" for m in pairs))
    for name in names:
        regret = report[name]["regret"]
        near = {
            method: [[sum(r < t for r in regret[col]) for col in cols] for t in CLOSE]
            for method, cols in pairs.items()
        }
        report[name]["close"] = {"within": list(CLOSE), **near}
        for i, t in enumerate(CLOSE):
            cells = "".join(f"{near[m][i][0]} -> {near[m][i][1]}".rjust(14) for m in pairs)
            print(f"{name:<12}{t:>8g}{cells}")


def _print_reach(
    report: dict[str, Any], names: Sequence[str], reached: dict[str, list[dict[str, int | None]]]
) -> None:
    """When localsweep's sweeps reach the optimum's basin, and so how many runs each has
    left to close in: of the seeds where both do, the median run (counted from the start,
    prior runs included) that first comes within ``CLOSE[0]``, and how many model-guided
    runs got there (after the cold sweep's random start-up runs, after the warm sweep's
    prior runs)."""
    print(
        f"\nlocalsweep: the run that first comes within {CLOSE[0]:g} of the optimum, median "
        "over the seeds where cold 50 and warm 20+30 both do"
    )
    print(f"{'problem':<12}{'seeds':>7}{'cold 50':>10}{'warm 20+30':>12}{'guided runs to it':>22}")
    for name in names:
        both = [
            (r["cold 50"], r["warm 20+30"])
            for r in reached[name]
            if r["cold 50"] is not None and r["warm 20+30"] is not None
        ]
        if not both:
            print(f"{name:<12}{0:>7}{'-':>10}{'-':>12}{'-':>22}")
            continue
        cold = statistics.median(c for c, _ in both)
        warm = statistics.median(w for _, w in both)
        guided_cold = statistics.median(max(c - STARTUP, 0) for c, _ in both)
        guided_warm = statistics.median(max(w - PRIORS, 0) for _, w in both)
        report[name]["reach"] = {
            "within": CLOSE[0], "seeds": len(both), "cold_run": cold, "warm_run": warm,
            "cold_guided": guided_cold, "warm_guided": guided_warm,
        }  # fmt: skip
        guided = f"{guided_cold:g} -> {guided_warm:g}"
        print(f"{name:<12}{len(both):>7}{cold:>10g}{warm:>12g}{guided:>22}")


def _ratio_with_range(cold: list[float], warm: list[float]) -> tuple[float, float, float]:
    """The ratio of the medians, and its 10th and 90th percentiles over 2,000 bootstrap
    draws of the seeds (with replacement, a seed's cold and warm sweeps kept together).

    Regret at 50 runs spreads over orders of magnitude from seed to seed, so a median of
    10 seeds moves a lot: the range says how much of a ratio near 1 is the seeds'.
    """

    def ratio(c: list[float], w: list[float]) -> float:
        mc = statistics.median(c)
        return statistics.median(w) / mc if mc > 0 else float("nan")

    rng = random.Random(0)
    n = len(cold)
    draws = []
    for _ in range(2000):
        pick = [rng.randrange(n) for _ in range(n)]
        draws.append(ratio([cold[i] for i in pick], [warm[i] for i in pick]))
    draws = sorted(d for d in draws if not math.isnan(d)) or [float("nan")]
    return ratio(cold, warm), draws[len(draws) // 10], draws[len(draws) * 9 // 10]
