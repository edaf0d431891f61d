"""A sweep as an Optuna study: the one shape that Optuna's importance evaluators, its plots
and ``optuna-dashboard`` all read.

Each searchable parameter becomes an Optuna distribution whose bounds hold every value the
runs actually got (wandb's quantized and normal distributions can land outside
``min``/``max``), and each run becomes a trial, in run order, so that trial numbers are
run numbers.
"""

from __future__ import annotations

import contextlib
import html
import json
import logging
import math
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Literal

from localsweep.config import (
    Distribution,
    Goal,
    Metric,
    Parameter,
    SweepConfig,
    whole_floats_as_ints,
)
from localsweep.records import RESULT_STATES, RunState
from localsweep.report._params import is_number
from localsweep.report._silent import run_runtime

if TYPE_CHECKING:
    import optuna

    from localsweep.api import Run, Sweep

__all__ = [
    "LOG_DISTRIBUTIONS",
    "ParamAxis",
    "analysis_points",
    "logged_values",
    "metric_values",
    "param_axes",
    "plotly_text",
    "quiet_optuna",
    "sweep_study",
]

logger = logging.getLogger(__name__)

#: The distributions whose values spread over orders of magnitude: shown on log axes.
LOG_DISTRIBUTIONS = frozenset(
    {
        Distribution.LOG_UNIFORM,
        Distribution.LOG_UNIFORM_VALUES,
        Distribution.Q_LOG_UNIFORM,
        Distribution.Q_LOG_UNIFORM_VALUES,
        Distribution.INV_LOG_UNIFORM,
        Distribution.INV_LOG_UNIFORM_VALUES,
    }
)

_CATEGORICAL = frozenset({Distribution.CATEGORICAL, Distribution.CATEGORICAL_W_PROBABILITIES})


_MISSING = object()


@dataclass(frozen=True)
class ParamAxis:
    """One searchable parameter as the report and Optuna see it.

    ``encode`` turns a run's value into the value Optuna stores (categorical values that are
    not plain scalars become their JSON text); ``label`` is ``encode`` made safe for text
    that plotly renders (it reads ``<b>`` and ``&lt;`` as markup).
    """

    parameter: Parameter
    name: str
    distribution: optuna.distributions.BaseDistribution
    categorical: bool
    log: bool
    encode: Callable[[Any], Any]

    @property
    def numbers_only(self) -> bool:
        """Whether a categorical parameter's choices are all numbers (``values: [16, 32,
        64]``): W&B draws and correlates such a parameter as the numeric config value it
        is, and so does the report."""
        choices = getattr(self.distribution, "choices", ())
        return bool(choices) and all(
            isinstance(c, (int, float)) and not isinstance(c, bool) and math.isfinite(c)
            for c in choices
        )

    @property
    def varies(self) -> bool:
        """Whether the runs saw more than one value (importance needs that)."""
        return not self.distribution.single()


@contextlib.contextmanager
def quiet_optuna() -> Iterator[None]:
    """Silence Optuna's INFO lines ("A new study created...") and experimental warnings for
    the studies built here, then put its verbosity back: they are ours, not the user's."""
    import optuna

    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        optuna.logging.set_verbosity(before)


