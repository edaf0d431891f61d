"""Hyperband early termination: how much training it saves, and what it costs in the best result.

Stored learning curves are replayed through real localsweep sweeps: ``train()`` calls
``wandb.init()`` (real wandb, offline, in a temporary directory), reads the curve's index
from ``wandb.config`` and ``wandb.log``s the stored validation loss epoch by epoch. The same
runs, in the same order (a grid over the curve index), are swept without and with
``early_terminate``, and Optuna's ``HyperbandPruner`` replays the same curves in the same
order as the peer.

Two curve families:

- ``digits``: ``benchmarks/data/curves_digits.json``, real curves of an ``MLPClassifier``
  trained with ``partial_fit`` on scikit-learn's digits (``benchmarks/make_curves.py``).
- ``synthetic``: exponential decay towards an asymptote plus noise, with slow learners that
  overtake fast ones late (drawn here from a fixed seed).

What is measured, and what is not: localsweep's in-process agent runs one run at a time and
judges a run only when it logs the value that brings it to a band, against the runs that
reached that band before it (so the first runs face few peers). That is the mode measured
for ``localsweep`` rows. wandb's cloud controller instead re-checks every running run every
few seconds; with runs one after another there is never a second running run to re-check,
so it would decide the same. The ``lockstep`` rows are no sweep: they call the pure
``hyperband_stops`` (which matches wandb's engine) as if every run trained at once, one
epoch at a time, the most parallel case and the one hyperband is designed for.

Plateau stopping (``localsweep: {early_stopping: ...}``, each run judged on its own curve)
gets its own table per family, beside no early stopping, hyperband and Optuna's
``PatientPruner`` on the same curves (``_plateau_rows.py``).

    python benchmarks/hyperband.py [--quick] [--orders 20] [--curves digits,synthetic]
    python benchmarks/hyperband.py --only-plateau --curves digits
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _plateau_rows import bench_plateau

FIXTURE = Path(__file__).resolve().parent / "data" / "curves_digits.json"
METRIC = "val_loss"
#: The issue's goal: at least this many times fewer iterations ...
GOAL_RATIO = 2.0
#: ... with the best final metric within this relative distance of the full sweep's.
GOAL_REL = 0.01


@dataclass(frozen=True)
class Setting:
    """One way of running the sweep: an ``early_terminate`` block, or none."""

    label: str
    early_terminate: dict[str, Any] | None

    @property
    def eta(self) -> float:
        return float((self.early_terminate or {}).get("eta", 3))

    @property
    def min_iter(self) -> int:
        return int((self.early_terminate or {}).get("min_iter", 1))


def _hb(min_iter: int, eta: float, strict: bool) -> Setting:
    label = f"min_iter {min_iter}, eta {eta:g}, strict {str(strict).lower()}"
    return Setting(label, {"type": "hyperband", "min_iter": min_iter, "eta": eta, "strict": strict})


BASELINE = Setting("no early_terminate", None)
SETTINGS = [_hb(3, 3, True), _hb(3, 3, False), _hb(3, 2, True), _hb(3, 2, False)]


@dataclass(frozen=True)
class Outcome:
    """What one replay of every curve gave."""

    iterations: int
    stopped: int
    #: The best last value among runs that logged every epoch (NaN if none did).
    best_final: float
    #: The best value any run logged at any epoch.
    best_any: float
    seconds: float


def load_fixture(path: Path) -> tuple[list[list[float]], dict[str, Any]]:
    table = json.loads(path.read_text())
    return table["curves"], table


def synthetic_curves(n: int, epochs: int, seed: int) -> list[list[float]]:
    """Noisy exponential decays ``floor + (start - floor) * exp(-t / tau)``.

    Speed (``tau``) and the level reached (``floor``) are drawn independently, so a slow
    learner with a low floor overtakes fast learners with a high one, sometimes only late.
    The noise is relative (a few percent of the loss), as epoch-to-epoch jitter of a
    validation loss is, so that no single noisy epoch sets the best value.
    """
    rng = random.Random(seed)
    curves = []
    for _ in range(n):
        start = rng.uniform(1.5, 2.5)
        floor = rng.uniform(0.05, 0.5)
        tau = math.exp(rng.uniform(math.log(1.0), math.log(epochs / 2)))
        noise = rng.uniform(0.005, 0.03)
        curve = []
        for t in range(1, epochs + 1):
            value = floor + (start - floor) * math.exp(-t / tau)
            curve.append(round(value * (1.0 + rng.gauss(0.0, noise)), 5))
        curves.append(curve)
    return curves


def _summarize(histories: Sequence[Sequence[float]], epochs: int, seconds: float) -> Outcome:
    complete = [h[-1] for h in histories if len(h) >= epochs]
    return Outcome(
        iterations=sum(len(h) for h in histories),
        stopped=sum(1 for h in histories if len(h) < epochs),
        best_final=min(complete) if complete else math.nan,
        best_any=min(v for h in histories for v in h),
        seconds=seconds,
    )


def replay_localsweep(
    curves: Sequence[Sequence[float]],
    order: Sequence[int],
    setting: Setting,
    db: Path,
    early_stopping: dict[str, Any] | None = None,
) -> tuple[Outcome, list[int]]:
    """Sweep a grid over ``order``; each run logs its curve through real wandb. Returns the
    outcome and the epochs each curve trained, by curve index (read back from the store)."""
    import wandb

    import localsweep

    config: dict[str, Any] = {
        "method": "grid",
        "metric": {"name": METRIC, "goal": "minimize"},
        "parameters": {"index": {"values": list(order)}},
    }
    if setting.early_terminate is not None:
        config["early_terminate"] = setting.early_terminate
    if early_stopping is not None:
        config["localsweep"] = {"early_stopping": early_stopping}

    def train() -> None:
        run = wandb.init()
        for loss in curves[run.config["index"]]:
            run.log({METRIC: loss})
        run.finish()

    start = time.perf_counter()
    sweep = localsweep.run(config, train, count=None, db=str(db), project="hyperband-bench")
    seconds = time.perf_counter() - start
    histories = []
    trained = [0] * len(curves)
    stopped = 0
    for run in sweep.runs:
        history = [row[METRIC] for row in run.history() if METRIC in row]
        histories.append(history)
        trained[run.config["index"]] = len(history)
        stopped += run.state == "early_terminated"
        if run.state not in ("finished", "early_terminated"):
            raise RuntimeError(f"run {run.id} ended {run.state}: {run.error}")
    if len(histories) != len(order):
        raise RuntimeError(f"expected {len(order)} runs, the sweep has {len(histories)}")
    outcome = _summarize(histories, max(len(c) for c in curves), seconds)
    # A run stopped at a band equal to its last epoch trained fully (and counts as complete),
    # so there can be more stopped states than short runs, never fewer.
    if stopped < outcome.stopped:
        raise RuntimeError("a run logged fewer epochs than its curve without being stopped")
    return outcome, trained


def replay_optuna(
    curves: Sequence[Sequence[float]], order: Sequence[int], setting: Setting
) -> Outcome:
    """Optuna's HyperbandPruner with the same first rung, the same eta and the curve length
    as its largest resource; trials replay the curves in ``order``."""
    import optuna

    epochs = max(len(c) for c in curves)
    pruner = optuna.pruners.HyperbandPruner(
        min_resource=setting.min_iter, max_resource=epochs, reduction_factor=int(setting.eta)
    )
    study = optuna.create_study(
        study_name="hyperband-bench",
        direction="minimize",
        pruner=pruner,
        sampler=optuna.samplers.RandomSampler(seed=0),
    )
    for index in order:
        study.enqueue_trial({"index": index})

    def objective(trial: optuna.Trial) -> float:
        curve = curves[trial.suggest_int("index", 0, len(curves) - 1)]
        for epoch, loss in enumerate(curve, start=1):
            trial.report(loss, epoch)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return curve[-1]

    start = time.perf_counter()
    study.optimize(objective, n_trials=len(order))
    seconds = time.perf_counter() - start
    histories = [
        [t.intermediate_values[k] for k in sorted(t.intermediate_values)] for t in study.trials
    ]
    return _summarize(histories, epochs, seconds)


def replay_sequential(
    curves: Sequence[Sequence[float]], order: Sequence[int], setting: Setting
) -> list[int]:
    """The agent's rule without the agent: runs one after another in ``order``, each judged
    by the pure ``hyperband_stops`` when its count of values reaches a band, against every
    earlier run. Returns the epochs each curve trained, by curve index."""
    from localsweep.config import Goal
    from localsweep.records import RunState, RunView
    from localsweep.stopping import hyperband_stops, is_band_boundary

    hb = _hyperband(setting)
    done: list[RunView] = []
    trained = [0] * len(curves)
    for index in order:
        curve = curves[index]
        length = len(curve)
        for epoch in range(1, len(curve) + 1):
            if not is_band_boundary(hb, epoch):
                continue
            me = RunView("me", RunState.RUNNING, history=tuple(curve[:epoch]))
            if hyperband_stops(hb, Goal.MINIMIZE, [*done, me]):
                length = epoch
                break
        state = RunState.FINISHED if length == len(curve) else RunState.EARLY_TERMINATED
        done.append(RunView(str(index), state, history=tuple(curve[:length])))
        trained[index] = length
    return trained


def _hyperband(setting: Setting) -> Any:
    from localsweep.config import Hyperband

    et = setting.early_terminate or {}
    return Hyperband(
        min_iter=et.get("min_iter"), eta=et.get("eta", 3.0), strict=et.get("strict", True)
    )


def replay_lockstep(curves: Sequence[Sequence[float]], setting: Setting) -> Outcome:
    """Every run trains at once, epoch by epoch; after each epoch the pure hyperband rule
    (as wandb's controller applies it) stops runs. No sweep, no wandb: a bound, not a
    measurement of the agent."""
    from localsweep.config import Goal
    from localsweep.records import RunState, RunView
    from localsweep.stopping import hyperband_stops

    hb = _hyperband(setting)
    epochs = max(len(c) for c in curves)
    start = time.perf_counter()
    histories: list[list[float]] = [[] for _ in curves]
    running = set(range(len(curves)))
    for epoch in range(epochs):
        for i in running:
            histories[i].append(curves[i][epoch])
        views = [
            RunView(
                str(i),
                RunState.RUNNING if i in running else RunState.EARLY_TERMINATED,
                history=tuple(h),
            )
            for i, h in enumerate(histories)
        ]
        for decision in hyperband_stops(hb, Goal.MINIMIZE, views):
            running.discard(int(decision.run_id))
    return _summarize(histories, epochs, time.perf_counter() - start)


def _orders(n: int, count: int, seed: int) -> list[list[int]]:
    """The order of the fixture first, then shuffles of it."""
    orders = [list(range(n))]
    rng = random.Random(seed)
    for _ in range(count - 1):
        shuffled = list(range(n))
        rng.shuffle(shuffled)
        orders.append(shuffled)
    return orders


def _from_trained(curves: Sequence[Sequence[float]], trained: Sequence[int]) -> Outcome:
    histories = [curve[:n] for curve, n in zip(curves, trained, strict=True)]
    return _summarize(histories, max(len(c) for c in curves), 0.0)


def _rel(value: float, base: float) -> float:
    return (value - base) / abs(base) if math.isfinite(value) else math.inf


HEADER = (
    f"  {'who':<11}{'setting':<31}{'orders':>6} {'iters':>7} {'fewer':>6} {'(min-max)':>11} "
    f"{'stopped':>7} {'best final':>10} {'rel':>7} {'worst':>7} {'best any':>9} {'worst':>7}  goal"
)


def _row(who: str, label: str, outs: Sequence[Outcome], base: Outcome) -> tuple[str, str]:
    ratios = [base.iterations / o.iterations for o in outs]
    rel_final = [_rel(o.best_final, base.best_final) for o in outs]
    rel_any = [_rel(o.best_any, base.best_any) for o in outs]
    met = sum(
        1 for r, f in zip(ratios, rel_final, strict=True) if r >= GOAL_RATIO and f <= GOAL_REL
    )
    spread = f"{min(ratios):.2f}-{max(ratios):.2f}" if len(outs) > 1 else ""
    text = (
        f"  {who:<11}{label:<31}{len(outs):>6} "
        f"{statistics.median(o.iterations for o in outs):>7.0f} "
        f"{statistics.median(ratios):>5.2f}x {spread:>11} "
        f"{statistics.median(o.stopped for o in outs):>7.0f} "
        f"{statistics.median(o.best_final for o in outs):>10.5f} "
        f"{100 * statistics.median(rel_final):>+6.2f}% {100 * max(rel_final):>+6.2f}% "
        f"{statistics.median(o.best_any for o in outs):>9.5f} {100 * max(rel_any):>+6.2f}%  "
        f"{met}/{len(outs)}"
    )
    return text, f"{met}/{len(outs)}"


def bench_family(
    name: str,
    curves: Sequence[Sequence[float]],
    orders: Sequence[Sequence[int]],
    settings: Sequence[Setting],
    root: Path,
    *,
    optuna_peer: bool,
) -> list[tuple[str, str, str]]:
    """Print one family's table; return (family, row, orders meeting the goal) per row."""
    epochs = max(len(c) for c in curves)
    print(f"\n{name}: {len(curves)} curves x {epochs} epochs")
    print(HEADER)
    # Without early termination every run trains fully, so the order changes nothing.
    base, _ = replay_localsweep(curves, orders[0], BASELINE, root / f"{name}-base.db")
    print(
        f"  {'localsweep':<11}{BASELINE.label:<31}{1:>6} {base.iterations:>7} {1:>5.2f}x "
        f"{'':>11} {base.stopped:>7} {base.best_final:>10.5f} {'':>7} {'':>7} "
        f"{base.best_any:>9.5f}   ({base.seconds / len(curves):.2f} s/run)",
        flush=True,
    )
    verdicts = []
    for number, setting in enumerate(settings):
        real, trained = replay_localsweep(curves, orders[0], setting, root / f"{name}-{number}.db")
        # The pure replay must make the agent's decisions exactly before it may stand in
        # for the agent on the other orders.
        if replay_sequential(curves, orders[0], setting) != trained:
            raise RuntimeError(f"{name}, {setting.label}: the pure replay differs from the sweep")
        text, met = _row("localsweep", setting.label, [real], base)
        print(text, flush=True)
        verdicts.append((name, f"localsweep {setting.label} (real sweep)", met))
        if len(orders) > 1:
            outs = [_from_trained(curves, replay_sequential(curves, o, setting)) for o in orders]
            text, met = _row("  same rule", "", outs, base)
            print(text, flush=True)
            verdicts.append((name, f"localsweep {setting.label} ({len(orders)} orders)", met))
        if optuna_peer and setting.early_terminate and setting.early_terminate["strict"]:
            label = f"min_resource {setting.min_iter}, eta {setting.eta:g}"
            outs = [replay_optuna(curves, order, setting) for order in orders]
            text, met = _row("optuna", label, outs, base)
            print(text, flush=True)
            verdicts.append((name, f"optuna HyperbandPruner {label}", met))
    for setting in settings:
        text, _ = _row("lockstep", setting.label, [replay_lockstep(curves, setting)], base)
        print(text, flush=True)
    return verdicts


LEGEND = """\
localsweep: a real sweep (grid over the curve index in the fixture's order, in-process agent,
  real wandb offline). Runs go one at a time; a run is judged when it logs the value that
  brings it to a band, against the runs that reached that band before it, so early runs
  face few peers and are rarely stopped.
  same rule: the agent's rule replayed without wandb (pure hyperband_stops at band
  crossings, checked to stop exactly the runs the real sweep stopped) over the fixture's
  order and shuffles of it: how much the result depends on which runs come first.
optuna: HyperbandPruner(min_resource, max_resource=epochs, reduction_factor=eta), trials one
  at a time replaying the same orders (the pruner has no 'strict').
lockstep: no sweep, a bound: the pure rule applied after every epoch as if every run trained
  at the same time (wandb's cloud controller with all runs in parallel, the case hyperband is
  designed for). Sequential runs never have a second running run, so the controller's
  re-checks between bands would change nothing for the localsweep rows.
iters: logged epochs summed over runs (median over orders); fewer: the full sweep's iters over
  these; best final: best last-epoch loss among runs that trained every epoch; best any: best
  loss logged at any epoch; rel/worst: distance from the full sweep's value (median / worst
  order); goal: orders with >= {ratio:g}x fewer iters and best final within {rel:g}%."""


def _sweeper(
    curves: Sequence[Sequence[float]],
) -> Callable[[dict[str, Any] | None, dict[str, Any] | None, Path], tuple[list[int], float]]:
    """A real sweep over every curve in the fixture's order, with an ``early_terminate``
    and/or ``early_stopping`` block: the epochs each curve trained, and seconds per run."""

    def sweep(
        early_terminate: dict[str, Any] | None, early_stopping: dict[str, Any] | None, db: Path
    ) -> tuple[list[int], float]:
        setting = Setting("", early_terminate)
        order = list(range(len(curves)))
        outcome, trained = replay_localsweep(curves, order, setting, db, early_stopping)
        return trained, outcome.seconds / len(curves)

    return sweep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="27 curves per family, 5 orders")
    parser.add_argument(
        "--orders", type=int, default=20, help="orders for the pure replay and Optuna"
    )
    parser.add_argument("--curves", default="digits,synthetic", help="families, comma-separated")
    parser.add_argument("--fixture", type=Path, default=FIXTURE)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N curves")
    parser.add_argument("--no-optuna", action="store_true")
    parser.add_argument("--no-plateau", action="store_true", help="skip the plateau tables")
    parser.add_argument(
        "--only-plateau", action="store_true", help="only the plateau tables (no orders)"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.quick:
        args.orders = min(args.orders, 5)
        args.limit = args.limit or 27
    logging.disable(logging.WARNING)

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)

    digits, table = load_fixture(args.fixture)
    families: dict[str, list[list[float]]] = {}
    for name in args.curves.split(","):
        if name == "digits":
            families[name] = digits
        elif name == "synthetic":
            families[name] = synthetic_curves(len(digits), table["epochs"], args.seed)
        else:
            raise SystemExit(f"unknown curve family {name!r}")
    print(LEGEND.format(ratio=GOAL_RATIO, rel=100 * GOAL_REL))
    started = time.perf_counter()
    verdicts = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update(
            WANDB_MODE="offline", WANDB_SILENT="true", WANDB_DISABLE_GIT="true", WANDB_DIR=tmp
        )
        os.chdir(tmp)
        import wandb

        wandb.setup()
        for name, curves in families.items():
            if args.limit:
                curves = curves[: args.limit]
            if not args.only_plateau:
                orders = _orders(len(curves), args.orders, args.seed)
                verdicts += bench_family(
                    name, curves, orders, SETTINGS, Path(tmp), optuna_peer=not args.no_optuna
                )
            if not args.no_plateau:
                bench_plateau(
                    name,
                    curves,
                    _sweeper(curves),
                    Path(tmp),
                    dict(SETTINGS[0].early_terminate or {}),
                    optuna_peer=not args.no_optuna,
                )
    print(f"\ngoal: >= {GOAL_RATIO:g}x fewer iterations, best final within {100 * GOAL_REL:g}%")
    for name, label, met in verdicts:
        print(f"  {name:<10} {label:<56} met in {met} order(s)")
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
