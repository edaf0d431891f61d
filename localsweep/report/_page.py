"""The sweep page: one rendering for the static report and the live page of ``localsweep ui``.

:func:`sweep_view` turns a sweep into a :class:`SweepView`: escaped HTML fragments ("parts")
for the sections, plotly figure specs and the runs table. :func:`render_page` lays a view
out as a whole HTML page; the report is that page written to a file, and the live page is
the same page with a script that asks the server for what changed (:func:`view_update`) and
puts it in place. So the two never drift.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localsweep.report._assets import ERROR_HOOK_JS, REPORT_CSS, REPORT_JS
from localsweep.report._delta import row_key, view_update
from localsweep.report._extra import require
from localsweep.report._html import (
    RowCache,
    _digest,
    _div,
    _e,
    _empty,
    _importance_table,
    embed_json,
    runs_and_priors,
)
from localsweep.report._importance import ParamImportance, importance_of_study
from localsweep.report._objectives import (
    ObjectiveImportance,
    objective_curves,
    objective_parts,
)
from localsweep.report._overview import overview, sweep_meta
from localsweep.report._param_plots import parallel_plot, slice_plots
from localsweep.report._pareto import pareto_section
from localsweep.report._plots import (
    MAX_CURVES,
    _best_curves,
    _curves_plot,
    _history_plot,
    _importance_plot,
)
from localsweep.report._silent import silent_runs
from localsweep.report._study import (
    analysis_points,
    param_axes,
    plotly_text,
    stored_metric_histories,
    sweep_study,
)

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Sequence

    from localsweep.api import Sweep

__all__ = [
    "RowCache",
    "SweepView",
    "render_page",
    "sweep_view",
    "view_update",
    "write_report",
]

logger = logging.getLogger(__name__)

#: The sections of the page whose HTML a live page replaces when it changes, in page order.
PARTS = ("meta", "overview", "pareto", "history", "importance", "parallel", "slices", "curves")


@dataclass(frozen=True)
class SweepView:
    """Everything the sweep page shows, as escaped HTML fragments and JSON-able data."""

    sweep_id: str
    title: str
    parts: Mapping[str, str]
    plots: tuple[dict[str, Any], ...]
    table: dict[str, Any]
    best_run_id: str | None
    #: Whether the importance section holds computed values (a live page may skip them).
    has_importance: bool = True
    hashes: Mapping[str, str] = field(default_factory=dict)

    @property
    def version(self) -> str:
        """A short digest of everything shown: equal versions show the same page."""
        joined = "|".join(f"{k}={v}" for k, v in sorted(self.hashes.items()))
        return hashlib.sha1(joined.encode()).hexdigest()[:16]


def _with_hashes(
    view: SweepView, digests: Sequence[str] | None = None, cache: RowCache | None = None
) -> SweepView:
    digest = cache.digest if cache is not None else _digest
    hashes: dict[str, str] = {f"part:{k}": _digest(v) for k, v in view.parts.items()}
    hashes.update({f"plot:{p['id']}": digest(p) for p in view.plots})
    if cache is not None:
        cache.keep_digests(view.plots)
    hashes["table:columns"] = _digest(view.table["columns"])
    for i, row in enumerate(view.table["rows"]):
        hashes[f"row:{row_key(view.table, row)}"] = (
            digests[i] if digests is not None else _digest(row)
        )
    hashes["best"] = view.best_run_id or ""
    return SweepView(
        sweep_id=view.sweep_id,
        title=view.title,
        parts=view.parts,
        plots=view.plots,
        table=view.table,
        best_run_id=view.best_run_id,
        has_importance=view.has_importance,
        hashes=hashes,
    )


def sweep_view(
    sweep: Sweep,
    *,
    max_curves: int = MAX_CURVES,
    importance: bool | list[ParamImportance] | ObjectiveImportance = True,
    plots: bool = True,
    histories: Callable[[Sequence[str]], Mapping[str, Sequence[float]]] | None = None,
    rows: RowCache | None = None,
    importance_runs: int | None = None,
    silent: Mapping[str, str] | None = None,
) -> SweepView:
    """The sweep page's content: W&B's sweep views, offline (an overview, the metric over
    runs, parameter importance, parallel coordinates, slices, learning curves, runs table).

    ``importance`` may be ``False`` to leave the importance section for later (it is the
    slow part at thousands of runs), or one computed before, to reuse it (a multi-objective
    sweep's: a list per objective, by name; see :mod:`._objectives`). ``plots=False``
    gives only the overview and the runs table, with the plots' sections to come: a live
    page's first paint, quick at thousands of runs. ``histories`` gives the metric's logged
    values of runs by id (default: the store's, kept beside each row: NaN for a value
    that is no number); a live page passes the
    ones it keeps, and ``rows`` to reuse the table rows of runs that did not change;
    ``importance_runs`` says how many runs an importance computed before was computed on;
    ``silent``, the running runs whose agent is most likely gone (default: found from the
    runs' heartbeats, see :mod:`._silent`; a live page's kept runs have old ones).
    """
    require("plotly", "the sweep report")
    require("sklearn", "the sweep report")
    config = sweep.parsed_config
    metric = config.metric
    metric_name = metric.name if metric else None
    maximize = metric is not None and metric.goal.value == "maximize"
    metric_label = plotly_text(metric_name or "metric")
    everyone = runs_and_priors(sweep)
    best = sweep.best_run() if metric else None
    cache = rows or RowCache()
    axes = cache.memo("axes", everyone, lambda: param_axes(sweep, plotly_safe=True))

    multi = config.is_multi_objective
    pareto = {run.id for run in sweep.pareto_runs()} if multi else set()
    objectives = config.metrics if multi else ()
    # Runs whose agent is most likely gone, as `show` marks them (the store keeps them
    # running until another agent reaps them).
    if silent is None:  # by the database's clock, which wrote the heartbeats
        silent = silent_runs(sweep.runs, sweep._db_time())
    table, digests = cache.table(everyone, axes, metric_name, objectives, pareto, silent)
    if not plots:
        return _light_view(sweep, table, digests, best, metric_name, silent)
    # A multi-objective sweep's True is computed by objective_parts.
    found: Any = None if importance is False else importance
    if importance is True and not multi:
        study, _axes = sweep_study(sweep, plotly_safe=True)
        found = importance_of_study(study, axes)
    points = cache.memo("points", everyone, lambda: analysis_points(everyone, axes))
    analysed = len(points)

    specs: list[dict[str, Any]] = []

    def add(plot_id: str, spec: dict[str, Any]) -> str:
        spec["id"] = plot_id  # in place: a plot reused from the last build stays the same
        specs.append(spec)
        return _div(plot_id)

    parts: dict[str, str] = {}
    hint = _metric_hint(sweep)
    no_metric = _empty(
        hint[0].upper() + hint[1:] if hint else "No run has a value of the metric yet."
    )
    if multi:
        parts.update(objective_parts(sweep, everyone, axes, found, cache, add))
    elif analysed:
        history = cache.memo(
            "history", everyone, lambda: _history_plot(everyone, metric_label, maximize)
        )
        parts["history"] = add("plot-history", history)
        parallel = cache.memo(
            "parallel", everyone, lambda: parallel_plot(points, axes, metric_label, maximize)
        )
        parts["parallel"] = add("plot-parallel", parallel)
        slices = cache.memo("slices", everyone, lambda: slice_plots(points, axes, metric_label))
        parts["slices"] = "".join(
            add(f"plot-slice-{i}", spec) for i, (_name, spec) in enumerate(slices)
        ) or _empty("No searchable parameters.")
    else:
        parts["history"] = parts["parallel"] = parts["slices"] = no_metric
    if not multi:
        on = analysed if importance_runs is None or importance is True else importance_runs
        parts["importance"] = _importance_part(found if isinstance(found, list) else None, on, add)

    curves_html = _empty("No run logged the metric yet.")
    curves_note = ""
    if multi:
        curves_html = objective_curves(everyone, config.metrics, cache, max_curves, add)
    elif metric_name is not None:
        if histories is None:
            histories = stored_metric_histories(sweep, everyone)
        curves, drawn = _curves_plot(
            everyone,
            histories,
            metric_label,
            maximize,
            best.id if best else None,
            max_curves,
        )
        if curves["data"]:
            curves_html = add("plot-curves", curves)
            shown_of = len(everyone)
            if drawn < shown_of:
                curves_note = (
                    f"Showing {drawn} of {shown_of} runs: the {_best_curves(max_curves)} best,"
                    " the running ones and an even spread of the rest."
                )
    parts["curves"] = (f'<p class="hint">{_e(curves_note)}</p>' if curves_note else "") + (
        curves_html
    )

    parts["pareto"] = pareto_section(sweep, add)  # multi-objective sweeps only
    parts["meta"] = sweep_meta(sweep)
    parts["overview"] = overview(sweep, best, metric_name, hint, silent)
    view = SweepView(
        sweep_id=sweep.id,
        title=f"Sweep {sweep.name}",
        parts={name: parts[name] for name in PARTS},
        plots=tuple(specs),
        table=table,
        best_run_id=best.id if best else None,
        has_importance=found is not None,
    )
    return _with_hashes(view, digests, cache)


def _light_view(
    sweep: Sweep,
    table: dict[str, Any],
    digests: list[str],
    best: Any,
    metric_name: str | None,
    silent: Mapping[str, str],
) -> SweepView:
    loading = _empty("Loading…")
    parts = {name: loading for name in PARTS}
    parts["meta"] = sweep_meta(sweep)
    parts["overview"] = overview(sweep, best, metric_name, _metric_hint(sweep), silent)
    view = SweepView(
        sweep_id=sweep.id,
        title=f"Sweep {sweep.name}",
        parts=parts,
        plots=(),
        table=table,
        best_run_id=best.id if best else None,
        has_importance=False,
    )
    return _with_hashes(view, digests)


def _importance_part(rows: list[ParamImportance] | None, analysed: int, add: Any) -> str:
    if rows is None:
        return _empty("Computing parameter importance…")
    note = (
        f'<p class="hint">Computed on {analysed} runs that finished or stopped early with a'
        " value.</p>"
    )
    if not analysed:
        return note + _importance_table(rows) + _empty("No run has a value of the metric yet.")
    if any(r.importance is not None for r in rows):
        plot = add("plot-importance", _importance_plot(rows))
    else:
        plot = _empty(
            "Importance needs at least two runs with the metric and a parameter that varies."
        )
    return note + _importance_table(rows) + plot


def _metric_hint(sweep: Sweep) -> str | None:
    from localsweep._hints import sweep_metric_hint

    return sweep_metric_hint(sweep)


def _template() -> dict[str, Any]:
    from plotly.io import templates

    template: dict[str, Any] = templates["plotly"].to_plotly_json()
    return template


def render_page(
    view: SweepView,
    *,
    footer: str,
    head: str = "",
    before_body: str = "",
    scripts: str = "",
    plotly_js: str | None = None,
) -> str:
    """The whole HTML page of ``view``. ``plotly_js`` is plotly's JavaScript inlined (the
    report) or ``None`` to leave it to ``head`` (the live page serves it as a file);
    ``head``, ``before_body`` and ``scripts`` are trusted HTML the live page adds."""
    blob = embed_json(
        {
            "plots": list(view.plots),
            "template": _template(),
            "table": view.table,
            "best_run_id": view.best_run_id,
            "version": view.version,
        }
    )
    p = view.parts
    plotly = f"<script>{plotly_js}</script>" if plotly_js is not None else ""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="localsweep">
<title>{_e(view.title)}</title>
<script>{ERROR_HOOK_JS}</script>
<style>{REPORT_CSS}</style>
{head}
</head>
<body data-plots-expected="{len(view.plots)}">
<pre id="js-errors" data-count="0" hidden></pre>
{before_body}
<header>
<h1 id="page-title">{_e(view.title)}</h1>
<div class="muted" data-part="meta">{p["meta"]}</div>
</header>

<h2 id="overview">Overview</h2>
<div data-part="overview">{p["overview"]}</div>
<div data-part="pareto">{p["pareto"]}</div>

<h2 id="history">Metric over runs</h2>
<p class="hint">Each run's summary value of the metric by run number; the line is the best
finished run so far (as the sweep ranks its best run).</p>
<div data-part="history">{p["history"]}</div>

<h2 id="importance">Parameter importance</h2>
<p class="hint">As W&amp;B's panel: <b>importance</b> is a random forest's share of the metric
explained by each parameter (params &rarr; metric); <b>correlation</b> is the linear
correlation with the metric (green: larger values go with a larger metric; on log-scale
parameters, of the logarithm); <b>fANOVA</b> is Optuna's functional ANOVA share of the
metric's variance.</p>
<div data-part="importance">{p["importance"]}</div>

<h2 id="parallel">Parallel coordinates</h2>
<p class="hint">One line per run, from its parameters to its metric; categorical parameters
as categories, log-scale parameters on log axes. Drag along an axis to filter.</p>
<div data-part="parallel">{p["parallel"]}</div>

<h2 id="slices">Slice plots</h2>
<p class="hint">The metric against each parameter alone; color is the run number.</p>
<div class="slices" data-part="slices">{p["slices"]}</div>

<h2 id="curves">Learning curves</h2>
<p class="hint">The metric's logged values of each run; &times; marks a run stopped early,
at its band (dotted lines).</p>
<div data-part="curves">{p["curves"]}</div>

<h2 id="runs">Runs</h2>
<p class="hint">Click a column to sort; the best run is highlighted.</p>
<div class="table-wrap"><table id="runs-table"><thead><tr></tr></thead><tbody></tbody></table></div>

<footer>{footer}</footer>
<script type="application/json" id="sweep-data">{blob}</script>
{plotly}
<script>{REPORT_JS}</script>
{scripts}
</body>
</html>
"""


