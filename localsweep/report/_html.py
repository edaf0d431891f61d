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
import os
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from localsweep.records import RunState
from localsweep.report._assets import ERROR_HOOK_JS, REPORT_CSS, REPORT_JS
from localsweep.report._extra import require
from localsweep.report._importance import ParamImportance, importance_of_study
from localsweep.report._pareto import pareto_section
from localsweep.report._study import (
    ParamAxis,
    metric_values,
    plotly_text,
    quiet_optuna,
    sweep_study,
)

if TYPE_CHECKING:
    import optuna

    from localsweep.api import Run, Sweep
    from localsweep.config import SweepConfig

__all__ = ["write_report"]

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
    """One slice plot per parameter, from ``optuna.visualization.plot_slice``."""
    from optuna.visualization import plot_slice

    slices = []
    with quiet_optuna():
        for axis in axes:
            spec = _figure(plot_slice(study, params=[axis.name], target_name=metric_label))
            spec["layout"]["title"] = {"text": axis.name}
            spec["layout"]["margin"] = {"l": 70, "r": 20, "t": 50, "b": 50}
            slices.append((axis.parameter.name, spec))
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


def write_report(
    sweep: Sweep, path: str | os.PathLike[str], *, max_curves: int = MAX_CURVES
) -> Path:
    """Write the sweep's report, one self-contained HTML file, to ``path`` and return it.

    The page has W&B's sweep views, offline: an overview (config, runs per state, best
    run, duration, runs stopped early), the metric over runs, parameter importance
    (random forest importance and correlation, as W&B computes them, and fANOVA), parallel
    coordinates, a slice plot per parameter, learning curves (at most ``max_curves``
    runs, the best ones always) and a runs table sortable by any column. Needs plotly
    and scikit-learn (dependencies of localsweep).

    >>> write_report(localsweep.Api().sweep("ls-k3j9x2ab"), "report.html")  # doctest: +SKIP
    """
    require("plotly", "the sweep report")
    require("sklearn", "the sweep report")
    from plotly.io import templates
    from plotly.offline import get_plotlyjs

    started = time.perf_counter()
    out = Path(path)
    config = sweep.parsed_config
    metric = config.metric
    metric_name = metric.name if metric else None
    maximize = metric is not None and metric.goal.value == "maximize"
    metric_label = plotly_text(metric_name or "metric")
    runs = sweep.runs
    best = sweep.best_run() if metric else None

    study, axes = sweep_study(sweep, plotly_safe=True)
    importance = importance_of_study(study, axes)
    analysed = sum(1 for t in study.get_trials(deepcopy=False) if t.value is not None)

    plots: list[dict[str, Any]] = []

    def add(plot_id: str, spec: dict[str, Any]) -> str:
        plots.append({"id": plot_id, **spec})
        return _div(plot_id)

    from localsweep._hints import sweep_metric_hint

    hint = sweep_metric_hint(sweep)
    no_metric = hint[0].upper() + hint[1:] if hint else "No run has a value of the metric yet."
    if analysed:
        history_html = add("plot-history", _history_plot(sweep, metric_label, maximize))
        importance_plot_html = (
            add("plot-importance", _importance_plot(importance))
            if any(r.importance is not None for r in importance)
            else _empty(
                "Importance needs at least two runs with the metric and a parameter that varies."
            )
        )
        parallel_html = add("plot-parallel", _parallel_plot(study, axes, metric_label, maximize))
        slices = _slice_plots(study, axes, metric_label)
        slice_html = "".join(
            add(f"plot-slice-{i}", spec) for i, (_name, spec) in enumerate(slices)
        ) or _empty("No searchable parameters.")
    else:
        history_html = importance_plot_html = parallel_html = slice_html = _empty(no_metric)
    curves_html = _empty("No run logged the metric yet.")
    curves_note = ""
    if metric_name is not None:
        curves, drawn = _curves_plot(
            sweep, metric_name, metric_label, maximize, best.id if best else None, max_curves
        )
        if curves["data"]:
            curves_html = add("plot-curves", curves)
            shown_of = len(runs) + len(sweep.prior_runs)
            if drawn < shown_of:
                curves_note = (
                    f" Showing {drawn} of {shown_of} runs: the {_best_curves(max_curves)} best"
                    " and an"
                    " even spread of the rest."
                )

    pareto_html = pareto_section(sweep, add)  # multi-objective sweeps only

    states = Counter(run.state for run in runs)
    prior_note = (
        f'<div class="muted" id="prior-count">and {len(sweep.prior_runs)} prior runs, '
        "given to the sweep to learn from (marked prior)</div>"
        if sweep.prior_runs
        else ""
    )
    span, still_running = _sweep_span(sweep)
    stopped = states.get(RunState.EARLY_TERMINATED.value, 0)
    config_yaml = yaml.safe_dump(sweep.config, sort_keys=False, allow_unicode=True)

    chips = (
        "".join(
            f'<span class="state-{_e(state)}">{_e(state)}: {count}</span>'
            for state, count in sorted(states.items(), key=lambda kv: -kv[1])
        )
        or "<span>no runs yet</span>"
    )
    if best is not None:
        best_html = (
            f'<div class="card"><div class="label">best run{" (prior)" if best.prior else ""}'
            f'</div><div class="value" id="best-run-id">{_e(best.id)}</div>'
            f'<div class="muted">{_e(best.name)} · {_e(metric_name)} = '
            f'<b id="best-metric">{_e(_number(best.metric))}</b></div></div>'
        )
        best_config = (
            f'<h3>Best run\'s config</h3><pre id="best-config">'
            f"{_e(yaml.safe_dump(best.params, sort_keys=False, allow_unicode=True))}</pre>"
        )
    else:
        best_html = (
            '<div class="card"><div class="label">best run</div>'
            '<div class="value">—</div><div class="muted">no finished run with the metric'
            f"{'' if hint is None else ': ' + _e(hint)}</div></div>"
        )
        best_config = "<h3>Best run's config</h3>" + _empty("No best run yet.")

    goal = f"{metric.goal.value} {metric.name}" if metric else "no metric"
    template = templates["plotly"].to_plotly_json()
    blob = embed_json(
        {
            "plots": plots,
            "template": template,
            "table": _runs_table(sweep, axes, metric_name),
            "best_run_id": best.id if best else None,
        }
    )
    title = f"Sweep {sweep.name}"
    span_note = "still running" if still_running else "from creation to the last run's end"
    stop_note = _stop_note(runs, config)
    written = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="localsweep">
