"""The sweep page's plots of the metric against the parameters: parallel coordinates and
one slice plot per parameter (plotly figure specs, as in :mod:`localsweep.report._plots`)."""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from typing import Any

from localsweep.report._plots import WEBGL_POINTS, AnalysisPoint, _layout
from localsweep.report._study import ParamAxis


def log_ticks(low: float, high: float) -> list[float]:
    """Tick positions (log10 units) for a log axis: whole decades, or a few steps when the
    axis spans less than two."""
    first, last = math.ceil(low), math.floor(high)
    if last - first >= 1:
        step = max(1, (last - first) // 8)
        return [float(k) for k in range(first, last + 1, step)]
    if high == low:
        return [low]
    return [low + (high - low) * i / 4 for i in range(5)]


def parallel_plot(
    trials: Sequence[AnalysisPoint], axes: list[ParamAxis], metric_label: str, maximize: bool
) -> dict[str, Any]:
    """Parallel coordinates (plotly's WebGL ``parcoords``, one line per run): categorical
    parameters as categories, log-scale ones on log10 axes labelled with their values, the
    metric last and as the line color."""
    dimensions = param_dimensions(trials, axes)
    metric = [float(t.value) for t in trials if t.value is not None]
    dimensions.append({"label": metric_label, "values": metric})
    return {
        "data": [
            {
                "type": "parcoords",
                "dimensions": dimensions,
                "labelangle": 0,
                "line": {
                    "color": metric,
                    "colorscale": "Viridis",
                    # Bright lines are the good runs, whichever way the goal points.
                    "reversescale": not maximize,
                    "showscale": True,
                    "colorbar": {"title": {"text": metric_label}},
                },
            }
        ],
        "layout": {
            "title": {"text": "Parallel coordinates"},
            "margin": {"l": 80, "r": 100, "t": 100, "b": 40},
            "height": 480,
        },
    }


def param_dimensions(
    trials: Sequence[AnalysisPoint], axes: list[ParamAxis]
) -> list[dict[str, Any]]:
    """The parameters' axes of parallel coordinates, one per parameter every run has."""
    from optuna.distributions import CategoricalDistribution

    dimensions: list[dict[str, Any]] = []
    for axis in axes:
        if any(axis.name not in t.params for t in trials):
            continue  # parcoords cannot draw a missing value
        raw: list[Any] = [t.params[axis.name] for t in trials]
        if axis.categorical and axis.numbers_only:
            dimensions.append(numeric_choices_dimension(axis, raw))
        elif axis.categorical:
            assert isinstance(axis.distribution, CategoricalDistribution)
            choices = list(axis.distribution.choices)
            dimensions.append(
                {
                    "label": axis.name,
                    "values": [choices.index(v) for v in raw],
                    "tickvals": list(range(len(choices))),
                    # parcoords draws tick text as plain text, unlike its labels and the
                    # rest of plotly, so it gets the value itself, not the escaped form.
                    "ticktext": [html.unescape(str(c)) for c in choices],
                    "range": [-0.25, len(choices) - 0.75],
                }
            )
        elif axis.log:
            values = [math.log10(float(v)) for v in raw]
            low, high = min(values), max(values)
            ticks = log_ticks(low, high)
            dimensions.append(
                {
                    "label": axis.name,
                    "values": values,
                    "tickvals": ticks,
                    "ticktext": [f"{10**t:.3g}" for t in ticks],
                    "range": [low, high] if high > low else [low - 0.5, high + 0.5],
                }
            )
        else:
            dimensions.append({"label": axis.name, "values": [float(v) for v in raw]})
    return dimensions


def numeric_choices_dimension(axis: ParamAxis, raw: list[Any]) -> dict[str, Any]:
    """A parallel-coordinates axis for a ``values`` list of numbers, ticked at its values,
    as W&B draws a numeric config value: on a log10 axis when the values are positive
    and span two decades or more (``values: [1e-4, 1e-3, 1e-2]``), else linear."""
    choices = sorted(float(c) for c in getattr(axis.distribution, "choices", ()))
    low, high = choices[0], choices[-1]
    scale: Callable[[float], float] = math.log10 if _decades(choices) else float
    ticks = [scale(c) for c in choices]
    return {
        "label": axis.name,
        "values": [scale(float(v)) for v in raw],
        "tickvals": ticks,
        "ticktext": [f"{c:g}" for c in choices],
        "range": [ticks[0], ticks[-1]] if high > low else [ticks[0] - 0.5, ticks[0] + 0.5],
    }


def _decades(choices: list[float]) -> bool:
    """Whether numeric choices are drawn on a log axis: positive, two decades or more."""
    return min(choices) > 0 and max(choices) / min(choices) >= 100


def slice_plots(
    trials: Sequence[AnalysisPoint], axes: list[ParamAxis], metric_label: str
) -> list[tuple[str, dict[str, Any]]]:
    """One slice plot per parameter: the metric against the parameter alone, colored by
    run number (what ``optuna.visualization.plot_slice`` draws, built here directly: at
    thousands of runs Optuna's figure objects cost seconds)."""
    slices = []
    for axis in axes:
        shown = [t for t in trials if axis.name in t.params]
        xs: list[Any] = [t.params[axis.name] for t in shown]
        xaxis: dict[str, Any] = {"title": {"text": axis.name}}
        if axis.categorical and axis.numbers_only:
            if _decades([float(c) for c in getattr(axis.distribution, "choices", ())]):
                xaxis["type"] = "log"
        elif axis.categorical:
            xaxis["type"] = "category"
            xs = [str(x) for x in xs]
        elif axis.log:
            xaxis["type"] = "log"
        trace = {
            "type": "scattergl" if len(xs) > WEBGL_POINTS else "scatter",
            "mode": "markers",
            "x": xs,
            "y": [t.value for t in shown],
            "text": [f"run {t.user_attrs.get('run_id', t.number)}" for t in shown],
            "marker": {
                "color": [t.number for t in shown],
                "colorscale": "Blues",
                "showscale": True,
                "colorbar": {"title": {"text": "run #"}},
                "line": {"width": 0.5, "color": "Grey"},
            },
            "showlegend": False,
        }
        layout = _layout(axis.name, axis.name, metric_label)
        layout["xaxis"] = xaxis
        slices.append((axis.parameter.name, {"data": [trace], "layout": layout}))
    return slices
