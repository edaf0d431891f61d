"""A sweep's runs kept in memory by a ``localsweep ui`` server, and updated incrementally.

A run that ended stays as it ended (its end is fenced by its lease), so each refresh reads
only the runs numbered at or above the highest number seen and the runs that were still
open (running or preempted) at the last one; the sweep metric's logged values are read
for the runs a page draws, once for a run that ended and again while it runs. A cheap
change token from the store (:meth:`Store.change_token`) says whether anything moved at
all, and its runs-per-state counts check the runs kept: if they disagree, everything is
read again.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from localsweep.api import Run, Sweep
from localsweep.records import RunState
from localsweep.report._silent import silent_runs
from localsweep.store import RunRecord, Store

__all__ = ["KnownSweep", "SweepState"]

logger = logging.getLogger(__name__)

_OPEN = frozenset({RunState.RUNNING, RunState.PREEMPTED})
_FIRST = -(2**31)


class KnownSweep(Sweep):
    """A :class:`~localsweep.api.Sweep` whose runs are given (kept by :class:`SweepState`)
    instead of read from the store."""

    def __init__(self, store: Store, record: Any, runs: list[Run]):
        super().__init__(store, record)
        # Sweep._all_runs is a cached_property: this is its cached value.
        self.__dict__["_all_runs"] = runs


class SweepState:
    """One sweep's runs (priors first, then by number) and the metric histories read so far."""

    def __init__(self, store: Store, sweep_id: str):
        self.store = store
        self.sweep_id = sweep_id
        #: The change token the runs kept are current with (``None``: nothing read yet).
        self.token: Any = None
        self.record: Any = None
        self._runs: list[Run] = []
        self._at: dict[str, int] = {}
        self._open: set[str] = set()
        self._watermark = _FIRST
        #: By the id runs are shown with (a prior run's own id): the metric's values.
        self._histories: dict[str, list[float]] = {}
        #: The store's id of each run by the id it is shown with.
        self._stored_id: dict[str, str] = {}
        #: How many refreshes found something changed (a view built at one is current
        #: until the next).
        self.generation = 0

    def refresh(self) -> bool:
        """Catch up with the store; whether anything changed since the last refresh."""
        token = self.store.change_token(self.sweep_id)
        if token == self.token:
            return False
        self.record = self.store.get_sweep(self.sweep_id)
        self._read(self.store.runs_since(self.sweep_id, self._watermark, sorted(self._open)))
        if not self._agrees(token):
            # Rows committed between the token and the read, or a change we cannot see
            # incrementally: read what moved once more, and everything if that disagrees.
            token = self.store.change_token(self.sweep_id)
            self._read(self.store.runs_since(self.sweep_id, self._watermark, sorted(self._open)))
            if not self._agrees(token):
                logger.info("sweep %s: runs changed unseen; reading them all again", self.sweep_id)
                self._forget()
                self._read(self.store.runs_since(self.sweep_id, _FIRST))
        self.token = token
        self.generation += 1
        return True

    def _forget(self) -> None:
        self._runs, self._at, self._open, self._stored_id = [], {}, set(), {}
        self._watermark = _FIRST
        self._histories.clear()

    def _read(self, records: Sequence[RunRecord]) -> None:
        for record in records:
            run = Run(self.store, record)
            at = self._at.get(record.id)
            if at is None:
                self._at[record.id] = len(self._runs)
                self._runs.append(run)
            else:
                self._runs[at] = run
            if record.state in _OPEN:
                self._open.add(record.id)
            else:
                self._open.discard(record.id)
            # Read its metric history again when a page draws it: it may have grown.
            self._stored_id[run.id] = record.id
            self._histories.pop(run.id, None)
            self._watermark = max(self._watermark, record.number + 1)

    def _agrees(self, token: Any) -> bool:
        """Whether the runs kept have the counts per state that ``token`` says."""
        counts = Counter(run.state for run in self._runs)
        told = {state: int(count) for state, count, _last in token[1]}
        return counts == told

    def silent(self) -> dict[str, str]:
        """The running runs whose agent is most likely gone, as ``show`` finds them (see
        :func:`localsweep.report._silent.silent_runs`). A live agent's heartbeats move no
        change token, so the runs kept have the heartbeat of their last read: the ones
        that look silent by it are read again (a few, and only then) to be judged."""
        kept = [self._runs[self._at[i]] for i in self._open]
        if not any(run.state == RunState.RUNNING.value for run in kept):
            return {}
        now = self.store.db_time()  # the clock that wrote the heartbeats, read once
        suspects = silent_runs(kept, now)
        if not suspects:
            return {}
        fresh = [Run(self.store, self.store.get_run(self._stored_id.get(i, i))) for i in suspects]
        return silent_runs(fresh, now)

    def sweep(self) -> KnownSweep:
        """The sweep with the runs kept (a copy of the list: later refreshes do not move it)."""
        return KnownSweep(self.store, self.record, list(self._runs))

    def histories(self, run_ids: Sequence[str]) -> Mapping[str, list[float]]:
        """The metric's logged values of these runs, read only for runs not read yet or
        changed since."""
        missing = [i for i in run_ids if i not in self._histories]
        if missing:
            stored = [self._stored_id.get(i, i) for i in missing]
            found = self.store.metric_histories(self.sweep_id, stored)
            for run_id, stored_id in zip(missing, stored, strict=True):
                self._histories[run_id] = found.get(stored_id, [])
        return self._histories
