"""One self-contained HTML file with the views of a sweep that W&B's sweep page has.

Everything the page shows comes from one JSON blob (plots, runs table) plus a few escaped
HTML fragments; plotly's JavaScript is inlined from the installed plotly package, so the
file opens offline. User text (parameter values and names, metric names, run names,
errors) is escaped for each place it lands: HTML text, the JSON blob inside a
``<script>`` element, and plotly labels, which plotly reads as markup.
"""

from __future__ import annotations

import html
import json
import logging
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from localsweep.records import RunState
from localsweep.report._importance import ParamImportance
from localsweep.report._study import (
    ParamAxis,
    metric_values,
    plotly_text,
)

if TYPE_CHECKING:
    import optuna

    from localsweep.api import Run, Sweep
    from localsweep.config import SweepConfig

__all__ = ["embed_json"]

logger = logging.getLogger(__name__)

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


def runs_and_priors(sweep: Sweep) -> list[Run]:
    """The sweep's prior runs (negative numbers, given to it to learn from) and its own."""
    return [*sweep.prior_runs, *sweep.runs]


def embed_json(value: Any) -> str:
    """JSON text safe inside a ``<script>`` element: ``<``, ``>`` and ``&`` as ``\\u`` escapes
    (``json.dumps`` leaves ``</script>`` as is, which would end the element)."""
    from plotly.io.json import to_json_plotly

    text: str = to_json_plotly(value)
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:.6g}"
    return str(value)


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _sweep_span(sweep: Sweep) -> tuple[float, bool]:
    """Seconds from the sweep's creation to its last run's end, and whether runs still run."""
    start = _utc(sweep.created_at)
    end = start
    running = False
    for run in sweep.runs:
        end = max(end, _utc(run.finished_at or run.created_at))
        running = running or run.state == RunState.RUNNING.value
    return (end - start).total_seconds(), running


