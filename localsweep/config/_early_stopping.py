"""Reading per-run plateau stopping: the ``localsweep: {early_stopping: ...}`` block of a sweep
config, and the ``early_stopping_*`` arguments of ``wandb.init`` in a localsweep run.

Both go through :func:`read_early_stopping`, so they accept the same values and their errors
read alike; only the names in the messages differ (``localsweep.early_stopping.patience`` in
a config, ``early_stopping_patience`` for ``wandb.init``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from localsweep.config._checks import Checker, show
from localsweep.config._types import EarlyStopping, Goal, Metric

__all__ = ["INIT_ARGUMENTS", "early_stopping_from_init", "read_early_stopping"]

#: The block's keys, in the order the docs list them.
KEYS = ("metric", "threshold", "patience", "goal")
#: The ``wandb.init`` argument for each key (the user's guide names the first two).
INIT_ARGUMENTS = {key: f"early_stopping_{key}" for key in KEYS}


def _objectives(sweep: Metric | Sequence[Metric] | None) -> tuple[Metric, ...]:
    if sweep is None:
        return ()
    if isinstance(sweep, Metric):
        return (sweep,)
    return tuple(sweep)


def read_early_stopping(
    node: Mapping[str, Any],
    check: Checker,
    sweep_metric: Metric | Sequence[Metric] | None,
    names: Mapping[str, str],
) -> EarlyStopping | None:
    """Read an early-stopping block (keys ``metric``, ``threshold``, ``patience``, ``goal``),
    recording every problem in ``check``; ``None`` when there was one.

    ``sweep_metric`` is the sweep's ``metric:``, or its objectives (``metric:`` alone, or
    every entry of ``metrics:``). ``names`` says how each key is spelled in messages.
    ``metric`` defaults to the sweep's one metric. The goal of one of the sweep's objectives
    is that objective's (a different ``goal`` there is an error), else ``goal`` (default
    ``minimize``).
    """
    objectives = _objectives(sweep_metric)
    several = len(objectives) > 1
    before = len(check.violations)
    metric: str | None = None
    if "metric" in node:
        metric = check.string(node, "metric", names["metric"])
        if metric is not None and not metric.strip():
            check.error(names["metric"], "must name the metric your runs log, not an empty string")
            metric = None
    elif len(objectives) == 1:
        metric = objectives[0].name
    elif several:
        check.error(
            names["metric"],
            "is required: the sweep has several objectives (`metrics:`), name the one to "
            f"watch, one of {', '.join(repr(m.name) for m in objectives)}",
        )
    else:
        check.error(
            names["metric"],
            "is required: the name of the metric your runs log (the sweep has no `metric:` "
            "to default to)",
        )
    threshold = 0.0
    if "threshold" in node:
        read = check.number(node, "threshold", names["threshold"])
        if read is not None and read < 0:
            check.error(
                names["threshold"],
                f"must be 0 or more (the improvement a value must exceed), not {show(read)}",
            )
        elif read is not None:
            threshold = float(read)
    patience = 1
    if "patience" in node:
        count = check.integer(node, "patience", names["patience"])
        if count is not None and count < 1:
            check.error(
                names["patience"],
                f"must be at least 1 (values in a row without improvement), not {count!r}",
            )
        elif count is not None:
            patience = count
    goal: Goal | None = None
    if "goal" in node:
        chosen = check.choice(node, "goal", names["goal"], [g.value for g in Goal])
        goal = Goal(chosen) if chosen is not None else None
    for index, objective in enumerate(objectives):
        if metric is None or metric != objective.name:
            continue
        if goal is not None and goal is not objective.goal:
            which, where = (
                ("one of the sweep's objectives", f"metrics[{index}].goal")
                if several
                else ("the sweep's metric", "metric.goal")
            )
            check.error(
                names["goal"],
                f"is {goal.value}, but {metric!r} is {which}, whose goal is "
                f"{objective.goal.value} ({where}); drop {names['goal']}",
            )
        goal = objective.goal
    if len(check.violations) > before or metric is None:
        return None
    return EarlyStopping(
        metric=metric, threshold=threshold, patience=patience, goal=goal or Goal.MINIMIZE
    )


def early_stopping_from_init(
    arguments: Mapping[str, Any], sweep_metric: Metric | Sequence[Metric] | None
) -> EarlyStopping:
    """The rule that ``wandb.init(early_stopping_metric=..., ...)`` asks for, in a run of a
    sweep whose metric is ``sweep_metric`` (or whose objectives are, as
    :attr:`SweepConfig.objectives <localsweep.config.SweepConfig.objectives>`: pass those so
    that an objective of ``metrics:`` brings its goal).

    ``arguments`` holds the ``early_stopping_*`` arguments as given. Raises
    :class:`ValueError` naming each bad argument.

    >>> early_stopping_from_init({"early_stopping_metric": "val_loss",
    ...                           "early_stopping_threshold": 0.01}, None)
    EarlyStopping(metric='val_loss', threshold=0.01, patience=1, goal=<Goal.MINIMIZE: 'minimize'>)
    """
    node = {key: arguments[name] for key, name in INIT_ARGUMENTS.items() if name in arguments}
    check = Checker()
    rule = read_early_stopping(node, check, sweep_metric, INIT_ARGUMENTS)
    if rule is None:
        lines = "\n".join(f"  - {v}" for v in check.violations)
        raise ValueError(f"wandb.init(): invalid early stopping arguments:\n{lines}")
    return rule
