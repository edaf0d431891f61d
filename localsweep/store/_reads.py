"""The read-only units of work of :class:`~localsweep.store.Store`: runs, histories and
the incremental views that search, stopping and the live page poll."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select

from localsweep.errors import NotFoundError
from localsweep.records import RunView
from localsweep.store import _clock, _runs, _sweeps
from localsweep.store._records import RunRecord
from localsweep.store._session import Session
from localsweep.store._tables import now, run_record, runs

__all__ = ["DB_CLOCK_AGE", "StoreReads"]

#: How long the difference of the server's clock and this host's is trusted, in seconds.
DB_CLOCK_AGE = 60.0


class StoreReads:
    """Store's reads, kept apart from its writes; Store sets the attributes below."""

    url: str
    shown_url: str
    _session: Session
    _views: _runs.RunViews
    _configs: _sweeps.SweepConfigs
    #: The server's clock against this host's, in seconds, and when that was read (by the
    #: monotonic clock): see :meth:`db_time`.
    _db_clock: tuple[float, float] | None = None

    def db_time(self) -> datetime:
        """Now by the database's clock (UTC, naive, as times are stored): PostgreSQL's
        ``clock_timestamp()``, which wrote the runs' heartbeats and ends; this host's clock
        on SQLite (one host). What a viewer judges a heartbeat's age against: by its own
        clock, five minutes fast, every running run looked silent. On a server, one query
        a minute: the difference of the two clocks is kept, and this host's clock moved by
        it (reading the server's for each run's file cost a query each)."""
        if not _clock.server_clock(self._session.engine):
            return now()
        mono = time.monotonic()
        kept = self._db_clock
        if kept is not None and mono - kept[1] < DB_CLOCK_AGE:
            return now() + timedelta(seconds=kept[0])
        server = self._session.read(_clock.read_db_now, "read the database's clock")
        self._db_clock = ((server - now()).total_seconds(), mono)
        return server

    def get_run(self, run_id: str) -> RunRecord:
        """The run ``run_id``; NotFoundError if there is none."""
        row = self._session.read(
            lambda c: c.execute(select(runs).where(runs.c.id == run_id)).mappings().first(),
            "read a run",
        )
        if row is None:
            raise NotFoundError(f"no run {run_id!r} in {self.shown_url}")
        return run_record(row)

    def list_runs(self, sweep_id: str) -> list[RunRecord]:
        """Every run of the sweep, by number."""
        return self._session.read(lambda c: _runs.runs_of(c, sweep_id), "list runs")

    def list_prior_runs(self, sweep_id: str) -> list[RunRecord]:
        """The sweep's prior runs, by number (a sweep of thousands of runs is not read)."""
        return self._session.read(lambda c: _runs.prior_runs_of(c, sweep_id), "list prior runs")

    def history(self, run_id: str) -> list[dict[str, Any]]:
        """Every logged row of a run, in order (over all its attempts), each with ``_step``."""
        return self._session.read(lambda c: _runs.history_of(c, run_id), "read a run's history")

    def history_pages(
        self,
        run_id: str,
        page_size: int,
        min_step: int | None = None,
        stop_step: int | None = None,
    ) -> Iterator[dict[str, Any]]:
        """A run's rows from ``min_step`` to before ``stop_step``, in order, read
        ``page_size`` at a time as they are iterated (each page a read of its own): the
        rows logged when the scan began. What a scan of a long run reads: reading it whole
        took seconds before its first row and held every row in memory."""
        ids = self._session.read(
            lambda c: _runs.history_ids_of(c, run_id, min_step, stop_step),
            "read a run's history",
        )
        for start in range(0, len(ids), page_size):
            page = ids[start : start + page_size]

            def work(conn: Connection, page: list[int] = page) -> list[dict[str, Any]]:
                return _runs.history_rows_of_ids(conn, page)

            yield from self._session.read(work, "read a run's history")

    def history_extent(self, run_id: str) -> tuple[int, int]:
        """How many rows a run logged (over all its attempts) and its last ``_step``, -1
        for a run with no row; without reading the rows."""
        return self._session.read(
            lambda c: _runs.history_extent_of(c, run_id), "count a run's history"
        )

    def metric_histories(
        self, sweep_id: str, run_ids: Sequence[str] | None = None
    ) -> dict[str, list[float]]:
        """Each run's logged values of the sweep metric, in order (NaN for a logged NaN);
        with ``run_ids``, of those runs only."""

        def work(conn: Connection) -> dict[str, list[float]]:
            ids = run_ids
            if ids is None:
                ids = (
                    conn.execute(
                        select(runs.c.id).where(runs.c.sweep_id == sweep_id).order_by(runs.c.number)
                    )
                    .scalars()
                    .all()
                )
            return _runs.histories_of(conn, list(ids))

        return self._session.read(work, "read metric histories")

    def runs_since(
        self, sweep_id: str, min_number: int, open_ids: Sequence[str] = ()
    ) -> list[RunRecord]:
        """For a watcher that keeps a sweep's runs: the runs numbered ``min_number`` or
        higher and the runs of ``open_ids`` (not ended at its last read), by number. A run
        that ended stays as it ended, so that is everything that can have changed."""
        return self._session.read(
            lambda c: _runs.runs_since(c, sweep_id, min_number, open_ids), "list runs"
        )

    def metric_views(
        self, sweep_id: str, known: Mapping[str, RunView] | None = None
    ) -> list[RunView]:
        """Every run's state and metric history (no parameters), for early termination.

        Only new runs and runs not ended at the last call are read (``known`` is accepted
        for compatibility; the store keeps what it read)."""
        try:
            return self._session.read(
                lambda c: list(self._views.refresh(c, sweep_id, None, "metric")), "read the runs"
            )
        except BaseException:
            self._views.forget(sweep_id)
            raise

    def run_views(self, sweep_id: str, *, with_history: bool = True) -> list[RunView]:
        """Every run of the sweep as search sees it."""

        def work(conn: Connection) -> list[RunView]:
            config = self._configs.of(conn, sweep_id)
            mode = "full" if with_history else "params"
            return list(self._views.refresh(conn, sweep_id, config, mode))

        try:
            return self._session.read(work, "read the runs")
        except BaseException:
            self._views.forget(sweep_id)
            raise

    def change_token(self, sweep_id: str) -> tuple[Any, ...]:
        """A cheap value that changes whenever what a sweep's page shows may have changed
        (its state, a run's start or end, a logged row); for watchers that poll."""

        def work(conn: Connection) -> tuple[Any, ...]:
            token = _sweeps.change_token(conn, sweep_id)
            if token is None:
                raise NotFoundError(f"no sweep {sweep_id!r} in {self.shown_url}")
            return token

        return self._session.read(work, "read the sweep's state")