def _plain(value: Any) -> Any:
    """A run's value for the table: scalars as they are, anything else as JSON text."""
    if value is None or isinstance(value, (str, bool, int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        return value
    return json.dumps(value, sort_keys=True, default=str)


def _lookup(config: Mapping[str, Any], path: Sequence[str]) -> Any:
    node: Any = config
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def _last_line(error: str | None) -> str | None:
    if not error:
        return None
    lines = [line for line in error.strip().splitlines() if line.strip()]
    return lines[-1][:300] if lines else None


# ---------------------------------------------------------------------------------------
# Plots


def _figure(fig: Any) -> dict[str, Any]:
    """A plotly figure as ``{data, layout}``, without its template (the page has one), and
    with big scatter traces switched to WebGL."""
    spec: dict[str, Any] = fig.to_plotly_json()
    spec["layout"].pop("template", None)
    for trace in spec["data"]:
        if trace.get("type") == "scatter" and len(trace.get("x") or ()) > WEBGL_POINTS:
            trace["type"] = "scattergl"
    return spec


def _layout(title: str, x_title: str, y_title: str, **extra: Any) -> dict[str, Any]:
    return {
        "title": {"text": title},
        "xaxis": {"title": {"text": x_title}},
        "yaxis": {"title": {"text": y_title}},
        "margin": {"l": 70, "r": 20, "t": 50, "b": 50},
        "legend": {"orientation": "h", "y": -0.2},
        **extra,
    }


def _history_plot(sweep: Sweep, metric_label: str, maximize: bool) -> dict[str, Any]:
    """Each run's metric by run number, colored by state, and the best finished so far."""
    groups: dict[str, tuple[list[int], list[float], list[str]]] = {}
    best_x: list[int] = []
    best_y: list[float] = []
    best: float | None = None
    for run in runs_and_priors(sweep):
        value = run.metric
        if value is None or not math.isfinite(value):
            continue
        xs, ys, texts = groups.setdefault(PRIOR if run.prior else run.state, ([], [], []))
        xs.append(run.number)
        ys.append(value)
        texts.append(plotly_text(f"{run.name} ({run.id})"))
        if run.state == RunState.FINISHED.value:
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


def _pick_curves(sweep: Sweep, limit: int, maximize: bool) -> list[Run]:
    """The runs whose learning curves are drawn: all when few, else the best ones and an
    even spread of the rest (so the picture keeps the sweep's shape)."""
    runs = runs_and_priors(sweep)
    if limit <= 0:
        return []
    if len(runs) <= limit:
        return list(runs)
    scored = [r for r in runs if r.metric is not None and math.isfinite(r.metric)]
    scored.sort(key=lambda r: -(r.metric or 0.0) if maximize else (r.metric or 0.0))
    chosen = {r.id for r in scored[: _best_curves(limit)]}
    rest = [r for r in runs if r.id not in chosen]
    room = limit - len(chosen)
    step = len(rest) / room
    chosen.update(rest[int(i * step)].id for i in range(room))
    return [r for r in runs if r.id in chosen]


def _curves_plot(
    sweep: Sweep,
    metric_name: str,
    metric_label: str,
    maximize: bool,
    best_id: str | None,
    limit: int,
) -> tuple[dict[str, Any], int]:
    """The metric's history of each run drawn, runs stopped early marked at their band."""
    picked = _pick_curves(sweep, limit, maximize)
    lines: dict[str, tuple[list[float | None], list[float | None], list[str | None]]] = {}
    stops: tuple[list[int], list[float], list[str]] = ([], [], [])
    plateaus: tuple[list[int], list[float], list[str]] = ([], [], [])
    best_line: tuple[list[int], list[float]] = ([], [])
    bands: set[int] = set()
    for run in picked:
        values = metric_values(run, metric_name)
        if not values:
            continue
        label = plotly_text(f"{run.name} ({run.id})")
        xs, ys, texts = lines.setdefault(run.state, ([], [], []))
        for i, v in enumerate(values, 1):
            xs.append(i)
            ys.append(v if math.isfinite(v) else None)
            texts.append(label)
        # A gap between runs, so one trace draws them all.
        xs.append(None)
        ys.append(None)
        texts.append(None)
        band = run.stopped_at_band
        if run.state == RunState.EARLY_TERMINATED.value and band is not None:
            at = min(band, len(values))
            stops[0].append(band)
            stops[1].append(values[at - 1])
            stops[2].append(label)
            bands.add(band)
        elif run.state == RunState.EARLY_TERMINATED.value and run.end_reason == "plateau":
            # The plateau rule stops a run at the value that ends its patience: its last.
            plateaus[0].append(len(values))
            plateaus[1].append(values[-1])
            plateaus[2].append(label)
        if run.id == best_id:
            best_line = (list(range(1, len(values) + 1)), values)
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


def _log_ticks(low: float, high: float) -> list[float]:
    """Tick positions (log10 units) for a log axis: whole decades, or a few steps when the
    axis spans less than two."""
    first, last = math.ceil(low), math.floor(high)
    if last - first >= 1:
        step = max(1, (last - first) // 8)
        return [float(k) for k in range(first, last + 1, step)]
    if high == low:
        return [low]
    return [low + (high - low) * i / 4 for i in range(5)]


def _parallel_plot(
    study: optuna.Study, axes: list[ParamAxis], metric_label: str, maximize: bool
) -> dict[str, Any]:
    """Parallel coordinates (plotly's WebGL ``parcoords``, one line per run): categorical
    parameters as categories, log-scale ones on log10 axes labelled with their values, the
    metric last and as the line color."""
    from optuna.distributions import CategoricalDistribution
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    dimensions: list[dict[str, Any]] = []
    for axis in axes:
        if any(axis.name not in t.params for t in trials):
            continue  # parcoords cannot draw a missing value
        raw: list[Any] = [t.params[axis.name] for t in trials]
        if axis.categorical:
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
            ticks = _log_ticks(low, high)
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


def _slice_plots(
    study: optuna.Study, axes: list[ParamAxis], metric_label: str
) -> list[tuple[str, dict[str, Any]]]:
    """One slice plot per parameter: the metric against the parameter alone, colored by
    run number (what ``optuna.visualization.plot_slice`` draws, built here directly: at
    thousands of runs Optuna's figure objects cost seconds)."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    slices = []
    for axis in axes:
        shown = [t for t in trials if axis.name in t.params]
        xs: list[Any] = [t.params[axis.name] for t in shown]
        xaxis: dict[str, Any] = {"title": {"text": axis.name}}
        if axis.categorical:
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


# ---------------------------------------------------------------------------------------
# Page


def _importance_table(rows: list[ParamImportance]) -> str:
    if not rows:
        return '<div class="empty">No searchable parameters.</div>'
    top = max((r.importance or 0.0) for r in rows) or 1.0
    body = []
    for r in rows:
        imp = r.importance
        cor = r.correlation
        imp_bar = (
            f'<div class="bar-box"><div class="bar-fill imp" '
            f'style="width:{100 * (imp or 0.0) / top:.1f}%"></div></div>'
        )
        if cor is None:
            cor_bar = '<span class="muted">—</span>'
        else:
            side = "pos" if cor >= 0 else "neg"
            cor_bar = (
                f'<div class="bar-box signed"><div class="bar-fill {side}" '
                f'style="width:{50 * min(abs(cor), 1.0):.1f}%"></div></div>'
            )
        body.append(
            "<tr>"
            f"<td>{_e(r.name)}</td>"
            f'<td class="num">{_number(None if imp is None else round(imp, 4))}</td>'
            f'<td class="bar">{imp_bar}</td>'
            f'<td class="num">{_number(None if cor is None else round(cor, 3))}</td>'
            f'<td class="bar">{cor_bar}</td>'
            f'<td class="num">{_number(None if r.fanova is None else round(r.fanova, 4))}</td>'
            "</tr>"
        )
    return (
        '<table class="imp" id="importance-table"><thead><tr><th>parameter</th>'
        "<th>importance</th><th></th><th>correlation</th><th></th><th>fANOVA</th>"
        "</tr></thead><tbody>" + "".join(body) + "</tbody></table>"
    )


def _runs_table(sweep: Sweep, axes: list[ParamAxis], metric_name: str | None) -> dict[str, Any]:
    columns = ["#", "id", "name", "state", metric_name or "metric"]
    columns += [a.parameter.name for a in axes]
    columns += ["runtime (s)", "stopped at band", "end reason", "error"]
    rows = []
    for run in runs_and_priors(sweep):
        config = run.params
        runtime = None
        if run.finished_at is not None:
            runtime = round((_utc(run.finished_at) - _utc(run.created_at)).total_seconds(), 2)
        rows.append(
            [
                run.number,
                run.id,
                run.name,
                f"{run.state} ({PRIOR})" if run.prior else run.state,
                _plain(run.metric),
                *(_plain(_lookup(config, a.parameter.path)) for a in axes),
                runtime,
                run.stopped_at_band,
                run.end_reason,
                _last_line(run.error),
            ]
        )
    return {"columns": columns, "rows": rows, "id_column": 1, "state_column": 3}


def _stop_note(runs: Sequence[Run], config: SweepConfig) -> str:
    """What stopped runs early: ``by hyperband``, ``2 by hyperband, 1 on a plateau``."""
    reasons = Counter(
        run.end_reason or "hyperband"
        for run in runs
        if run.state == RunState.EARLY_TERMINATED.value
    )
    words = {"hyperband": "by hyperband", "plateau": "on a plateau"}
    if len(reasons) > 1:
        return ", ".join(f"{n} {words.get(r, r)}" for r, n in sorted(reasons.items()))
    if reasons:
        return words.get(next(iter(reasons)), next(iter(reasons)))
    rules = [
        text
        for text, on in (
            ("by hyperband", config.early_terminate is not None),
            ("on a plateau", config.options.early_stopping is not None),
        )
        if on
    ]
    return " or ".join(rules) if rules else "no early termination"


def _div(plot_id: str) -> str:
    return f'<div class="plot" id="{plot_id}"></div>'


def _empty(text: str) -> str:
    return f'<div class="empty">{_e(text)}</div>'
