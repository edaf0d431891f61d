"""Several objectives at once (``metrics:``): each run's values, and the Pareto set.

A run's value of one objective is read as the single metric's summary is: the run's
summary (wandb's own, ``define_metric`` summaries included, else each key's last logged
value), by the metric's name or a dotted path into nested dicts; a ``define_metric``
summary flattened into ``name.min`` / ``name.max`` keys (a runs table's columns) too. A
run missing one objective, or with a value that is not a finite number, has no point: the
search counts it as failed, and it is on no Pareto front.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

from localsweep.config import Goal, Metric, SweepConfig
from localsweep.records import MISSING, lookup

__all__ = [
    "dominates",
    "non_dominated",
    "objective_values",
    "reaches_all_targets",
    "summary_entry",
    "summary_value",
]


#: The summaries ``define_metric(name, summary=...)`` keeps under the metric's key, in the
#: order one is taken when several are kept (the goal's own first).
_AGGREGATES = {
    Goal.MINIMIZE: ("min", "best", "last", "mean", "first", "max"),
    Goal.MAXIMIZE: ("max", "best", "last", "mean", "first", "min"),
}


def summary_entry(summary: Mapping[str, Any], name: str, goal: Goal = Goal.MINIMIZE) -> Any:
    """The raw value ``summary`` holds for ``name``, ``None`` when it holds none: the key
    itself, else a dotted path into nested dicts. A ``define_metric`` summary gives its
    value by the goal's aggregate first: kept under the key (``{"min": 0.1}``, wandb's
    own), or flattened beside it (``loss.min``, a runs table's column, as ``localsweep
    export`` writes it)."""
    node = lookup(summary, name)
    if node is MISSING:
        flat = {k: lookup(summary, f"{name}.{k}") for k in _AGGREGATES[goal]}
        node = {k: v for k, v in flat.items() if v is not MISSING}
    if isinstance(node, Mapping):
        kept = [node[k] for k in _AGGREGATES[goal] if k in node]
        node = kept[0] if kept else None
    return node


def summary_value(
    summary: Mapping[str, Any], name: str, goal: Goal = Goal.MINIMIZE
) -> float | None:
    """The finite number ``summary`` holds for ``name`` (see :func:`summary_entry`), or
    ``None``. How every reader of a multi-objective sweep reads a run's objective: the
    search, the Pareto set, ``show``, the report, and the check of a prior run."""
    node = summary_entry(summary, name, goal)
    if isinstance(node, bool) or not isinstance(node, numbers.Real):
        return None
    value = float(node)
    return value if math.isfinite(value) else None


def objective_values(
    summary: Mapping[str, Any], metrics: Sequence[Metric]
) -> tuple[float, ...] | None:
    """One value per metric from a run's summary, or ``None`` when any is missing."""
    values = []
    for metric in metrics:
        value = summary_value(summary, metric.name, metric.goal)
        if value is None:
            return None
        values.append(value)
    return tuple(values)


def dominates(a: Sequence[float], b: Sequence[float], goals: Sequence[Goal]) -> bool:
    """Whether point ``a`` is at least as good as ``b`` in every objective and better in one."""
    better = False
    for x, y, goal in zip(a, b, goals, strict=True):
        if goal is Goal.MAXIMIZE:
            x, y = -x, -y
        if x > y:
            return False
        if x < y:
            better = True
    return better


def non_dominated(points: Sequence[Sequence[float]], goals: Sequence[Goal]) -> list[int]:
    """The indices of the points no other point dominates, in their order.

    Points are sorted by the first objective first, so each is compared only with the
    front found so far: about n times the front's size; with two objectives, one pass
    over the sorted points (a report redraws the front of 5,000 runs at every change).
    Equal points are all kept (none dominates another).
    """
    signs = [-1.0 if g is Goal.MAXIMIZE else 1.0 for g in goals]
    keyed = sorted(
        range(len(points)),
        key=lambda i: tuple(s * v for s, v in zip(signs, points[i], strict=True)),
    )
    if len(goals) == 2:
        return _non_dominated_2d([points[i] for i in keyed], keyed, signs)
    front: list[int] = []
    for i in keyed:
        if not any(dominates(points[j], points[i], goals) for j in front):
            front.append(i)
    return sorted(front)


def _non_dominated_2d(
    ordered: Sequence[Sequence[float]], indices: Sequence[int], signs: Sequence[float]
) -> list[int]:
    """:func:`non_dominated` of two objectives, ``ordered`` sorted as it sorts them: only an
    earlier point can dominate a later one, and one does when its second value is smaller,
    or equal with a smaller first (the first point that reached the smallest second value
    so far has the smallest first among those that did)."""
    front: list[int] = []
    low: float | None = None
    low_first = 0.0
    for index, point in zip(indices, ordered, strict=True):
        first, second = signs[0] * point[0], signs[1] * point[1]
        if low is not None and (second > low or (second == low and low_first < first)):
            continue
        front.append(index)
        if low is None or second < low:
            low, low_first = second, first
    return sorted(front)


def reaches_all_targets(summary: Mapping[str, Any], config: SweepConfig) -> bool:
    """Whether a run of a multi-objective sweep reaches every metric's ``target``: only
    when every metric has one (one objective's target says nothing of a trade-off)."""
    metrics = config.metrics
    if len(metrics) < 2 or any(m.target is None for m in metrics):
        return False
    values = objective_values(summary, metrics)
    return values is not None and all(
        m.reaches_target(v) for m, v in zip(metrics, values, strict=True)
    )