<title>{_e(title)}</title>
<script>{ERROR_HOOK_JS}</script>
<style>{REPORT_CSS}</style>
</head>
<body data-plots-expected="{len(plots)}">
<pre id="js-errors" data-count="0" hidden></pre>
<header>
<h1>{_e(title)}</h1>
<div class="muted">id <code id="sweep-id">{_e(sweep.id)}</code> · {_e(config.method.value)} ·
{_e(goal)} · project {_e(sweep.project or "—")} · state {_e(sweep.state)}
{_e("(" + sweep.finished_reason + ")") if sweep.finished_reason else ""}</div>
</header>

<h2 id="overview">Overview</h2>
<div class="cards">
<div class="card"><div class="label">runs</div><div class="value" id="run-count">{len(runs)}</div>
<div class="chips">{chips}</div>{prior_note}</div>
{best_html}
<div class="card"><div class="label">ran for</div>
<div class="value">{_e(_duration(span))}</div><div class="muted">{span_note}</div></div>
<div class="card"><div class="label">stopped early</div>
<div class="value" id="stopped-count">{stopped}</div><div class="muted">{stop_note}</div></div>
</div>
<div class="two">
<div><h3>Sweep config</h3><pre id="sweep-config">{_e(config_yaml)}</pre></div>
<div>{best_config}</div>
</div>

{pareto_html}

<h2 id="history">Metric over runs</h2>
<p class="hint">Each run's summary value of the metric by run number; the line is the best
finished run so far (as the sweep ranks its best run).</p>
{history_html}

<h2 id="importance">Parameter importance</h2>
<p class="hint">As W&amp;B's panel: <b>importance</b> is a random forest's share of the metric
explained by each parameter (params &rarr; metric); <b>correlation</b> is the linear
correlation with the metric (green: larger values go with a larger metric; on log-scale
parameters, of the logarithm); <b>fANOVA</b> is Optuna's functional ANOVA share of the
metric's variance. Computed on {analysed} runs that finished or stopped early with a value.</p>
{_importance_table(importance)}
{importance_plot_html}

<h2 id="parallel">Parallel coordinates</h2>
<p class="hint">One line per run, from its parameters to its metric; categorical parameters
as categories, log-scale parameters on log axes. Drag along an axis to filter.</p>
{parallel_html}

<h2 id="slices">Slice plots</h2>
<p class="hint">The metric against each parameter alone; color is the run number.</p>
<div class="slices">{slice_html}</div>

<h2 id="curves">Learning curves</h2>
<p class="hint">The metric's logged values of each run; &times; marks a run hyperband stopped,
at its band (dotted lines).{_e(curves_note)}</p>
{curves_html}

<h2 id="runs">Runs</h2>
<p class="hint">Click a column to sort; the best run is highlighted.</p>
<div class="table-wrap"><table id="runs-table"><thead><tr></tr></thead><tbody></tbody></table></div>

<footer>Written by localsweep on {_e(written)}.</footer>
<script type="application/json" id="sweep-data">{blob}</script>
<script>{get_plotlyjs()}</script>
<script>{REPORT_JS}</script>
</body>
</html>
"""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    logger.info(
        "wrote the report of sweep %s (%d runs) to %s in %.1fs",
        sweep.id,
        len(runs),
        out,
        time.perf_counter() - started,
    )
    return out
