"""The Pareto set of a multi-objective sweep, for ``localsweep show`` and the report."""

from __future__ import annotations

import json
import logging
from typing import Any

from localsweep.records import RESULT_STATES
from localsweep.search._multi import objective_values

__all__ = ["objective_importance", "pareto_rows", "pareto_section", "print_pareto"]

logger = logging.getLogger(__name__)


def pareto_rows(sweep: Any) -> list[tuple[str, tuple[float, ...], dict[str, Any]]]:
    """``(run, objective values, config)`` of each run of the sweep's Pareto set, sorted
    by the first objective (best first); the run is its id, and ``(prior)`` after it for a
    prior run."""
    metrics = sweep.parsed_config.objectives
    rows = []
    for run in sweep.pareto_runs():
        values = objective_values(run.summary, metrics)
        assert values is not None  # pareto_runs keeps only runs with every value
        rows.append((f"{run.id} (prior)" if run.prior else run.id, values, dict(run.params)))
    maximize = bool(metrics) and metrics[0].goal.value == "maximize"
    rows.sort(key=lambda r: -r[1][0] if maximize else r[1][0])
    return rows


def print_pareto(console: Any, sweep: Any, limit: int = 20) -> None:
    """Print the Pareto set of a multi-objective sweep (nothing for other sweeps)."""
    from rich.markup import escape
    from rich.table import Table

    config = sweep.parsed_config
    if not config.is_multi_objective:
        return
    rows = pareto_rows(sweep)
    names = ", ".join(f"{m.name} ({m.goal.value})" for m in config.metrics)
    console.print(f"[bold]Pareto set[/]: {len(rows)} runs no other run beats on {escape(names)}")
    table = Table()
    table.add_column("run")
    for m in config.metrics:
        table.add_column(escape(m.name), justify="right")
    table.add_column("config", overflow="fold")
    for run_id, values, run_config in rows[:limit]:
        text = json.dumps(run_config, default=str, separators=(", ", ": "))[:200]
        table.add_row(run_id, *(f"{v:.6g}" for v in values), escape(text))
    console.print(table)
    if len(rows) > limit:
        console.print(f"... {len(rows) - limit} more on the front")


def objective_importance(sweep: Any) -> dict[str, list[Any]]:
    """Each objective's parameter importance (W&B's forest, correlation, fANOVA), by name:
    the importance of a single-metric sweep, once per metric of ``metrics``."""
    import optuna
    from optuna.trial import TrialState, create_trial

    from localsweep.report._importance import importance_of_study
    from localsweep.report._study import quiet_optuna, sweep_study
    from localsweep.search._multi import summary_value

    base, axes = sweep_study(sweep, plotly_safe=True)
    # The study's trials are the prior runs' and the sweep's own.
    by_id = {run.id: run for run in (*sweep.prior_runs, *sweep.runs)}
    out: dict[str, list[Any]] = {}
    for metric in sweep.parsed_config.objectives:
        trials = []
        for trial in base.get_trials(deepcopy=False):
            run = by_id[trial.user_attrs["run_id"]]
            value = summary_value(run.summary, metric.name, metric.goal)
            ok = run.state in RESULT_STATES and value is not None
            trials.append(
                create_trial(
                    state=TrialState.COMPLETE if ok else TrialState.FAIL,
                    value=value if ok else None,
                    params=trial.params,
                    distributions=trial.distributions,
                )
            )
        with quiet_optuna():
            study = optuna.create_study(direction=metric.goal.value)
            study.add_trials(trials)
        out[metric.name] = importance_of_study(study, axes)
    return out


def _front_plot(sweep: Any) -> dict[str, Any]:
    """Every run with a result (finished or stopped early) and all objectives in the plane
    of the first two, the Pareto set highlighted and joined (ours: Optuna's
    ``plot_pareto_front`` is slow at 5,000)."""
    from localsweep.report._study import plotly_text
    from localsweep.search._multi import non_dominated

    metrics = sweep.parsed_config.metrics
    scored = []
    for run in sweep.runs:
        if run.state not in RESULT_STATES:
            continue
        values = objective_values(run.summary, metrics)
        if values is not None:
            scored.append((run, values))
    front = set(non_dominated([v for _, v in scored], [m.goal for m in metrics]))
    on = sorted((scored[i] for i in front), key=lambda rv: rv[1][0])
    off = [rv for i, rv in enumerate(scored) if i not in front]

    def trace(rows: list[Any], name: str, **style: Any) -> dict[str, Any]:
        return {
            "type": "scatter",
            "name": name,
            "x": [v[0] for _, v in rows],
            "y": [v[1] for _, v in rows],
            "text": [plotly_text(f"{r.name} ({r.id})") for r, _ in rows],
            "hovertemplate": "%{text}<br>%{x}, %{y}<extra></extra>",
            **style,
        }

    return {
        "data": [
            trace(off, "dominated", mode="markers", marker={"color": "#bbb", "size": 6}),
            trace(
                on,
                "Pareto set",
                mode="lines+markers",
                line={"shape": "hv", "color": "#d62728"},
                marker={"color": "#d62728", "size": 9},
            ),
        ],
        "layout": {
            "title": {"text": "Pareto front"},
            "xaxis": {
                "title": {"text": plotly_text(f"{metrics[0].name} ({metrics[0].goal.value})")}
            },
            "yaxis": {
                "title": {"text": plotly_text(f"{metrics[1].name} ({metrics[1].goal.value})")}
            },
            "margin": {"t": 40},
        },
    }


def pareto_section(sweep: Any, add: Any) -> str:
    """The report's section for a multi-objective sweep (empty for other sweeps): the
    Pareto front and the Pareto set's runs (each objective's parameter importance is in
    the importance section). ``add(plot_id, spec)`` registers a plot and returns its
    placeholder."""
    from html import escape

    config = sweep.parsed_config
    if not config.is_multi_objective:
        return ""
    rows = pareto_rows(sweep)
    names = [m.name for m in config.metrics]
    note = ""
    if len(names) > 2:
        note = f" Drawn in the plane of the first two of {len(names)} objectives."
    parts = [
        '<h2 id="pareto">Pareto front</h2>',
        '<p class="hint">Runs finished or stopped early with a value of every objective; red: '
        f"the runs no other run beats on all of {escape(', '.join(names))} (the Pareto set)."
        f"{note}</p>",
        add("plot-pareto", _front_plot(sweep))
        if rows
        else "<p>No finished or stopped run has every objective yet.</p>",
        '<table id="pareto-table"><thead><tr><th>run</th>'
        + "".join(f"<th>{escape(n)}</th>" for n in names)
        + "<th>config</th></tr></thead><tbody>",
    ]
    for run_id, values, run_config in rows:
        parts.append(
            f"<tr><td>{escape(run_id)}</td>"
            + "".join(f"<td>{v:.6g}</td>" for v in values)
            + f"<td><code>{escape(json.dumps(run_config, default=str))[:300]}</code></td></tr>"
        )
    parts.append("</tbody></table>")
    return "\n".join(parts)
