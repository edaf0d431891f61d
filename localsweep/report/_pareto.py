"""The Pareto set of a multi-objective sweep, for ``localsweep show`` and the report."""

from __future__ import annotations

import json
import logging
from typing import Any

from localsweep.search._multi import objective_values

__all__ = ["pareto_rows", "print_pareto"]

logger = logging.getLogger(__name__)


def pareto_rows(sweep: Any) -> list[tuple[str, tuple[float, ...], dict[str, Any]]]:
    """``(run id, objective values, config)`` of each run of the sweep's Pareto set,
    sorted by the first objective (best first)."""
    metrics = sweep.parsed_config.objectives
    rows = []
    for run in sweep.pareto_runs():
        values = objective_values(run.summary, metrics)
        assert values is not None  # pareto_runs keeps only runs with every value
        rows.append((run.id, values, dict(run.config)))
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
