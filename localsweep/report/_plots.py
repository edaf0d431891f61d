"""The sweep page's plots as plotly figure specs (JSON-able dicts), built directly from the
runs: at thousands of runs Optuna's and plotly's figure objects cost seconds.

Every builder takes plain data (runs, metric histories, analysis points), so the static
report and the live page (which keeps that data in memory and updates it) draw the same
figures. Learning curves are laid out so that a live page can grow them in place: a run
still running has a trace of its own (its new values are appended to it), and which runs
are drawn changes only when a run ends.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from localsweep.records import RESULT_STATES, RunState
from localsweep.report._importance import ParamImportance
from localsweep.report._study import plotly_text
from localsweep.report._thin import CURVE_POINTS, thin_curve

if TYPE_CHECKING:
    from localsweep.api import Run

__all__ = ["CURVE_POINTS", "MAX_CURVES", "PRIOR", "AnalysisPoint", "thin_curve"]

#: Learning curves drawn at most; a browser stays quick with a few hundred.
MAX_CURVES = 400
#: How prior runs are labelled (they are drawn and listed with the sweep's own runs).
PRIOR = "prior"
#: The best runs always drawn among the learning curves.
BEST_CURVES = 100
#: Above this many points a scatter trace is drawn with WebGL.
WEBGL_POINTS = 1000
_STATE_COLORS = {
    RunState.FINISHED.value: "#1f77b4",
    RunState.EARLY_TERMINATED.value: "#ff7f0e",
    RunState.RUNNING.value: "#2ca02c",
    RunState.FAILED.value: "#d62728",
    RunState.CRASHED.value: "#8c564b",
    RunState.KILLED.value: "#7f7f7f",
    PRIOR: "#17becf",
}


@dataclass(frozen=True)
class AnalysisPoint:
    """A run the analysis plots show (finished or stopped early, with a finite metric),
    shaped as the Optuna trial it would be: ``number`` is its place among the sweep's runs
    (priors first), ``params`` its encoded parameter values, ``value`` its metric."""

    number: int
    params: Mapping[str, Any]
    value: float
    user_attrs: Mapping[str, Any] = field(default_factory=dict)


def _layout(title: str, x_title: str, y_title: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": {"text": title},
        "xaxis": {"title": {"text": x_title}},
        "yaxis": {"title": {"text": y_title}},
        "margin": {"l": 70, "r": 20, "t": 50, "b": 50},
        "legend": {"orientation": "h", "y": -0.2},
        **extra,
    }


def _history_plot(
    runs: Sequence[Run],
    metric_label: str,
    maximize: bool,
    value_of: Callable[[Run], float | None] | None = None,
) -> dict[str, Any]:
    """Each ended run's metric by run number, colored by state, and the best finished so
    far (``value_of`` reads another value of a run than its metric: one objective's). A
    running run's value so far is left out: it moves with every row it logs (the table
    and the learning curves show it), and this plot is redrawn only when a run ends."""
    groups: dict[str, tuple[list[int], list[float], list[str]]] = {}
    best_x: list[int] = []
    best_y: list[float] = []
    best: float | None = None
    for run in runs:
        if run.state == RunState.RUNNING.value:
            continue
        value = run.metric if value_of is None else value_of(run)
        if value is None or not math.isfinite(value):
            continue
        xs, ys, texts = groups.setdefault(PRIOR if run.prior else run.state, ([], [], []))
        xs.append(run.number)
        ys.append(value)
        texts.append(plotly_text(f"{run.name} ({run.id})"))
        if run.state in RESULT_STATES:  # as Sweep.best_run counts them
            if best is None or (value > best if maximize else value < best):
                best = value
            best_x.append(run.number)
            best_y.append(best)
    many = sum(len(g[0]) for g in groups.values()) > WEBGL_POINTS
    data: list[dict[str, Any]] = []
    for state, (xs, ys, texts) in groups.items():
        data.append(
            {
                "type": "scattergl" if many else "scatter",
                "mode": "markers",
                "name": state,
                "x": xs,
                "y": ys,
                "text": texts,
                "marker": {"color": _STATE_COLORS.get(state, "#7f7f7f"), "size": 6},
                "hovertemplate": "%{text}<br>run %{x}: %{y}<extra></extra>",
            }
        )
    data.append(
        {
            "type": "scattergl" if many else "scatter",
            "mode": "lines",
            "name": "best so far",
            "x": best_x,
            "y": best_y,
            "line": {"shape": "hv", "color": "#7c3aed", "width": 2},
            "hovertemplate": "best after run %{x}: %{y}<extra></extra>",
        }
    )
    return {
        "data": data,
        "layout": _layout("Metric over runs", "run number", metric_label),
    }


def _importance_plot(rows: list[ParamImportance]) -> dict[str, Any]:
    shown = [r for r in rows if r.importance is not None or r.fanova is not None][::-1]
    names = [plotly_text(r.name) for r in shown]
    return {
        "data": [
            {
                "type": "bar",
                "orientation": "h",
                "name": "importance (random forest)",
                "y": names,
                "x": [r.importance for r in shown],
                "marker": {"color": "#7c3aed"},
            },
            {
                "type": "bar",
                "orientation": "h",
                "name": "fANOVA",
                "y": names,
                "x": [r.fanova for r in shown],
                "marker": {"color": "#9ca3af"},
            },
        ],
        "layout": _layout(
            "Parameter importance",
            "share of the metric explained",
            "",
            barmode="group",
            height=max(260, 60 + 44 * len(shown)),
            margin={"l": 160, "r": 20, "t": 50, "b": 50},
        ),
    }


def _best_curves(limit: int) -> int:
    return min(BEST_CURVES, max(1, limit // 4))


def _pick_curves(runs: Sequence[Run], limit: int, maximize: bool) -> list[Run]:
    """The runs whose learning curves are drawn: all when few, else the best ones, the
    running ones and an even spread of the rest, every k-th run by number with k a power
    of two (so the picture keeps the sweep's shape, and a new run changes the choice only
    when it is among the best or k doubles)."""
    if limit <= 0:
        return []
    if len(runs) <= limit:
        return list(runs)
    scored = [r for r in runs if r.metric is not None and math.isfinite(r.metric)]
    scored.sort(key=lambda r: -(r.metric or 0.0) if maximize else (r.metric or 0.0))
    chosen = {r.id for r in scored[: _best_curves(limit)]}
    # Running runs too: they are the ones a live page's reader watches grow.
    chosen.update(r.id for r in runs if r.state == RunState.RUNNING.value)
    rest = [r for r in runs if r.id not in chosen]
    room = max(0, limit - len(chosen))
    stride = 1
    while sum(1 for r in rest if r.number % stride == 0) > room and stride < 2 * len(runs):
        stride *= 2
    chosen.update(r.id for r in rest if r.number % stride == 0)
    return [r for r in runs if r.id in chosen]


_Line = tuple[list[float | None], list[float | None], list[str | None]]


def _curves_plot(
    runs: Sequence[Run],
    histories: Callable[[Sequence[str]], Mapping[str, Sequence[float]]],
    metric_label: str,
    maximize: bool,
    best_id: str | None,
    limit: int,
) -> tuple[dict[str, Any], int]:
    """The metric's history of each run drawn (``histories`` gives the logged values of
    runs by id), runs hyperband stopped marked at their band, runs a plateau or the study's
    pruner stopped at their last value (a pruner's ``stopped_at_band`` is a wandb step, not
    a count of values). Ended runs are drawn one trace per state, each running run in a
    trace of its own, last, so that a live page appends its values."""
    picked = _pick_curves(runs, limit, maximize)
    known = histories([run.id for run in picked])
    lines: dict[str, _Line] = {}
    running: list[tuple[str, _Line]] = []
    stops: tuple[list[int], list[float], list[str]] = ([], [], [])
    plateaus: tuple[list[int], list[float], list[str]] = ([], [], [])
    pruned: tuple[list[int], list[float], list[str]] = ([], [], [])
    best_line: tuple[list[int], list[float]] = ([], [])
    bands: set[int] = set()
    for run in picked:
        values = list(known.get(run.id, ()))
        if not values:
            continue
        label = plotly_text(f"{run.name} ({run.id})")
        if run.state == RunState.RUNNING.value:
            line: _Line = ([], [], [])
            running.append((label, line))
        else:
            line = lines.setdefault(run.state, ([], [], []))
        xs, ys, texts = line
        for i, v in thin_curve(values):
            xs.append(i)
            ys.append(v if math.isfinite(v) else None)
            texts.append(label)
        if run.state != RunState.RUNNING.value:
            # A gap between runs, so one trace draws them all (a running run's trace is its
            # own, and ends at its last value, so that new values extend it).
            xs.append(None)
            ys.append(None)
            texts.append(None)
        band = run.stopped_at_band
        if run.state == RunState.EARLY_TERMINATED.value and run.end_reason == "pruned":
            # The pruner stops a run at the log call of its last value; ``band`` is that
            # call's wandb step, which this axis (a count of values) does not show.
            pruned[0].append(len(values))
            pruned[1].append(values[-1])
            pruned[2].append(label if band is None else f"{label}, at step {band}")
        elif run.state == RunState.EARLY_TERMINATED.value and band is not None:
            # Hyperband's iteration counts the numbers logged: a value that is none (NaN,
            # text: a gap here) does not count, so its band is at the band-th number.
            numbers = [i for i, v in enumerate(values, 1) if math.isfinite(v)]
            if numbers:
                at = numbers[min(band, len(numbers)) - 1]
                stops[0].append(at)
                stops[1].append(values[at - 1])
                stops[2].append(label)
            bands.add(band)
        elif run.state == RunState.EARLY_TERMINATED.value and run.end_reason == "plateau":
            # The plateau rule stops a run at the value that ends its patience: its last.
            plateaus[0].append(len(values))
            plateaus[1].append(values[-1])
            plateaus[2].append(label)
        if run.id == best_id:
            sampled = thin_curve(values)
            best_line = ([i for i, _ in sampled], [v for _, v in sampled])
    points = sum(len(v[0]) for v in lines.values())
    kind = "scattergl" if points > WEBGL_POINTS else "scatter"
    data: list[dict[str, Any]] = [
        {
            "type": kind,
            # Markers too, so that a run with one value still shows.
            "mode": "lines+markers",
            "marker": {"size": 3},
            "name": state,
            "x": xs,
            "y": ys,
            "text": texts,
            "connectgaps": False,
            "opacity": 0.55,
            "line": {"color": _STATE_COLORS.get(state, "#7f7f7f"), "width": 1},
            "hovertemplate": "%{text}<br>value %{x}: %{y}<extra></extra>",
        }
        for state, (xs, ys, texts) in lines.items()
    ]
    for i, (label, (xs, ys, texts)) in enumerate(running):
        data.append(
            {
                "type": "scatter",
                "mode": "lines+markers",
                "marker": {"size": 3},
                "name": RunState.RUNNING.value if i == 0 else label,
                "legendgroup": RunState.RUNNING.value,
                "showlegend": i == 0,
                "x": xs,
                "y": ys,
                "text": texts,
                "connectgaps": False,
                "opacity": 0.8,
                "line": {"color": _STATE_COLORS[RunState.RUNNING.value], "width": 1.5},
                "hovertemplate": "%{text}<br>value %{x}: %{y}<extra></extra>",
            }
        )
    if stops[0]:
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": "stopped early (at its band)",
                "x": stops[0],
                "y": stops[1],
                "text": stops[2],
                "marker": {"symbol": "x", "size": 8, "color": "#d62728"},
                "hovertemplate": "%{text}<br>stopped at band %{x}: %{y}<extra></extra>",
            }
        )
    if pruned[0]:
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": "pruned: the study's pruner stopped it",
                "x": pruned[0],
                "y": pruned[1],
                "text": pruned[2],
                "marker": {"symbol": "x", "size": 8, "color": "#ff7f0e"},
                "hovertemplate": "%{text}<br>pruned at value %{x}: %{y}<extra></extra>",
            }
        )
    if plateaus[0]:
        data.append(
            {
                "type": "scatter",
                "mode": "markers",
                "name": "plateau: stopped itself",
                "x": plateaus[0],
                "y": plateaus[1],
                "text": plateaus[2],
                "marker": {"symbol": "square-open", "size": 8, "color": "#9467bd"},
                "hovertemplate": "%{text}<br>no improvement, stopped at value %{x}: %{y}"
                "<extra></extra>",
            }
        )
    if best_line[0]:
        data.append(
            {
                "type": "scatter",
                "mode": "lines",
                "name": "best run",
                "x": best_line[0],
                "y": best_line[1],
                "line": {"color": "#7c3aed", "width": 3},
                "hovertemplate": "best run<br>value %{x}: %{y}<extra></extra>",
            }
        )
    shapes = [
        {
            "type": "line",
            "xref": "x",
            "yref": "paper",
            "x0": b,
            "x1": b,
            "y0": 0,
            "y1": 1,
            "line": {"color": "#bbb", "dash": "dot", "width": 1},
        }
        for b in sorted(bands)
    ]
    layout = _layout(
        "Learning curves",
        "metric value number (hyperband's iteration)",
        metric_label,
        shapes=shapes,
    )
    return {"data": data, "layout": layout}, len(picked)
