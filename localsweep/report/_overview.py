"""The sweep page's head: the line of facts under its title and the overview cards (runs by
state, best run, how long it ran, what stopped early) with the sweep's and the best run's
configs. Part of :func:`localsweep.report._page.sweep_view`."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import yaml

from localsweep._api_state import shown_state
from localsweep.records import RunState
from localsweep.report._html import _duration, _e, _empty, _number, _stop_note, _sweep_span
from localsweep.report._objectives import pareto_head
from localsweep.report._silent import silent_note

if TYPE_CHECKING:
    from localsweep.api import Sweep

__all__ = ["overview", "sweep_meta"]


def sweep_meta(sweep: Sweep) -> str:
    """The line under the title: id, method, goal, project and state."""
    config = sweep.parsed_config
    goal = ", ".join(f"{m.goal.value} {m.name}" for m in config.objectives) or "no metric"
    return (
        f'id <code id="sweep-id">{_e(sweep.id)}</code> · {_e(config.method.value)} · '
        f"{_e(goal)} · project {_e(sweep.project or 'uncategorized')} · state "
        f'<span id="sweep-state">{_e(shown_state(sweep.state, sweep.finished_reason))}</span>'
    )


def overview(
    sweep: Sweep,
    best: Any,
    metric_name: str | None,
    hint: str | None,
    silent: Mapping[str, str],
) -> str:
    """The overview cards and configs. ``silent``: the running runs whose agent is most
    likely gone (:func:`localsweep.report._silent.silent_runs`), said as ``show`` says it;
    a sweep whose running runs are all silent is not "still running"."""
    runs = sweep.runs
    config = sweep.parsed_config
    states = Counter(run.state for run in runs)
    span, still_running = _sweep_span(sweep, silent)
    stopped = states.get(RunState.EARLY_TERMINATED.value, 0)
    prior_note = (
        f'<div class="muted" id="prior-count">and {len(sweep.prior_runs)} prior runs, '
        "given to the sweep to learn from (marked prior)</div>"
        if sweep.prior_runs
        else ""
    )
    # As the user wrote it (Sweep.config adds the distributions W&B's Api fills in).
    written = dict(sweep.parsed_config.raw)
    config_yaml = yaml.safe_dump(written, sort_keys=False, allow_unicode=True)
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
    if best is None and config.is_multi_objective:  # no best run: the Pareto set instead
        best_html, best_config = pareto_head(sweep, hint)
    span_note = "still running" if still_running else "from creation to the last run's end"
    silent_html = ""
    if silent:
        # As `show` says it: the run no longer runs, its agent is most likely gone.
        if not still_running:
            span_note = "its running runs are silent: their agent is most likely gone"
        silent_html = f'<div class="muted" id="silent-note">{_e(silent_note(len(silent)))}</div>'
    stop_note = _stop_note(runs, config)
    return f"""<div class="cards">
<div class="card"><div class="label">runs</div><div class="value" id="run-count">{len(runs)}</div>
<div class="chips">{chips}</div>{prior_note}{silent_html}</div>
{best_html}
<div class="card"><div class="label">ran for</div>
<div class="value">{_e(_duration(span))}</div><div class="muted">{span_note}</div></div>
<div class="card"><div class="label">stopped early</div>
<div class="value" id="stopped-count">{stopped}</div><div class="muted">{stop_note}</div></div>
</div>
<div class="two">
<div><h3>Sweep config</h3><pre id="sweep-config">{_e(config_yaml)}</pre></div>
<div>{best_config}</div>
</div>"""
