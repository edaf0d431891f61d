"""The sweep page of a multi-objective sweep (``metrics:``): what the single-metric page
shows of its one metric, shown for each objective.

There is no best run, so the page's head gives the Pareto set (how many runs, and each
one's objective values). The analysis draws every objective at once rather than letting
the reader pick one: a trade-off is read by seeing the objectives side by side, and a
picker would hide the other half of it. So "metric over runs" and each slice plot are
one panel per objective stacked over a shared x axis, parallel coordinates end in one axis
per objective (dragging along them filters the trade-off) with the Pareto set in red, and
parameter importance is computed per objective, as Optuna's
``get_param_importances(target=...)`` does for a multi-objective study.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from localsweep.report._html import _e, _empty, _importance_table, _number
from localsweep.report._importance import ParamImportance
from localsweep.report._param_plots import param_dimensions, slice_plots
from localsweep.report._plots import (
    AnalysisPoint,
    _curves_plot,
    _history_plot,
    _importance_plot,
)
from localsweep.report._study import ParamAxis, analysis_points, logged_values, plotly_text
from localsweep.search._multi import summary_value

if TYPE_CHECKING:
    from localsweep.api import Run, Sweep
    from localsweep.config import Metric
    from localsweep.report._html import RowCache

__all__ = [
    "ObjectiveImportance",
    "objective_curves",
    "objective_parts",
    "objective_reader",
    "pareto_head",
]

logger = logging.getLogger(__name__)

#: Each objective's parameter importance, by the objective's name.
ObjectiveImportance = Mapping[str, list[ParamImportance]]

#: Runs of the Pareto set listed in the page's head (the Pareto section lists them all).
HEAD_ROWS = 10
_PARETO_RED = "#d62728"
#: Height of one objective's panel in a stacked plot, in pixels.
_PANEL = 240


def objective_reader(metric: Metric) -> Callable[[Run], float | None]:
    """A function giving a run's value of the objective ``metric`` (its summary's, as the
    search and ``Sweep.pareto_runs`` read it), or ``None``."""

    def value_of(run: Run) -> float | None:
        return summary_value(run.summary, metric.name, metric.goal)

    return value_of


def _label(metric: Metric) -> str:
    return plotly_text(f"{metric.name} ({metric.goal.value})")


def _stacked(specs: Sequence[dict[str, Any]], title: str) -> dict[str, Any]:
    """Single-axis figures as one figure: one panel per figure, top to bottom, sharing the
    x axis; legend entries and color bars once (the panels draw the same kinds of marks)."""
    count = len(specs)
    gap = 0.1 / max(1, count - 1) if count > 1 else 0.0
    height = (1.0 - gap * (count - 1)) / count
    layout = dict(specs[0]["layout"])
    layout["title"] = {"text": title}
    data: list[dict[str, Any]] = []
    for i, spec in enumerate(specs):
        top = 1.0 - i * (height + gap)
        yaxis = dict(spec["layout"].get("yaxis", {}))
        yaxis["domain"] = [max(0.0, top - height), min(1.0, top)]
        layout["yaxis" if i == 0 else f"yaxis{i + 1}"] = yaxis
        for trace in spec["data"]:
            trace = dict(trace)
            if "name" in trace:
                trace["legendgroup"] = trace["name"]
            if i:
                trace["yaxis"] = f"y{i + 1}"
                trace["showlegend"] = False
                marker = trace.get("marker")
                if isinstance(marker, Mapping) and marker.get("showscale"):
                    trace["marker"] = {**marker, "showscale": False}
            data.append(trace)
    layout["xaxis"] = {**specs[0]["layout"].get("xaxis", {}), "anchor": f"y{count}"}
    if count == 1:
        layout["xaxis"]["anchor"] = "y"
    layout["height"] = 90 + _PANEL * count
    return {"data": data, "layout": layout}


def _history(runs: Sequence[Run], metrics: Sequence[Metric], pareto: set[str]) -> dict[str, Any]:
    """Each objective by run number (a panel each, with that objective's best so far
    alone), the Pareto set ringed in red."""
    panels = []
    for metric in metrics:
        value_of = objective_reader(metric)
        spec = _history_plot(runs, _label(metric), metric.goal.value == "maximize", value_of)
        on = [(run, value_of(run)) for run in runs if run.id in pareto and not run.prior]
        spec["data"].append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": "Pareto set",
                "x": [run.number for run, _ in on],
                "y": [value for _, value in on],
                "text": [plotly_text(f"{run.name} ({run.id})") for run, _ in on],
                "marker": {
                    "symbol": "circle-open",
                    "size": 11,
                    "color": _PARETO_RED,
                    "line": {"width": 2},
                },
                "hovertemplate": "%{text}<br>run %{x}: %{y} (Pareto set)<extra></extra>",
            }
        )
        panels.append(spec)
    return _stacked(panels, "Objectives over runs")


def _parallel(
    points: Sequence[AnalysisPoint],
    values: Mapping[str, Sequence[float]],
    axes: list[ParamAxis],
    metrics: Sequence[Metric],
    pareto: set[str],
) -> dict[str, Any]:
    """Parallel coordinates ending in one axis per objective, a line per run with every
    objective; the Pareto set red, the rest grey."""
    dimensions = param_dimensions(points, axes)
    for metric in metrics:
        dimensions.append({"label": _label(metric), "values": list(values[metric.name])})
    on = [1 if p.user_attrs.get("run_id") in pareto else 0 for p in points]
    return {
        "data": [
            {
                "type": "parcoords",
                "dimensions": dimensions,
                "labelangle": 0,
                "line": {
                    "color": on,
                    "cmin": 0,
                    "cmax": 1,
                    "colorscale": [[0, "#bbbbbb"], [1, _PARETO_RED]],
                    "showscale": False,
                },
            }
        ],
        "layout": {
            "title": {"text": "Parallel coordinates (red: the Pareto set)"},
            "margin": {"l": 80, "r": 100, "t": 100, "b": 40},
            "height": 480,
        },
    }


def objective_parts(
    sweep: Sweep,
    runs: Sequence[Run],
    axes: list[ParamAxis],
    importance: Any,
    cache: RowCache,
    add: Callable[[str, dict[str, Any]], str],
) -> dict[str, str]:
    """The analysis sections of a multi-objective sweep's page (``history``,
    ``importance``, ``parallel``, ``slices``). ``add(plot_id, spec)`` registers a plot and
    returns its placeholder; ``importance`` is each objective's (an
    :data:`ObjectiveImportance`), ``True`` to compute it now, or ``None`` while it is being
    computed elsewhere."""
    from localsweep.report._pareto import objective_importance

    if importance is True:
        importance = objective_importance(sweep)
    elif not isinstance(importance, Mapping):
        importance = None
    metrics = sweep.parsed_config.metrics
    pareto = {run.id for run in sweep.pareto_runs()}
    by_objective: dict[str, list[AnalysisPoint]] = {}
    for metric in metrics:
        by_objective[metric.name] = cache.memo(
            f"points:{metric.name}", runs, _points_builder(runs, axes, metric)
        )
    names = ", ".join(m.name for m in metrics)
    parts: dict[str, str] = {}
    if not any(by_objective.values()):
        parts["history"] = parts["parallel"] = parts["slices"] = _empty(
            f"No run has a value of any objective yet ({names})."
        )
    else:
        hint = (
            '<p class="hint">One panel per objective; each line is the best of that objective'
            " alone so far; red rings: the Pareto set.</p>"
        )
        parts["history"] = hint + add("plot-history", _history(runs, metrics, pareto))
        parts["parallel"] = _parallel_part(by_objective, axes, metrics, pareto, add)
        slices = []
        for i, axis in enumerate(axes):
            panels = [slice_plots(by_objective[m.name], [axis], _label(m))[0][1] for m in metrics]
            slices.append(add(f"plot-slice-{i}", _stacked(panels, axis.name)))
        parts["slices"] = "".join(slices) or _empty("No searchable parameters.")
    parts["importance"] = _importance_part(
        importance, {name: len(p) for name, p in by_objective.items()}, add
    )
    return parts


def _points_builder(
    runs: Sequence[Run], axes: list[ParamAxis], metric: Metric
) -> Callable[[], list[AnalysisPoint]]:
    def build() -> list[AnalysisPoint]:
        found: list[AnalysisPoint] = analysis_points(runs, axes, objective_reader(metric))
        return found

    return build


def _parallel_part(
    by_objective: Mapping[str, Sequence[AnalysisPoint]],
    axes: list[ParamAxis],
    metrics: Sequence[Metric],
    pareto: set[str],
    add: Callable[[str, dict[str, Any]], str],
) -> str:
    value_by_run = {
        name: {p.user_attrs["run_id"]: p.value for p in points}
        for name, points in by_objective.items()
    }
    first = by_objective[metrics[0].name]
    points = [p for p in first if all(p.user_attrs["run_id"] in v for v in value_by_run.values())]
    if not points:
        return _empty("No run has a value of every objective yet.")
    values = {
        name: [found[p.user_attrs["run_id"]] for p in points]
        for name, found in value_by_run.items()
    }
    return add("plot-parallel", _parallel(points, values, axes, metrics, pareto))


def _importance_part(
    found: ObjectiveImportance | None,
    counts: Mapping[str, int],
    add: Callable[[str, dict[str, Any]], str],
) -> str:
    if found is None:
        return _empty("Computing parameter importance…")
    parts = [
        '<p class="hint">Per objective, as Optuna\'s <code>get_param_importances(target=...)'
        "</code> computes it for a multi-objective study: each table is the importance to "
        "that objective alone.</p>"
    ]
    for i, (name, rows) in enumerate(found.items()):
        count = counts.get(name, 0)
        table = _importance_table(rows).replace(
            'id="importance-table"', f'id="importance-table-{i}" data-objective="{_e(name)}"'
        )
        if not count:
            plot = _empty(f"No run has a value of {name} yet.")
        elif any(r.importance is not None for r in rows):
            spec = _importance_plot(rows)
            spec["layout"]["title"] = {"text": plotly_text(f"Parameter importance: {name}")}
            plot = add(f"plot-importance-{i}", spec)
        else:
            plot = _empty(
                f"Importance needs at least two runs with {name} and a parameter that varies."
            )
        parts.append(
            f'<h3>{_e(name)}</h3><p class="hint">Computed on {count} runs that finished or '
            f"stopped early with a value of {_e(name)}.</p>{table}{plot}"
        )
    return "\n".join(parts)


def objective_curves(
    runs: Sequence[Run],
    metrics: Sequence[Metric],
    cache: RowCache,
    limit: int,
    add: Callable[[str, dict[str, Any]], str],
) -> str:
    """The learning curves section: each objective's logged values of each run drawn (at
    most ``limit`` runs: the running ones and an even spread of the rest), a panel per
    objective. A run's history is read once for every objective, and again only when the
    run changed (a live page keeps the same run objects while they do not)."""
    kept: dict[str, tuple[Run, dict[str, list[float]]]] = cache.memo(
        "objective-histories", (), dict
    )

    def values(run_ids: Sequence[str]) -> dict[str, dict[str, list[float]]]:
        out = {}
        for run_id in run_ids:
            run = by_id[run_id]
            known = kept.get(run_id)
            if known is None or known[0] is not run:
                rows = run.history()
                known = (run, {m.name: logged_values(rows, m.name) for m in metrics})
                kept[run_id] = known
            out[run_id] = known[1]
        return out

    by_id = {run.id: run for run in runs}
    panels = []
    drawn = 0
    for metric in metrics:

        def histories(run_ids: Sequence[str], name: str = metric.name) -> dict[str, list[float]]:
            return {i: v[name] for i, v in values(run_ids).items()}

        maximize = metric.goal.value == "maximize"
        spec, drawn = _curves_plot(runs, histories, _label(metric), maximize, None, limit)
        panels.append(spec)
    if not any(spec["data"] for spec in panels):
        return _empty("No run logged an objective yet.")
    note = ""
    if drawn < len(runs):
        note = (
            f'<p class="hint">Showing {drawn} of {len(runs)} runs: the running ones and an '
            "even spread of the rest.</p>"
        )
    return note + add("plot-curves", _stacked(panels, "Learning curves"))


def pareto_head(sweep: Sweep, hint: str | None) -> tuple[str, str]:
    """The page head's card for a multi-objective sweep (the Pareto set's size, where a
    single-metric sweep has its best run) and the panel beside the config (each run of
    the Pareto set with its objective values)."""
    from localsweep.report._pareto import pareto_rows

    metrics = sweep.parsed_config.metrics
    rows = pareto_rows(sweep)
    goals = ", ".join(f"{m.name} ({m.goal.value})" for m in metrics)
    if rows:
        muted = f"runs no other finished or stopped run beats on every one of {goals}"
    else:
        muted = f"no finished or stopped run with every objective yet: {goals}"
        if hint:
            muted += f": {hint}"
    card = (
        '<div class="card"><div class="label">Pareto set</div>'
        f'<div class="value" id="pareto-count">{len(rows) if rows else "—"}</div>'
        f'<div class="muted">{_e(muted)}</div></div>'
    )
    if not rows:
        return card, "<h3>Pareto set</h3>" + _empty("No run on the Pareto front yet.")
    head = "".join(f"<th>{_e(m.name)}</th>" for m in metrics)
    body = []
    for run_id, values, config in rows[:HEAD_ROWS]:
        text = json.dumps(config, default=str, separators=(", ", ": "))
        body.append(
            f"<tr><td><code>{_e(run_id)}</code></td>"
            + "".join(f'<td class="num">{_e(_number(v))}</td>' for v in values)
            + f"<td><code>{_e(text[:160])}</code></td></tr>"
        )
    more = ""
    if len(rows) > HEAD_ROWS:
        more = f'<div class="muted">{len(rows) - HEAD_ROWS} more in the Pareto front below.</div>'
    panel = (
        f'<h3>Pareto set ({len(rows)} runs)</h3><table id="pareto-head"><thead><tr>'
        f"<th>run</th>{head}<th>config</th></tr></thead><tbody>{''.join(body)}</tbody>"
        f"</table>{more}"
    )
    return card, panel
