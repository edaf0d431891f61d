"""What each run tells ``method: bayes``'s study: its state, the value that counts (as
wandb's engine takes it), and the value imputed for a run that failed (the metric's
``impute`` rule, as wandb's engine imputes). Pure: runs in, outcomes out."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from optuna.storages import BaseStorage
from optuna.study import StudyDirection
from optuna.trial import TrialState

from localsweep.config import Goal, Metric
from localsweep.records import RunState, RunView
from localsweep.search._multi import objective_values

__all__ = [
    "RunOutcome",
    "directions",
    "impute",
    "multi_outcome",
    "outcome_of",
    "run_outcome",
    "tell_end",
    "worst_values",
]


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(float(v))


@dataclass(frozen=True)
class RunOutcome:
    """What one run tells the sampler: an Optuna state, the metric value of a complete
    run, and the finite intermediate values (step, value) of a pruned one."""

    state: TrialState
    value: float | None = None
    intermediate: tuple[tuple[int, float], ...] = ()
    #: One value per objective of a complete run of a multi-objective sweep.
    values: tuple[float, ...] | None = None
    #: A run that failed, or finished without a finite value of the metric: ``bayes``
    #: tells the study a value for it by the metric's ``impute`` rule (see
    #: :func:`impute`), so the sampler stays away from points that crash or diverge.
    imputable: bool = False
    #: The last and the best finite value an imputable run logged (``impute: latest`` /
    #: ``best``), if any.
    latest: float | None = None
    best: float | None = None

    @property
    def told(self) -> list[float] | None:
        """The values Optuna is told for this run, if any."""
        if self.values is not None:
            return list(self.values)
        return [self.value] if self.value is not None else None


# Runs whose point is taken but not yet told: the sampler sees them as running trials.
_PENDING = frozenset({RunState.RUNNING, RunState.PREEMPTED})


def run_outcome(run: RunView, metric: Metric) -> RunOutcome:
    """Which value of ``run`` counts, as wandb's engine takes it.

    A finished run counts with the best finite value it logged by the metric's goal,
    history and summary together. One that logged none, and a failed run (the training
    raised or exited non-zero: out of memory, a NaN check), fail *imputable*: ``bayes``
    tells the study a value for them (see :func:`impute`), as wandb's engine does.
    Crashed and killed runs fail (the agent died, the user stopped them: nothing about
    their point, which runs again); running runs are running, so the sampler avoids
    proposing the same point twice, and so are preempted ones, which wait to be resumed
    with the same point (wandb's engine counts them among its pending runs too); runs
    hyperband stopped are pruned with what they logged, in order.
    """
    if run.state in _PENDING:
        return RunOutcome(TrialState.RUNNING)
    if run.state is RunState.EARLY_TERMINATED:
        steps = tuple((i, float(v)) for i, v in enumerate(run.history) if _finite(v))
        return RunOutcome(TrialState.PRUNED, intermediate=steps)
    if run.state not in (RunState.FINISHED, RunState.FAILED):
        return RunOutcome(TrialState.FAIL)
    seen = [float(v) for v in (*run.history, run.summary) if v is not None and _finite(v)]
    best = (max(seen) if metric.goal is Goal.MAXIMIZE else min(seen)) if seen else None
    if run.state is RunState.FAILED or best is None:
        logged = [float(v) for v in run.history if _finite(v)]
        return RunOutcome(
            TrialState.FAIL, imputable=True, latest=logged[-1] if logged else None, best=best
        )
    return RunOutcome(TrialState.COMPLETE, value=best)


def multi_outcome(run: RunView, metrics: Sequence[Metric]) -> RunOutcome:
    """What a run of a multi-objective sweep tells the study: a finished run its value of
    every objective (read from its summary), or FAIL when one is missing; a run stopped
    early (hyperband, a plateau, a pruner) its values too when it has every one, as
    ``Sweep.pareto_runs`` counts it (Optuna's multi-objective samplers ignore pruned
    trials, so a PRUNED one would teach the search nothing), else PRUNED with no values
    (Optuna cannot prune a multi-objective trial); other states as :func:`run_outcome`."""
    if run.state in _PENDING:
        return RunOutcome(TrialState.RUNNING)
    if run.state is RunState.EARLY_TERMINATED:
        stopped = objective_values(run.summary_data, metrics)
        if stopped is None:
            return RunOutcome(TrialState.PRUNED)
        return RunOutcome(TrialState.COMPLETE, values=stopped)
    if run.state is RunState.FAILED:
        return RunOutcome(TrialState.FAIL, imputable=True)
    if run.state is not RunState.FINISHED:
        return RunOutcome(TrialState.FAIL)
    values = objective_values(run.summary_data, metrics)
    if values is None:
        return RunOutcome(TrialState.FAIL, imputable=True)
    return RunOutcome(TrialState.COMPLETE, values=values)


def outcome_of(run: RunView, metrics: Sequence[Metric]) -> RunOutcome:
    """:func:`run_outcome` for one metric, :func:`multi_outcome` for several."""
    if len(metrics) == 1:
        return run_outcome(run, metrics[0])
    return multi_outcome(run, metrics)


def worst_values(
    outcomes: Sequence[RunOutcome], metrics: Sequence[Metric]
) -> tuple[float, ...] | None:
    """The worst value of each objective among the complete runs' (imputed ones aside),
    by its goal; ``None`` before any run is complete."""
    told = [o.told for o in outcomes if o.state is TrialState.COMPLETE and not o.imputable]
    if not told:
        return None
    columns = zip(*(t for t in told if t is not None), strict=True)
    return tuple(
        min(col) if m.goal is Goal.MAXIMIZE else max(col)
        for m, col in zip(metrics, columns, strict=True)
    )


def impute(
    outcome: RunOutcome, worst: tuple[float, ...] | None, metrics: Sequence[Metric]
) -> RunOutcome:
    """What ``bayes`` tells the study for ``outcome``: an imputable failure becomes a
    complete trial with the value of the metric's ``impute`` rule, as wandb's engine
    imputes failed runs. ``worst`` (the default): the worst value of the sweep's complete
    runs; ``latest`` / ``best``: the last / best finite value the run logged, else the
    worst. Before any run is complete there is nothing to impute from: it stays failed."""
    if not outcome.imputable or worst is None:
        return outcome
    if len(metrics) > 1:
        return RunOutcome(TrialState.COMPLETE, values=worst, imputable=True)
    rule = metrics[0].impute
    own = outcome.latest if rule == "latest" else outcome.best if rule == "best" else None
    value = own if own is not None else worst[0]
    return RunOutcome(
        TrialState.COMPLETE,
        value=value,
        imputable=True,
        latest=outcome.latest,
        best=outcome.best,
    )


def directions(metrics: Sequence[Metric]) -> list[StudyDirection]:
    """One Optuna direction per metric, from its goal."""
    return [
        StudyDirection.MAXIMIZE if m.goal is Goal.MAXIMIZE else StudyDirection.MINIMIZE
        for m in metrics
    ]


def tell_end(storage: BaseStorage, trial_id: int, outcome: RunOutcome) -> None:
    """Move a running trial of ``storage`` to ``outcome``'s end, with its intermediate
    values: the one change Optuna allows a trial once it is in a study."""
    for step, value in outcome.intermediate:
        storage.set_trial_intermediate_value(trial_id, step, value)
    storage.set_trial_state_values(trial_id, outcome.state, outcome.told)
