"""Plateau rows of ``hyperband.py``: per-run plateau stopping on the same stored curves.

Each setting is a real sweep (the curves replayed through ``wandb.init`` / ``wandb.log``,
real wandb offline) with ``localsweep: {early_stopping: {metric, threshold, patience}}``,
checked against the pure rule (:func:`localsweep.stopping.plateau_stop`). A run's rule
looks at no other run, so the order of runs changes nothing: one order is enough. Beside
it, Optuna's ``PatientPruner`` (wrapping no pruner) replays the same curves with the same
patience and ``min_delta``, and the table repeats no early stopping and hyperband.

Columns beyond the hyperband table's: ``best last`` is the best last-logged loss of any run,
stopped or not (with plateau stopping a stopped run has levelled off, and its last value is
the model it ends with), where ``best final`` counts only runs that trained every epoch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

METRIC = "val_loss"


@dataclass(frozen=True)
class PlateauSetting:
    """One plateau rule: improve by more than ``threshold`` within ``patience`` values."""

    threshold: float
    patience: int

    @property
    def label(self) -> str:
        return f"threshold {self.threshold:g}, patience {self.patience}"


#: The guide's own rule (threshold 0.01, patience 1), the issue's config example (patience
#: 3), and a cautious one (any new best resets the count; five values without one stop).
PLATEAU_SETTINGS = [PlateauSetting(0.01, 1), PlateauSetting(0.01, 3), PlateauSetting(0.0, 5)]


@dataclass(frozen=True)
class Row:
    """What one way of running gave on every curve."""

    iterations: int
    stopped: int
    best_last: float
    best_final: float
    best_any: float


def row_from(curves: Sequence[Sequence[float]], trained: Sequence[int]) -> Row:
    """The figures of a sweep whose run ``i`` logged the first ``trained[i]`` values."""
    histories = [list(c[:n]) for c, n in zip(curves, trained, strict=True)]
    epochs = max(len(c) for c in curves)
    complete = [h[-1] for h in histories if len(h) >= epochs]
    return Row(
        iterations=sum(len(h) for h in histories),
        stopped=sum(1 for h in histories if len(h) < epochs),
        best_last=min(h[-1] for h in histories if h),
        best_final=min(complete) if complete else math.nan,
        best_any=min(v for h in histories for v in h),
    )


def pure_plateau(curves: Sequence[Sequence[float]], setting: PlateauSetting) -> list[int]:
    """Epochs each curve trains under the rule alone (no wandb, no sweep)."""
    from localsweep.config import EarlyStopping
    from localsweep.stopping import plateau_stop

    spec = EarlyStopping(METRIC, threshold=setting.threshold, patience=setting.patience)
    trained = []
    for curve in curves:
        decision = plateau_stop(spec, curve)
        trained.append(decision.iteration if decision else len(curve))
    return trained


def optuna_patient(curves: Sequence[Sequence[float]], setting: PlateauSetting) -> list[int]:
    """Epochs each curve trains under ``PatientPruner(None, patience, min_delta=threshold)``.

    Optuna's rule differs: it prunes once the best of the last ``patience + 1`` values is
    worse than the best before them by more than ``min_delta`` (a tolerance on getting
    worse, where ours is the improvement required)."""
    import warnings

    import optuna

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    pruner = optuna.pruners.PatientPruner(
        None, patience=setting.patience, min_delta=setting.threshold
    )
    study = optuna.create_study(direction="minimize", pruner=pruner)
    for index in range(len(curves)):
        study.enqueue_trial({"index": index})
    trained = [0] * len(curves)

    def objective(trial: optuna.Trial) -> float:
        index = trial.suggest_int("index", 0, len(curves) - 1)
        curve = curves[index]
        for epoch, loss in enumerate(curve, start=1):
            trial.report(loss, epoch)
            trained[index] = epoch
            if trial.should_prune():
                raise optuna.TrialPruned()
        return curve[-1]

    study.optimize(objective, n_trials=len(curves))
    return trained


def _line(who: str, label: str, row: Row, base: Row, seconds: float | None = None) -> str:
    def rel(value: float, to: float) -> str:
        return f"{100 * (value - to) / abs(to):>+6.1f}%" if math.isfinite(value) else "     - "

    timing = f"   ({seconds:.2f} s/run)" if seconds is not None else ""
    return (
        f"  {who:<11}{label:<40}{row.iterations:>7} {base.iterations / row.iterations:>5.2f}x "
        f"{row.stopped:>7} {row.best_last:>9.5f} {rel(row.best_last, base.best_last)} "
        f"{row.best_final:>10.5f} {rel(row.best_final, base.best_final)} "
        f"{row.best_any:>9.5f} {rel(row.best_any, base.best_any)}{timing}"
    )


HEADER = (
    f"  {'who':<11}{'setting':<40}{'iters':>7} {'fewer':>6} {'stopped':>7} {'best last':>9} "
    f"{'rel':>7} {'best final':>10} {'rel':>7} {'best any':>9} {'rel':>7}"
)


def bench_plateau(
    name: str,
    curves: Sequence[Sequence[float]],
    sweep: Callable[[dict[str, Any] | None, dict[str, Any] | None, Path], tuple[list[int], float]],
    root: Path,
    hyperband: dict[str, Any],
    *,
    optuna_peer: bool,
    settings: Sequence[PlateauSetting] = PLATEAU_SETTINGS,
) -> None:
    """Print the plateau table of one curve family. ``sweep(early_terminate, early_stopping,
    db)`` runs a real sweep over every curve in order and returns the epochs each trained
    and the seconds per run."""
    print(f"\n{name}, plateau stopping (per run; one order, the rule ignores other runs)")
    print(HEADER)
    full, seconds = sweep(None, None, root / f"{name}-plateau-base.db")
    base = row_from(curves, full)
    print(_line("localsweep", "no early stopping", base, base, seconds), flush=True)
    trained, seconds = sweep(hyperband, None, root / f"{name}-plateau-hb.db")
    label = f"hyperband min_iter {hyperband['min_iter']}, eta {hyperband['eta']:g}"
    print(_line("localsweep", label, row_from(curves, trained), base, seconds), flush=True)
    for number, setting in enumerate(settings):
        early = {"metric": METRIC, "threshold": setting.threshold, "patience": setting.patience}
        trained, seconds = sweep(None, early, root / f"{name}-plateau-{number}.db")
        if trained != pure_plateau(curves, setting):
            raise RuntimeError(f"{name}, {setting.label}: the sweep differs from the pure rule")
        print(_line("localsweep", setting.label, row_from(curves, trained), base, seconds))
        if optuna_peer:
            peer = row_from(curves, optuna_patient(curves, setting))
            print(
                _line(
                    "optuna",
                    f"PatientPruner p {setting.patience}, d {setting.threshold:g}",
                    peer,
                    base,
                ),
                flush=True,
            )
    both = settings[1]
    early = {"metric": METRIC, "threshold": both.threshold, "patience": both.patience}
    trained, seconds = sweep(hyperband, early, root / f"{name}-plateau-both.db")
    print(
        _line("localsweep", f"hyperband + {both.label}", row_from(curves, trained), base, seconds),
        flush=True,
    )
