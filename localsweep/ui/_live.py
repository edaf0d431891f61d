"""The live state of the sweeps a ``localsweep ui`` server shows.

Each sweep page polls for what changed. Rebuilding a sweep's view reads all its runs, so
the server first asks the store for a cheap change token (:meth:`Store.change_token`) and
rebuilds only when it moved; parameter importance, the slow part at thousands of runs, is
recomputed at most every :data:`IMPORTANCE_EVERY` seconds. A server nobody polls does no
work at all.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from localsweep.api import Sweep
from localsweep.report._importance import ParamImportance, importance_of_study
from localsweep.report._page import SweepView, sweep_view, view_update
from localsweep.report._study import sweep_study
from localsweep.store import Store

__all__ = ["IMPORTANCE_EVERY", "LiveSweeps"]

logger = logging.getLogger(__name__)

#: Seconds between two computations of one sweep's parameter importance.
IMPORTANCE_EVERY = 10.0
#: Views kept per sweep, so a page a few updates behind still gets only what changed.
KEPT_VIEWS = 8


@dataclass
class _Live:
    lock: threading.Lock = field(default_factory=threading.Lock)
    token: Any = None
    views: OrderedDict[str, SweepView] = field(default_factory=OrderedDict)
    latest: SweepView | None = None
    importance: list[ParamImportance] | None = None
    importance_token: Any = None
    importance_at: float = 0.0
    #: Whether a thread is computing the importance now.
    computing: bool = False


class LiveSweeps:
    """The views of the sweeps being watched, rebuilt when their store data changes."""

    def __init__(self, store: Store, *, importance_every: float = IMPORTANCE_EVERY):
        self.store = store
        self.importance_every = importance_every
        self._lock = threading.Lock()
        self._live: dict[str, _Live] = {}

    def _entry(self, sweep_id: str) -> _Live:
        with self._lock:
            return self._live.setdefault(sweep_id, _Live())

    def first_view(self, sweep_id: str) -> SweepView:
        """The view for a page's first paint: the last one built if it is current, else the
        overview and the runs table alone (the page's first update brings the plots)."""
        live = self._entry(sweep_id)
        with live.lock:
            token = self.store.change_token(sweep_id)
            if live.latest is not None and token == live.token:
                return live.latest
            sweep = Sweep(self.store, self.store.get_sweep(sweep_id))
            return sweep_view(sweep, plots=False)

    def update(self, sweep_id: str, since: str | None) -> dict[str, Any]:
        """What changed since the page's ``since`` version (everything if the server no
        longer knows it), or ``{"unchanged": True}``. Importance is computed on a thread
        of its own and arrives with a later update, so no poll waits for it."""
        live = self._entry(sweep_id)
        with live.lock:
            token = self.store.change_token(sweep_id)
            now = time.monotonic()
            if live.importance is None or (
                live.importance_token != token and now - live.importance_at >= self.importance_every
            ):
                self._compute_importance(live, sweep_id, token)
            if live.latest is None or token != live.token:
                sweep = Sweep(self.store, self.store.get_sweep(sweep_id))
                rows = live.importance
                view = sweep_view(sweep, importance=rows if rows is not None else False)
                self._keep(live, token, view)
            latest = live.latest
            assert latest is not None
            if since == latest.version:
                return {"unchanged": True, "version": latest.version}
            return view_update(live.views.get(since or ""), latest)

    def _compute_importance(self, live: _Live, sweep_id: str, token: Any) -> None:
        """Start computing the sweep's parameter importance on a thread (at most one per
        sweep); the next update shows it."""
        if live.computing:
            return
        live.computing = True
        live.importance_at = time.monotonic()

        def work() -> None:
            try:
                sweep = Sweep(self.store, self.store.get_sweep(sweep_id))
                study, axes = sweep_study(sweep, plotly_safe=True)
                rows = importance_of_study(study, axes)
                with live.lock:
                    live.importance, live.importance_token = rows, token
                    live.importance_at = time.monotonic()
                    live.token = None  # rebuild the view with it at the next poll
            except Exception:
                logger.exception("computing the importance of sweep %s failed", sweep_id)
            finally:
                live.computing = False

        threading.Thread(target=work, name=f"importance-{sweep_id}", daemon=True).start()

    @staticmethod
    def _keep(live: _Live, token: Any, view: SweepView) -> None:
        live.token = token
        live.latest = view
        live.views[view.version] = view
        live.views.move_to_end(view.version)
        while len(live.views) > KEPT_VIEWS:
            live.views.popitem(last=False)
