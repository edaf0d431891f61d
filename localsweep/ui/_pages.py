"""The pages of ``localsweep ui`` other than the sweep page (which is the report's page
with a live script): the list of sweeps and a run's page. Every string from configs and
runs is escaped where it lands, as in the report."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from localsweep._api_state import shown_state, state_word
from localsweep.api import Run, Sweep
from localsweep.config import Metric
from localsweep.report._assets import ERROR_HOOK_JS, REPORT_CSS
from localsweep.report._html import _duration, _e, _empty, _number, _utc, embed_json
from localsweep.report._silent import run_runtime, silent_runs, silent_state
from localsweep.report._thin import CURVE_POINTS, thin_curve
from localsweep.search._multi import summary_value

__all__ = ["index_page", "run_page", "shell"]

#: Lines of a program-mode run's output shown on its page.
OUTPUT_TAIL_LINES = 200
#: History plots drawn on a run's page at most (one per logged numeric key).
MAX_RUN_PLOTS = 16

UI_CSS = """
nav { margin: -8px 0 16px; font-size: 13px; }
nav a { margin-right: 12px; }
.controls { margin: 10px 0 0; display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
.controls button { font: inherit; padding: 4px 14px; border-radius: 6px; cursor: pointer;
                   border: 1px solid var(--line); background: var(--bg2); }
.controls button.danger { color: var(--bad); border-color: var(--bad); }
#control-status { color: var(--muted); }
#live-status { font-size: 12px; color: var(--muted); }
table.sweeps td, table.sweeps th { white-space: nowrap; }
"""


def shell(title: str, body: str, *, head: str = "", scripts: str = "", nav: str = "") -> str:
    """A page of the UI around ``body`` (trusted, already escaped HTML)."""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{_e(title)}</title>
<script>{ERROR_HOOK_JS}</script>
<style>{REPORT_CSS}{UI_CSS}</style>
{head}
</head>
<body>
<pre id="js-errors" data-count="0" hidden></pre>
{nav}
{body}
{scripts}
</body>
</html>
"""


def _progress(sweep: Sweep) -> str:
    """ "k/N" as the agents show it ("4/10 done"): the sweep's runs done (killed, crashed
    and preempted runs give their point back: not done) of what it runs in all."""
    from localsweep.agent._progress import is_done, sweep_total

    done = sum(1 for r in sweep.runs if is_done(r._record))
    held = sum(1 for r in sweep.prior_runs if r._record.grid_key is not None)
    total = sweep_total(sweep.parsed_config, held)
    return f"{done}/{total}" if total is not None else str(done)


def index_page(sweeps: Sequence[tuple[Sweep, Mapping[str, str]]], *, nav: str) -> str:
    """Every sweep of the database (oldest first, each with its running runs whose agent
    is most likely gone): state, progress, best, when it started, runs."""
    rows = []
    for sweep, silent in reversed(sweeps):
        states = Counter(r.state for r in sweep.runs)
        best = sweep.best_run()
        metric = sweep.parsed_config.metric
        best_text = (
            f"{metric.name} = {_number(best.metric)} ({best.id})"
            if best is not None and metric is not None
            else "—"
        )
        if sweep.parsed_config.is_multi_objective:  # no best run: the Pareto set's size
            front = len(sweep.pareto_runs())
            best_text = f"Pareto set: {front} run{'s' if front != 1 else ''}" if front else "—"
        chips = " ".join(f"{state} {n}" for state, n in sorted(states.items()))
        if silent:  # as `show` marks them: their agent is most likely gone
            chips += f" (silent {len(silent)})"
        rows.append(
            f'<tr data-sweep="{_e(sweep.id)}"><td><a href="sweeps/{_e(sweep.id)}">'
            f"{_e(sweep.id)}</a></td><td>{_e(sweep.name)}</td>"
            f'<td class="state state-{_e(state_word(sweep.state))}">'
            f"{_e(shown_state(sweep.state, sweep.finished_reason))}</td>"
            f"<td>{_e(sweep.parsed_config.method.value)}</td>"
            f'<td class="num">{_e(_progress(sweep))}</td><td>{_e(best_text)}</td>'
            f"<td>{_e(_utc(sweep.created_at).strftime('%Y-%m-%d %H:%M UTC'))}</td>"
            f"<td>{_e(chips)}</td></tr>"
        )
    table = (
        '<div class="table-wrap"><table class="sweeps" id="sweeps-table"><thead><tr>'
        "<th>id</th><th>name</th><th>state</th><th>method</th><th>runs</th><th>best</th>"
        "<th>started</th><th>runs by state</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></div>"
        if rows
        else _empty("No sweeps in this database yet: localsweep sweep CONFIG creates one.")
    )
    return shell(
        "localsweep sweeps",
        f"<header><h1>Sweeps</h1></header>{table}",
        nav=nav,
        scripts="<script>setTimeout(function () { location.reload(); }, 5000);</script>",
    )


def _tail(path: str | None, lines: int = OUTPUT_TAIL_LINES) -> str | None:
    if not path:
        return None
    try:
        with Path(path).open("rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 256 * 1024))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return None
    return "\n".join(text.splitlines()[-lines:])


def _history_plots(history: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One line chart per numeric key the run logged, against its step."""
    series: dict[str, tuple[list[Any], list[Any]]] = {}
    for row in history:
        step = row.get("_step")
        for key, value in row.items():
            if key.startswith("_") or isinstance(value, bool):
                continue
            if isinstance(value, (int, float)):
                xs, ys = series.setdefault(key, ([], []))
                xs.append(step)
                ys.append(value if math.isfinite(value) else None)
    plots = []
    for i, (key, (xs, ys)) in enumerate(sorted(series.items())[:MAX_RUN_PLOTS]):
        title = key
        if len(ys) > CURVE_POINTS:
            # Sampled as the sweep page's curves are (spikes kept): 200,000 points a plot
            # made a page of 16 MB that took seconds to draw.
            kept = [i for i, _ in thin_curve([math.nan if y is None else y for y in ys])]
            title = f"{key} ({len(kept):,} of {len(ys):,} points)"
            xs, ys = [xs[i - 1] for i in kept], [ys[i - 1] for i in kept]
        plots.append(
            {
                "id": f"run-plot-{i}",
                "data": [
                    {"type": "scatter", "mode": "lines+markers", "x": xs, "y": ys, "name": key}
                ],
                "layout": {
                    "title": {"text": title.replace("<", "&lt;")},
                    "xaxis": {"title": {"text": "step"}},
                    "margin": {"l": 60, "r": 20, "t": 40, "b": 40},
                    "height": 300,
                },
            }
        )
    return plots


def run_page(run: Run, *, nav: str, plotly_src: str, objectives: Sequence[Metric] = ()) -> str:
    """A run: its state, config, summary, a plot per logged metric and, for program-mode
    runs, the tail of its output. A run of a multi-objective sweep (``objectives``, its
    ``metrics``) shows each objective's value where others show the metric's."""
    history = run.history()
    plots = _history_plots(history)
    runtime = run_runtime(run)  # wandb's _runtime, else to a crashed run's last heartbeat
    # By the database's clock, which wrote its heartbeat (read only for a running run).
    silent = silent_runs([run], run._db_time()).get(run.id) if run.state == "running" else None
    state = silent_state(silent) if silent else run.state
    ran_for = "still running"
    if silent:
        ran_for = f"no heartbeat for {silent}: its agent is most likely gone"
    elif runtime is not None:
        ran_for = _duration(runtime)
    facts = [
        ("state", state + (f" ({run.end_reason})" if run.end_reason else "")),
        ("sweep", run.sweep_id),
        ("number", run.number),
        *(
            [(m.name, _number(summary_value(run.summary, m.name, m.goal))) for m in objectives]
            or [("metric", _number(run.metric))]
        ),
        ("ran for", ran_for),
        ("exit code", "—" if run.exit_code is None else run.exit_code),
        ("folder", run.dir or "—"),
    ]
    cards = "".join(
        f'<div class="card"><div class="label">{_e(k)}</div><div class="value">{_e(v)}</div></div>'
        for k, v in facts
    )
    outputs = ""
    for label, path in (("stdout", run.stdout_path), ("stderr", run.stderr_path)):
        tail = _tail(path)
        if tail is not None:
            outputs += f"<h3>{label} (last {OUTPUT_TAIL_LINES} lines)</h3><pre>{_e(tail)}</pre>"
    error = f"<h2>Error</h2><pre>{_e(run.error)}</pre>" if run.error else ""
    plot_divs = "".join(f'<div class="ls-plot" id="{p["id"]}"></div>' for p in plots) or _empty(
        "This run logged no numbers."
    )
    body = f"""<header><h1>Run {_e(run.name or run.id)}</h1>
<div class="muted">id <code id="run-id">{_e(run.id)}</code></div></header>
<div class="cards">{cards}</div>
{error}
<div class="two">
<div><h3>Config</h3><pre id="run-config">{
        _e(
            yaml.safe_dump(
                run.config, sort_keys=False, allow_unicode=True, default_flow_style=False
            )
        )
    }</pre></div>
<div><h3>Summary</h3><pre id="run-summary">{
        _e(
            yaml.safe_dump(
                dict(run.summary), sort_keys=False, allow_unicode=True, default_flow_style=False
            )
        )
    }</pre></div>
</div>
<h2>History</h2>
<div class="slices">{plot_divs}</div>
{"<h2>Output</h2>" + outputs if outputs else ""}"""
    data = embed_json({"plots": plots})
    scripts = f"""<script type="application/json" id="run-data">{data}</script>
<script src="{plotly_src}"></script>
<script>
(function () {{
  var data = JSON.parse(document.getElementById("run-data").textContent);
  data.plots.forEach(function (p) {{
    Plotly.newPlot(document.getElementById(p.id), p.data, p.layout,
                   {{responsive: true, displaylogo: false}});
  }});
  document.body.setAttribute("data-plots-rendered", String(data.plots.length));
}})();
</script>"""
    return shell(f"Run {run.id}", body, nav=nav, scripts=scripts)