def write_report(
    sweep: Sweep, path: str | os.PathLike[str], *, max_curves: int = MAX_CURVES
) -> Path:
    """Write the sweep's report, one self-contained HTML file, to ``path`` and return it.

    The page has W&B's sweep views, offline: an overview (config, runs per state, best
    run, duration, runs stopped early), the metric over runs, parameter importance
    (random forest importance and correlation, as W&B computes them, and fANOVA), parallel
    coordinates, a slice plot per parameter, learning curves (at most ``max_curves``
    runs, the best ones always) and a runs table sortable by any column. It is the page
    ``localsweep ui`` shows live, frozen. Needs plotly and scikit-learn.

    >>> write_report(localsweep.Api().sweep("ls-k3j9x2ab"), "report.html")  # doctest: +SKIP
    """
    from plotly.offline import get_plotlyjs

    started = time.perf_counter()
    out = Path(path)
    view = sweep_view(sweep, max_curves=max_curves)
    written = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    page = render_page(
        view, footer=f"Written by localsweep on {_e(written)}.", plotly_js=get_plotlyjs()
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    logger.info(
        "wrote the report of sweep %s (%d runs) to %s in %.1fs",
        sweep.id,
        len(sweep.runs),
        out,
        time.perf_counter() - started,
    )
    return out