def _json_text(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _lookup(nested: Mapping[str, Any], parameter: Parameter) -> Any:
    node: Any = nested
    for key in parameter.path:
        if not isinstance(node, Mapping) or key not in node:
            return _MISSING
        node = node[key]
    return node


def plotly_text(value: Any) -> Any:
    """``value`` with ``&``, ``<`` and ``>`` as entities when it is text, so that plotly
    shows it as written instead of reading it as markup."""
    return html.escape(value, quote=False) if isinstance(value, str) else value


def _categorical_encoder(observed: Iterable[Any], safe: bool) -> Callable[[Any], Any]:
    # A run gets a whole float as the int it equals (``values: [2.0]`` runs with ``2``, as
    # W&B's server hands it over), so the config's ``2.0`` and a run's ``2`` (or a run
    # stored before that, with ``2.0``) are one category, shown as the run got it.
    values = [whole_floats_as_ints(v) for v in observed]
    plain = all(v is None or isinstance(v, (str, bool)) or is_number(v) for v in values)
    # Optuna finds a choice by ==, so True and 1 (or 1 and 1.0) would be one choice: such
    # values are told apart as their JSON text. Numbers that differ stay numbers
    # (``values: [0, 0.1, 0.5]``), so that they are correlated with the metric.
    if plain and len({(type(v), v) for v in values}) != len(set(values)):
        plain = False

    def encode(value: Any) -> Any:
        value = whole_floats_as_ints(value)
        out = value if plain else _json_text(value)
        return plotly_text(out) if safe else out

    return encode


def _numeric_bounds(parameter: Parameter, observed: list[float]) -> tuple[float, float]:
    low, high = min(observed), max(observed)
    d = parameter.distribution
    # Widen to the configured range where the config states it in value units, so that an
    # axis shows the whole search range rather than only what was drawn.
    if d in (Distribution.UNIFORM, Distribution.INT_UNIFORM, Distribution.LOG_UNIFORM_VALUES):
        if parameter.min is not None and parameter.max is not None:
            low, high = min(low, parameter.min), max(high, parameter.max)
    elif d is Distribution.LOG_UNIFORM and parameter.min is not None and parameter.max is not None:
        low, high = min(low, math.exp(parameter.min)), max(high, math.exp(parameter.max))
    return low, high


#: A categorical parameter with more values than this shows only those its runs took.
_LISTED_CHOICES = 1000


def param_axes(sweep: Sweep, *, plotly_safe: bool = False) -> list[ParamAxis]:
    """The sweep's searchable parameters that its runs have values for, in config order
    (for a ``search_space`` sweep, the keys its runs got: see :func:`sweep_parameters`)."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    from localsweep.report._params import sweep_parameters

    configs = [run.params for run in (*sweep.prior_runs, *sweep.runs)]
    axes: list[ParamAxis] = []
    searchable = [p for p in sweep_parameters(sweep) if not p.is_constant]
    for parameter in searchable:
        observed = [v for v in (_lookup(c, parameter) for c in configs) if v is not _MISSING]
        if not observed:
            continue
        name = parameter.name
        label = plotly_text(name) if plotly_safe else name
        numeric = all(is_number(v) for v in observed)
        if parameter.distribution in _CATEGORICAL or not numeric:
            encode = _categorical_encoder([*parameter.values, *observed], plotly_safe)
            # In order, each once. A long list (100,000 seeds or file names) keeps only the
            # values runs took: every value an axis would show, and fANOVA's time grows with
            # the choices (minutes for 100,000).
            seen = list(dict.fromkeys(encode(value) for value in observed))
            if len(parameter.values) > _LISTED_CHOICES:
                taken = set(seen)
                listed = (code for code in map(encode, parameter.values) if code in taken)
            else:
                listed = (encode(value) for value in parameter.values)
            choices: list[Any] = list(dict.fromkeys((*listed, *seen)))
            axes.append(
                ParamAxis(parameter, label, CategoricalDistribution(choices), True, False, encode)
            )
            continue
        numbers_seen = [float(v) for v in observed]
        low, high = _numeric_bounds(parameter, numbers_seen)
        log = parameter.distribution in LOG_DISTRIBUTIONS and low > 0
        distribution: Any
        if parameter.distribution is Distribution.INT_UNIFORM and all(
            float(v).is_integer() for v in observed
        ):
            distribution = IntDistribution(math.floor(low), math.ceil(high))
            encode_int: Callable[[Any], Any] = int
            axes.append(ParamAxis(parameter, label, distribution, False, False, encode_int))
            continue
        distribution = FloatDistribution(low, high, log=log)
        axes.append(ParamAxis(parameter, label, distribution, False, log, float))
    return axes


def analysis_points(
    runs: Sequence[Run],
    axes: Sequence[ParamAxis],
    value_of: Callable[[Run], float | None] | None = None,
) -> list[Any]:
    """The runs the analysis plots show, as :class:`~localsweep.report._plots.AnalysisPoint`:
    what :func:`sweep_study` (``export=False``) makes its COMPLETE trials, without building
    a study (at thousands of runs Optuna's trials cost seconds). ``value_of`` reads another
    value of a run than its metric (one objective's of a multi-objective sweep)."""
    from localsweep.report._plots import AnalysisPoint

    points = []
    for number, run in enumerate(runs):
        value = run.metric if value_of is None else value_of(run)
        if run.state not in RESULT_STATES or value is None or not math.isfinite(value):
            continue
        config = run.params
        params: dict[str, Any] = {}
        for axis in axes:
            raw = _lookup(config, axis.parameter)
            if raw is not _MISSING:
                params[axis.name] = axis.encode(raw)
        points.append(AnalysisPoint(number, params, value, {"run_id": run.id}))
    return points


def metric_values(run: Run, metric_name: str) -> list[float]:
    """Every value of the metric ``run`` logged, in order (non-numbers left out)."""
    return logged_values(run.history(), metric_name)


def stored_metric_histories(
    sweep: Sweep, runs: Sequence[Run]
) -> Callable[[Sequence[str]], Mapping[str, list[float]]]:
    """A reader of the sweep metric's logged values of these runs by id, as the store
    keeps them beside each row (NaN for a value that is no number), as the live page
    reads them: a query per thousand runs, where reading each run's rows decoded every
    logged key (26 of a report's 35 seconds at 400 runs of 2,000 rows of 10 keys)."""
    stored = {run.id: run._record.id for run in runs}

    def read(ids: Sequence[str]) -> Mapping[str, list[float]]:
        found = sweep._store.metric_histories(sweep.id, [stored[i] for i in ids])
        return {i: found.get(stored[i], []) for i in ids}

    return read


def logged_values(rows: Sequence[Mapping[str, Any]], metric_name: str) -> list[float]:
    """Every value of the metric in a run's logged ``rows``, in order (non-numbers left
    out): the key itself, else a dotted path into nested dicts."""
    out: list[float] = []
    for row in rows:
        value: Any = row.get(metric_name, _MISSING)
        if value is _MISSING:
            node: Any = row
            for part in metric_name.split("."):
                if not isinstance(node, Mapping) or part not in node:
                    node = _MISSING
                    break
                node = node[part]
            value = node
        if is_number(value):
            out.append(float(value))
    return out


def direction(config: SweepConfig) -> Literal["minimize", "maximize"]:
    """Optuna's word for the metric's goal."""
    if config.metric is not None and config.metric.goal is Goal.MAXIMIZE:
        return "maximize"
    return "minimize"


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


#: Runs an exported study shows as RUNNING: running, and preempted (it waits to be resumed
#: with the same id and point, and has no result yet: localsweep's search counts it as
#: running too). Not WAITING: Optuna's ``ask()`` would hand a WAITING trial out to run.
_UNFINISHED = frozenset({RunState.RUNNING.value, RunState.PREEMPTED.value})


def _trial_state(run: Run, *, export: bool) -> tuple[optuna.trial.TrialState, float | None]:
    from optuna.trial import TrialState

    value = run.metric
    finite = value is not None and math.isfinite(value)
    if not export:
        if run.state in RESULT_STATES and finite:
            return TrialState.COMPLETE, value
        return TrialState.FAIL, None
    if run.state in _UNFINISHED:
        return TrialState.RUNNING, None
    if run.state == RunState.EARLY_TERMINATED.value:
        return TrialState.PRUNED, value if finite else None
    if run.state == RunState.FINISHED.value and value is not None and not math.isnan(value):
        return TrialState.COMPLETE, value
    return TrialState.FAIL, None


def _multi_state(
    run: Run, metrics: Sequence[Metric]
) -> tuple[optuna.trial.TrialState, list[float] | None]:
    """An exported run of a multi-objective sweep: its state, and every objective's value
    when it has a result (finished or stopped early) with all of them, as the search
    counts it: else FAIL, or PRUNED for a run stopped early."""
    from optuna.trial import TrialState

    from localsweep.search._multi import objective_values

    if run.state in _UNFINISHED:
        return TrialState.RUNNING, None
    found = objective_values(run.summary, metrics) if run.state in RESULT_STATES else None
    if found is None and run.state == RunState.EARLY_TERMINATED.value:
        return TrialState.PRUNED, None
    if found is None:
        return TrialState.FAIL, None
    return TrialState.COMPLETE, list(found)


def sweep_study(
    sweep: Sweep,
    *,
    storage: optuna.storages.BaseStorage | str | None = None,
    export: bool = False,
    plotly_safe: bool = False,
    with_history: bool = False,
    runs: list[Run] | None = None,
) -> tuple[optuna.Study, list[ParamAxis]]:
    """The sweep as an Optuna study named after its id, one trial per run, and its axes.

    ``export=False`` (the analysis view) makes a trial COMPLETE when its run finished or
    was stopped early with a finite metric and FAIL otherwise, so Optuna's plots and
    importance evaluators see exactly the runs W&B's panels plot. ``export=True`` maps every
    state (running and preempted: RUNNING, early_terminated: PRUNED,
    failed/crashed/killed: FAIL) for
    ``optuna-dashboard``. ``with_history`` adds the metric history as intermediate values.
    ``runs`` limits the trials to some runs (a sample of a large sweep); by default the
    sweep's prior runs come first, then its own (``run_number`` tells them apart: priors'
    are negative).
    """
    import optuna
    from optuna.trial import create_trial

    axes = param_axes(sweep, plotly_safe=plotly_safe)
    metric = sweep.parsed_config.metric
    # An exported multi-objective sweep is a multi-objective study (optuna-dashboard draws
    # its Pareto front); the analysis view stays one-objective (importance needs one).
    metrics = sweep.parsed_config.metrics if export else ()
    with quiet_optuna():
        if metrics:
            study = optuna.create_study(
                storage=storage,
                study_name=sweep.id,
                directions=[m.goal.value for m in metrics],
            )
            study.set_metric_names([m.name for m in metrics])
        else:
            study = optuna.create_study(
                storage=storage, study_name=sweep.id, direction=direction(sweep.parsed_config)
            )
        if metric is not None and export:
            study.set_metric_names([metric.name])
    trials = []
    for run in [*sweep.prior_runs, *sweep.runs] if runs is None else runs:
        config = run.params
        params: dict[str, Any] = {}
        distributions: dict[str, optuna.distributions.BaseDistribution] = {}
        for axis in axes:
            raw = _lookup(config, axis.parameter)
            if raw is _MISSING:
                continue
            params[axis.name] = axis.encode(raw)
            distributions[axis.name] = axis.distribution
        state, value = _trial_state(run, export=export)
        told: list[float] | None = None if value is None else [value]
        if metrics:
            state, told = _multi_state(run, metrics)
        intermediate: dict[int, float] = {}
        if with_history and metric is not None:
            # Step i is the i-th logged value (1-based): hyperband's iteration count.
            values = metric_values(run, metric.name)
            intermediate = {i: v for i, v in enumerate(values, 1) if math.isfinite(v)}
        start = _aware(run.created_at)
        trials.append(
            create_trial(
                state=state,
                values=told,
                params=params,
                distributions=distributions,
                user_attrs={
                    "run_id": run.id,
                    "run_name": run.name,
                    "run_state": run.state,
                    "run_number": run.number,
                },
                intermediate_values=intermediate,
                # create_trial stamps "now"; the run's own times are what a reader wants.
            )
        )
        trial = trials[-1]
        trial.datetime_start = start
        if state.is_finished() and start is not None:
            # Its runtime as the report says it (wandb's _runtime; never negative), so the
            # trial's duration is too.
            trial.datetime_complete = start + timedelta(seconds=run_runtime(run) or 0.0)
    with quiet_optuna():
        study.add_trials(trials)
    return study, axes
