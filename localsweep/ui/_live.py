"""The live state of the sweeps a ``localsweep ui`` server shows.

Each sweep page polls for what changed. The server keeps each watched sweep's runs in
memory (:class:`~localsweep.ui._state.SweepState`) and catches up with the store
incrementally: a cheap change token says whether anything moved, and then only new runs
and runs still open at the last look are read, and the metric histories of the runs that
changed. The view is rebuilt from memory only when something moved, and a page gets only
the parts, plots, plot points and table rows that differ from the version it shows
(:func:`~localsweep.report._page.view_update`). Parameter importance, the slow part at
thousands of runs, is computed on a thread of its own at most every
:data:`IMPORTANCE_EVERY` seconds, and never sooner than five times its last computation
took. A server nobody polls does no work at all.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from localsweep.errors import NotFoundError
from localsweep.report._importance import ParamImportance, importance_of_study
from localsweep.report._objectives import ObjectiveImportance
from localsweep.report._page import RowCache, SweepView, sweep_view, view_update
from localsweep.report._pareto import objective_importance
from localsweep.report._study import sweep_study
from localsweep.store import Store
from localsweep.ui._state import KnownSweep, SweepState

__all__ = ["IMPORTANCE_EVERY", "LiveSweeps"]

logger = logging.getLogger(__name__)

#: Seconds between two computations of one sweep's parameter importance.
IMPORTANCE_EVERY = 10.0
#: Views kept per sweep, so a page a few updates behind still gets only what changed.
KEPT_VIEWS = 8


@dataclass
class _Live:
    state: SweepState
    lock: threading.Lock = field(default_factory=threading.Lock)
    views: OrderedDict[str, SweepView] = field(default_factory=OrderedDict)
    latest: SweepView | None = None
    #: The state's generation, importance and silent runs the latest view was built from.
    built: Any = None
    #: A multi-objective sweep's is one list per objective, by name.
    importance: list[ParamImportance] | ObjectiveImportance | None = None
    #: How many runs it was computed on.
    importance_runs: int = 0
    #: Seconds the last computation took: the next waits at least five times that, so
    #: that importance takes at most a sixth of a core at any size.
    importance_took: float = 0.0
    importance_generation: int = -1
    importance_at: float = 0.0
    #: Whether a thread is computing the importance now.
    computing: bool = False
    rows: RowCache = field(default_factory=RowCache)


class LiveSweeps:
    """The views of the sweeps being watched, rebuilt when their store data changes."""

    def __init__(self, store: Store, *, importance_every: float = IMPORTANCE_EVERY):
        self.store = store
        self.importance_every = importance_every
        self._lock = threading.Lock()
        self._live: dict[str, _Live] = {}

    def _entry(self, sweep_id: str) -> _Live:
        with self._lock:
            live = self._live.get(sweep_id)
            if live is None:
                live = self._live[sweep_id] = _Live(SweepState(self.store, sweep_id))
            return live

    def sweeps(self) -> list[tuple[KnownSweep, dict[str, str]]]:
        """Every sweep of the database, oldest first, with its runs as kept here and its
        silent runs (see :meth:`SweepState.silent`): the index page's, which reloads every
        5 seconds. A sweep nothing moved in since the last look costs a query, a busy one
        the runs that changed (the index read every run of every sweep at each reload:
        2 s of CPU at 48,000 runs)."""
        out = []
        for record in self.store.list_sweeps():
            live = self._entry(record.id)
            with live.lock:
                try:
                    live.state.refresh()
                except NotFoundError:  # removed since it was listed
                    continue
                out.append((live.state.sweep(), live.state.silent()))
        return out

    def first_view(self, sweep_id: str) -> SweepView:
        """The view for a page's first paint: the overview and the runs table alone, from
        the runs kept (the page's first update brings the plots, so that the page shows
        before megabytes of plot data reach it)."""
        live = self._entry(sweep_id)
        with live.lock:
            live.state.refresh()
            return sweep_view(
                live.state.sweep(), plots=False, rows=live.rows, silent=live.state.silent()
            )

    @staticmethod
    def _inputs(live: _Live, silent: dict[str, str]) -> tuple[Any, ...]:
        # A run goes silent (its agent most likely gone) with nothing moving in the
        # store: the page shows it as `show` does once its silence is seen here.
        return (live.state.generation, id(live.importance), tuple(sorted(silent.items())))

    def update(self, sweep_id: str, since: str | None) -> dict[str, Any]:
        """What changed since the page's ``since`` version (everything if the server no
        longer knows it), or ``{"unchanged": True}``. Importance is computed on a thread
        of its own and arrives with a later update, so no poll waits for it."""
        live = self._entry(sweep_id)
        with live.lock:
            state = live.state
            state.refresh()
            now = time.monotonic()
            if live.importance is None or (
                live.importance_generation != state.generation
                and now - live.importance_at >= max(self.importance_every, 5 * live.importance_took)
            ):
                self._compute_importance(live, state.sweep(), state.generation)
            silent = state.silent()
            inputs = self._inputs(live, silent)
            if live.latest is None or live.built != inputs:
                rows = live.importance
                view = sweep_view(
                    state.sweep(),
                    importance=rows if rows is not None else False,
                    histories=state.histories,
                    rows=live.rows,
                    importance_runs=live.importance_runs,
                    silent=silent,
                )
                self._keep(live, view, inputs)
            latest = live.latest
            assert latest is not None
            if since == latest.version:
                return {"unchanged": True, "version": latest.version}
            return view_update(live.views.get(since or ""), latest)

    def _compute_importance(self, live: _Live, sweep: KnownSweep, generation: int) -> None:
        """Start computing the sweep's parameter importance on a thread (at most one per
        sweep) from the runs kept now; the next update shows it."""
        if live.computing:
            return
        live.computing = True
        started = live.importance_at = time.monotonic()

        def work() -> None:
            try:
                rows: list[ParamImportance] | ObjectiveImportance
                if sweep.parsed_config.is_multi_objective:
                    # Each objective's; the page counts its runs per objective itself.
                    rows, analysed = objective_importance(sweep), 0
                else:
                    study, axes = sweep_study(sweep, plotly_safe=True)
                    rows = importance_of_study(study, axes)
                    analysed = sum(
                        1 for t in study.get_trials(deepcopy=False) if t.value is not None
                    )
                with live.lock:
                    live.importance, live.importance_generation = rows, generation
                    live.importance_runs = analysed
                    live.importance_at = time.monotonic()
                    live.importance_took = live.importance_at - started
            except Exception:
                logger.exception("computing the importance of sweep %s failed", sweep.id)
            finally:
                live.computing = False

        threading.Thread(target=work, name=f"importance-{sweep.id}", daemon=True).start()

    def _keep(self, live: _Live, view: SweepView, inputs: Any) -> None:
        live.built = inputs
        live.latest = view
        live.views[view.version] = view
        live.views.move_to_end(view.version)
        while len(live.views) > KEPT_VIEWS:
            live.views.popitem(last=False)
