"""Parameter importance as W&B's panel shows it, plus fANOVA, from Optuna's evaluators."""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from localsweep.report._extra import require
from localsweep.report._study import ParamAxis, quiet_optuna, sweep_study

if TYPE_CHECKING:
    import optuna

    from localsweep.api import Sweep

__all__ = ["ParamImportance", "parameter_importance"]

logger = logging.getLogger(__name__)

#: fANOVA's cost grows with the forest's size and with the distinct values it splits on, so
#: it is fitted on a seeded sample of at most this many runs, with a smaller forest than
#: Optuna's default (64 trees of depth 64): on a 1,000-run sweep that takes 0.5 s instead of
#: tens of seconds and ranks the parameters the same way.
FANOVA_SAMPLE = 500
#: W&B's importance forest; half Optuna's default of 64 trees, for 5,000-run sweeps.
FOREST_TREES = 32
FANOVA_TREES = 16
FANOVA_DEPTH = 6
SEED = 0
#: Metric values beyond this size overflow the forests' variance sums (1e308 squared is
#: inf, and fANOVA then fails an assertion): such runs are left out of importance.
LARGEST_VALUE = 1e100


@dataclass(frozen=True)
class ParamImportance:
    """How much one parameter matters to the sweep metric.

    ``importance`` is the share of a random forest's impurity decrease that splits on the
    parameter (W&B's "importance"; the shares of all parameters sum to 1). ``correlation``
    is Pearson's r between the parameter (its logarithm on log-scale parameters) and the
    metric, signed: positive means larger values go with a larger metric; ``None`` for a
    categorical parameter, which has no order. ``fanova`` is Optuna's fANOVA share of the
    metric's variance (also summing to 1). Each is ``None`` when too few runs have a metric.
    """

    name: str
    importance: float | None
    correlation: float | None
    fanova: float | None


def _evaluate(
    study: optuna.Study, params: list[str], evaluator: optuna.importance.BaseImportanceEvaluator
) -> dict[str, float]:
    import optuna

    with quiet_optuna():
        try:
            found = optuna.importance.get_param_importances(
                study, evaluator=evaluator, params=params, normalize=True
            )
        except (ValueError, ArithmeticError, RuntimeError, AssertionError) as exc:
            # Importance is an aid: whatever the evaluator cannot take, the command goes on.
            logger.info("parameter importance could not be computed: %s", exc)
            return {}
    return {name: float(v) for name, v in found.items() if math.isfinite(float(v))}


def _correlation(study: optuna.Study, axis: ParamAxis) -> float | None:
    from optuna.trial import TrialState

    if axis.categorical and not axis.numbers_only:
        return None  # choices with no order (text, lists, mixed)
    xs: list[float] = []
    ys: list[float] = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        if axis.name not in trial.params or trial.value is None:
            continue
        x = float(trial.params[axis.name])
        if axis.log:
            x = math.log10(x)
        xs.append(x)
        ys.append(float(trial.value))
    if len(xs) < 2 or np.std(xs) == 0 or np.std(ys) == 0:
        return None
    return float(np.corrcoef(xs, ys)[0, 1])


def importance_of_study(study: optuna.Study, axes: list[ParamAxis]) -> list[ParamImportance]:
    """:func:`parameter_importance` for a study built by ``sweep_study``."""
    require("sklearn", "parameter importance")
    import optuna
    from optuna.trial import TrialState

    varying = [a.name for a in axes if a.varies]
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    huge = [t for t in complete if t.value is not None and abs(t.value) > LARGEST_VALUE]
    if huge:
        logger.warning(
            "parameter importance leaves out %d run(s) whose metric is beyond ±%g (such as "
            "%g): the importance estimators cannot take values that large",
            len(huge),
            LARGEST_VALUE,
            huge[0].value,
        )
        complete = [t for t in complete if t not in huge]
        with quiet_optuna():
            study = optuna.create_study(direction=study.direction)
            study.add_trials(complete)
    forest: dict[str, float] = {}
    fanova: dict[str, float] = {}
    if varying and len(complete) >= 2:
        forest = _evaluate(
            study,
            varying,
            optuna.importance.MeanDecreaseImpurityImportanceEvaluator(
                n_trees=FOREST_TREES, seed=SEED
            ),
        )
        fanova_study = study
        if len(complete) > FANOVA_SAMPLE:
            sample = random.Random(SEED).sample(complete, FANOVA_SAMPLE)
            with quiet_optuna():
                fanova_study = optuna.create_study(direction=study.direction)
                fanova_study.add_trials(sample)
        fanova = _evaluate(
            fanova_study,
            varying,
            optuna.importance.FanovaImportanceEvaluator(
                n_trees=FANOVA_TREES, max_depth=FANOVA_DEPTH, seed=SEED
            ),
        )
    rows = [
        ParamImportance(
            name=axis.parameter.name,
            importance=forest.get(axis.name) if axis.varies else None,
            correlation=_correlation(study, axis),
            fanova=fanova.get(axis.name) if axis.varies else None,
        )
        for axis in axes
    ]
    return sorted(rows, key=lambda r: (r.importance is None, -(r.importance or 0.0), r.name))


def parameter_importance(sweep: Sweep) -> list[ParamImportance]:
    """Each searchable parameter's importance to the sweep metric, most important first.

    Computed on the runs that finished or were stopped early with a finite metric.

    >>> for row in parameter_importance(sweep):            # doctest: +SKIP
    ...     print(row.name, row.importance, row.correlation, row.fanova)
    """
    study, axes = sweep_study(sweep)
    return importance_of_study(study, axes)
