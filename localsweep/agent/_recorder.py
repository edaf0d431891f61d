"""Turns what a run logs into history rows in the store, cheaply, asks hyperband at bands,
and applies the run's plateau rule (``early_stopping``) to each value of its metric."""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from localsweep import _interrupt
from localsweep.agent._flush_timer import FlushTimer
from localsweep.agent._logged import MISSING as _MISSING
from localsweep.agent._logged import lookup, metric_value, valid
from localsweep.agent._recorder_plateau import RunPlateau
from localsweep.agent._run_summary import RunSummary, plain
from localsweep.agent._stops import RunAborted, RunStopped
from localsweep.config import EarlyStopping, Metric, SweepConfig, early_stopping_from_init
from localsweep.errors import LeaseLostError, StoreError
from localsweep.store import HistoryRow, RunRecord, Store
from localsweep.wandb_bridge import FinishedRun
from localsweep.wandb_bridge._metric_summary import MetricDefinition

if TYPE_CHECKING:
    from localsweep.agent._control import RunControl

__all__ = ["RunAborted", "RunRecorder", "RunStopped", "metric_value"]

logger = logging.getLogger(__name__)

#: Rows wait in memory at most this long before they are written (a crash loses at most
#: this much from the store; the wandb offline file keeps its own copy).
FLUSH_INTERVAL = 1.0
FLUSH_ROWS = 500
#: How long the run's own thread waits for a write of its rows. A slower write (the database
#: is restarting) goes on in the background while the run keeps training; later rows wait
#: in memory until it is done.
WRITE_WAIT = 2.0


class RunRecorder:
    """The sink for one run: merges logged calls into rows by step, buffers them, writes
    them in batches, and asks ``should_stop(history, step)`` when the count of valid
    metric values reaches a band boundary (``is_boundary``), at once, even while the row
    at ``step`` is open for more keys (it is kept whole: never split); a band it returns
    stops the run.
    With ``early_stopping`` (or once ``wandb.init`` asks for it), each row's value of that
    rule's metric goes through :class:`~localsweep.stopping.Plateau`, which may stop the
    run too."""

    def __init__(
        self,
        store: Store,
        run: RunRecord,
        config: SweepConfig,
        *,
        is_boundary: Callable[[int], bool] | None = None,
        should_stop: Callable[[tuple[float, ...], int], int | None] | None = None,
        early_stopping: EarlyStopping | None = None,
        clock: Callable[[], float] = time.monotonic,
        control: RunControl | None = None,
    ):
        if control is None:
            from localsweep.agent._control import RunControl

            control = RunControl(run)
        self.store = store
        self.run = run
        self.run_id = run.id
        self.control = control
        #: Whether the run called ``wandb.run.mark_preempting()``.
        self.preempting = False
        self._writer: concurrent.futures.ThreadPoolExecutor | None = None
        self._inflight: concurrent.futures.Future[int | None] | None = None
        self._inflight_rows: list[HistoryRow] = []
        self.metric: Metric | None = config.metric
        #: The sweep's objectives (``metric:``, or each of ``metrics:``), for wandb.init's rule.
        self._objectives = config.objectives
        self._should_stop = should_stop
        self._is_boundary = is_boundary or (lambda _iteration: False)
        self._clock = clock
        self._pending: list[HistoryRow] = []
        self._row: dict[str, Any] | None = None
        self._row_step = -1
        self._row_has_metric = False
        self._row_metric: float | None = None
        self._last_flush = clock()
        #: Held by whoever changes what waits to be written: the run's thread (in-process),
        #: the child's watcher (program mode), and the timer that writes it (``_timer``).
        self._lock = threading.RLock()
        self._timer = FlushTimer(f"localsweep-flush-{run.id}", self._timed_flush)
        #: Rows whose metric was a finite number: wandb's hyperband "iterations".
        self.iterations = 0
        #: A row just closed at a band boundary: hyperband judges the run.
        self._band_due = False
        self.metric_values: list[float] = []
        self.finished: FinishedRun | None = None
        #: Each key's last logged value: wandb's default summary.
        self._last_values: dict[str, Any] = {}
        #: The summary so far (written with the rows, and alone when only it changed).
        self._summary = RunSummary()
        #: A resumed run's ``_step`` its ``wandb.init`` goes on from (``None``: nothing to
        #: resume, its earlier attempts logged nothing), and the summary they left (W&B's
        #: resumed run starts from the summary the server has).
        self.resume_step: int | None = None
        self.resume_summary: dict[str, Any] = {}
        self._plateau = RunPlateau(run.id, early_stopping)
        if run.attempt > 1:
            self._resume_from(store, run)

    def _resume_from(self, store: Store, run: RunRecord) -> None:
        """A resumed run (preempted before): its earlier attempts' rows, read once, come
        first, as in the run's wandb history, so hyperband and the plateau rule judge the
        run and not the attempt, and its summaries cover them."""
        rows = store.history(run.id)
        self._summary.resume(run.summary or {}, rows)
        self.resume_summary = dict(self._summary.earlier)
        last = -1
        for row in rows:
            step = row.get("_step")
            if isinstance(step, int):
                last = max(last, step)
            if self.metric is not None:
                raw = lookup(row, self.metric.name)
                if raw is not _MISSING:
                    value = metric_value(raw)
                    self.metric_values.append(math.nan if value is None else value)
        self.iterations = sum(1 for v in self.metric_values if math.isfinite(v))
        self._plateau.resume(rows)
        if rows or self._summary.earlier:
            # W&B's resume goes on one past the run's last step (wandb.init's
            # starting_step). An attempt that never reached wandb.init left nothing: online
            # there would be no run to resume (run.resumed False) either.
            self.resume_step = last + 1

    @property
    def early_stopping(self) -> EarlyStopping | None:
        """The plateau rule this run is under, if any."""
        return self._plateau.spec

    def stop_if_decided(self) -> None:
        """Raise :class:`RunStopped` when the run's earlier attempts already reached its
        plateau (a resumed run whose deciding row was logged before it was preempted): it
        stops before it logs anything more, as it would have then. Raised once; also at
        the run's first log."""
        self._plateau.stop_if_decided()

    # LogSink -------------------------------------------------------------------------

    def on_log(self, data: Mapping[str, Any], step: int, committed: bool = False) -> None:
        # A plateau the earlier attempts reached ends the run before this row: nothing is
        # logged after the deciding value in-process. (A program's stop is delivered as
        # it starts, see ChildWatch: its rows, in its wandb file, are all kept.)
        self._plateau.stop_if_decided()
        self._plateau.logging()
        with self._lock:
            try:
                self._log(data, step, committed)
            finally:
                self._arm_timer()
        # After the row is kept: a run stopped from outside loses none of its rows.
        self._check_control()

    def _log(self, data: Mapping[str, Any], step: int, committed: bool = False) -> None:
        if step < self._row_step:
            # wandb drops a row logged at a step below the current one (with a warning):
            # keeping it would put data in the history that the run file does not have.
            return
        if self._row is None or step != self._row_step:
            self._close_row()
            self._row = {}
            self._row_step = step
        self._row.update(data)
        self._last_values.update(data)
        self._summary.log(data)
        self._note_metric(data)
        self._plateau.check(data, step)
        if committed:
            # wandb wrote the row: no key can join it any more, so it is final now.
            self._close_row()
        self._judge_band()
        self._maybe_flush()

    def _note_metric(self, data: Mapping[str, Any]) -> None:
        if self.metric is None:
            return
        raw = lookup(data, self.metric.name)
        if raw is _MISSING:
            return
        value = metric_value(raw)
        first_in_row = not self._row_has_metric
        self._row_has_metric = True
        self._row_metric = value  # a later value in the same row replaces it, as in wandb
        if first_in_row and valid(value):
            self.iterations += 1
            if self._should_stop is not None and self._is_boundary(self.iterations):
                self._band_due = True

    def _judge_band(self) -> None:
        """Hyperband's decision for a row that reached a band, at once: on the row's
        value so far when the row is still open (``commit=False``, ``step=``: the row is
        kept whole, and more keys may join it until the run is stopped)."""
        if not self._band_due:
            return
        self._band_due = False
        values = tuple(self.metric_values)
        step = self._pending[-1].step if self._pending else self._row_step
        if self._row is not None and self._row_has_metric:
            values += (math.nan if self._row_metric is None else self._row_metric,)
            step = self._row_step
        # Peers judge against the rows before this one: write them before deciding.
        if self.flush():
            band = self._decide(values, step)
            if band is not None:
                raise RunStopped(self.run_id, band)

    def on_finish(self, finished: FinishedRun) -> None:
        self.finished = finished

    def on_define_metric(self, definition: MetricDefinition) -> None:
        """The run called ``define_metric``: its summary applies to the live summary and to
        a resumed run's whole history."""
        with self._lock:
            self._summary.define(definition)

    def on_summary(
        self, updates: Mapping[tuple[str, ...], Any], removed: Iterable[tuple[str, ...]]
    ) -> None:
        """The run's code set summary values by hand (``run.summary[...] = ...``, by
        path) or removed them: they reach the store with the next flush, as rows do."""
        with self._lock:
            for path in removed:
                self._summary.remove(path)
            for path, value in updates.items():
                self._summary.set(path, value)
            # A stop the store answers stays asked for there: the next log raises it.
            with contextlib.suppress(RunStopped):
                self._maybe_flush()
            self._arm_timer()

    def on_run_summary(self, summary: Mapping[str, Any]) -> None:
        """wandb's summary of the run so far (a program's, read from its run file: its
        logged values and those its code set by hand)."""
        with self._lock:
            self._summary.replace(summary)

    def tick(self) -> None:
        """Write what waits (rows, a changed summary) once :data:`FLUSH_INTERVAL` has passed
        since the last write, even when nothing more is logged (a program in a long epoch).
        A stop decided meanwhile is raised as from :meth:`on_log`."""
        with self._lock:
            if self._pending or self._summary.changed:
                self._maybe_flush()
        self._check_control()

    def _arm_timer(self) -> None:
        """Have what waits written within :data:`FLUSH_INTERVAL` even if the run logs
        nothing more for long (a long epoch): the next log may be far away."""
        if self._pending or self._summary.changed:
            self._timer.arm(max(0.0, FLUSH_INTERVAL - (self._clock() - self._last_flush)))

    def _timed_flush(self) -> None:
        with self._lock:
            if self._timer.closed:
                return
            try:
                if self._pending or self._summary.changed:
                    self._maybe_flush()
            except RunStopped:
                pass  # the store keeps the request: the run's next log or tick raises it
            except Exception:  # a store error is the control's (set by flush), never this thread's
                logger.debug("run %s: a timed flush failed", self.run_id, exc_info=True)
            self._arm_timer()  # still waiting (a slow store): try again

    def _stop_timer(self) -> None:
        """The run has ended: no more timed writes (the finish writes what is left)."""
        with self._lock:
            self._timer.close()

    def on_preempting(self) -> None:
        """The run called ``wandb.run.mark_preempting()``: if it then ends without finishing,
        it is requeued rather than failed."""
        self.preempting = True

    def _check_control(self) -> None:
        reason = self.control.reason
        if reason is not None:
            raise RunAborted(self.run_id, reason)

    def on_early_stopping(self, arguments: Mapping[str, Any]) -> None:
        """``wandb.init(early_stopping_metric=..., ...)``: this rule replaces the sweep
        config's for this run. Raises :class:`ValueError` naming a bad argument."""
        spec = early_stopping_from_init(arguments, self._objectives)
        self._plateau.replace(spec)
        # A resumed run whose earlier attempts reached this rule's plateau stops here.
        self._plateau.stop_if_decided()

    # ---------------------------------------------------------------------------------

    def _close_row(self) -> None:
        if self._row is None:
            return
        row = HistoryRow(
            step=self._row_step,
            data=self._row,
            metric=self._row_metric if self._row_has_metric else None,
            has_metric=self._row_has_metric,
        )
        self._pending.append(row)
        self._summary.add_row(self._row)
        if self._row_has_metric:
            self.metric_values.append(math.nan if self._row_metric is None else self._row_metric)
        self._row = None
        self._row_has_metric = False
        self._row_metric = None

    def _maybe_flush(self) -> None:
        # Also without new rows: a stop may have been requested for this run meanwhile.
        if len(self._pending) >= FLUSH_ROWS or self._clock() - self._last_flush >= FLUSH_INTERVAL:
            self.flush()

    def flush(self) -> bool:
        """Write the buffered complete rows now (the row still being logged stays); returns
        whether every row so far is written.

        The write happens on a helper thread and is waited for at most :data:`WRITE_WAIT`
        seconds: a store that is slow to answer (a database restarting) never holds up the
        run, whose rows wait in memory meanwhile. A store error is never raised into the
        run's code: the run is asked to stop (``control``) and the agent says why.

        Raises :class:`RunStopped` when hyperband, judging another run, decided that this
        one stops (as wandb's controller judges every running run each time)."""
        self._last_flush = self._clock()
        if self._inflight is not None:
            if not self._inflight.done():
                return False
            self._collect()
        rows, self._pending = self._pending, []
        if not rows and not self._summary.changed and self._should_stop is None:
            return True
        if self._writer is None:
            self._writer = concurrent.futures.ThreadPoolExecutor(
                1, thread_name_prefix=f"localsweep-writer-{self.run_id}"
            )
        # The summary so far goes with the rows (alone when only it changed): what W&B
        # shows of a running run.
        live = self.live_summary() if rows or self._summary.changed else None
        self._summary.written()
        metric = self.summary_metric(live) if live is not None else None
        self._inflight = self._writer.submit(
            self.store.append_history, self.run, rows, summary=live, metric=metric
        )
        self._inflight_rows = rows
        if not _interrupt.wait_done(self._inflight, WRITE_WAIT):
            logger.warning(
                "run %s: the store is slow to answer; the run goes on, its rows are kept "
                "and written when the store is back",
                self.run_id,
            )
            return False
        self._collect()
        return True

    def _collect(self) -> None:
        """Take the result of the finished write: a stop band, or a store error."""
        future, self._inflight = self._inflight, None
        assert future is not None and future.done()
        rows, self._inflight_rows = self._inflight_rows, []
        try:
            requested = future.result()
        except LeaseLostError as exc:
            self.control.abort("lease_lost", exc)
            return
        except Exception as exc:
            # Rows not written stay for the finish (or are lost with the run if the store is
            # gone); the error is the store's, not the run's: the agent stops the run.
            self._pending[:0] = rows
            self._summary.changed = True
            error = exc if isinstance(exc, StoreError) else StoreError(str(exc))
            logger.info("run %s: writing its rows failed: %s", self.run_id, exc)
            self.control.abort("store_error", error)
            return
        if requested is not None and self._should_stop is not None:
            raise RunStopped(self.run_id, requested)

    def _decide(self, history: tuple[float, ...], step: int) -> int | None:
        """Hyperband's decision for this run (``history``: its values, the last one that of
        the row at ``step``), or ``None`` when the store cannot answer now."""
        assert self._should_stop is not None
        try:
            return self._should_stop(history, step)
        except LeaseLostError as exc:
            self.control.abort("lease_lost", exc)
        except StoreError as exc:
            logger.info("run %s: early termination could not read the store: %s", self.run_id, exc)
            self.control.abort("store_error", exc)
        self._check_control()
        return None

    def drain(self) -> None:
        """Wait for the write in flight (the store's own retry bounds it); its rows are kept
        for the finish if it failed."""
        self._stop_timer()
        if self._inflight is not None:
            _interrupt.wait_done(self._inflight)
            with contextlib.suppress(RunStopped):  # the run has ended anyway
                self._collect()
        if self._writer is not None:
            self._writer.shutdown(wait=True)
            self._writer = None

    def record_return(self, value: Any) -> None:
        """A function's return value, as a last row: a number is the sweep metric, a dict
        holds metrics by name."""
        if value is None:
            return
        if isinstance(value, Mapping):
            data = dict(value)
        elif metric_value(value) is not None:
            data = {self.metric.name if self.metric else "return_value": value}
        else:
            logger.warning("ignoring the return value of run %s: %r", self.run_id, value)
            return
        # The run has ended: its last value cannot make it stop early.
        self._plateau.end()
        self.on_log(data, max(self._row_step + 1, 0))

    def take_rows(self) -> list[HistoryRow]:
        """The rows not yet written, the current one included (for the finish transaction)."""
        self.drain()
        self._close_row()
        self._plateau.warn_if_unseen(self.run.sweep_id, self._last_values)
        rows, self._pending = self._pending, []
        return rows

    def live_summary(self) -> dict[str, Any]:
        """The summary of the running run so far, as W&B shows it: each key's last logged
        value, the metrics the run defined (``define_metric``) summarized as asked over
        its committed rows (a resumed run's earlier attempts' included)."""
        return self._summary.live()

    def summary(self) -> dict[str, Any]:
        """The run's summary: wandb's, when the run set its own (summary writes,
        ``define_metric``); else wandb's default, each key's last logged value.

        A resumed run's summary is the one its earlier attempts left, updated by this
        attempt's, and each metric it defined is summarized over every attempt's rows:
        one run, one history."""
        self._stop_timer()
        if self.finished is not None and self.finished.summary:
            summary = plain(self.finished.summary)
        else:
            summary = plain(self._last_values)
            if self._row_step >= 0 and self.finished is not None:
                summary["_step"] = self._row_step
        if self.run.attempt <= 1 or (self.finished is not None and self.finished.merged):
            return summary
        self._close_row()  # the run has ended: its last row is in wandb's summary too
        return self._summary.merged(summary)

    def summary_metric(self, summary: Mapping[str, Any]) -> float | None:
        """The sweep metric's summary value. ``define_metric(name, summary="min")`` makes
        wandb's summary a dict (``{"min": 0.1}``): then the component that matches the
        sweep's goal (``min``/``max``), else ``best``, else ``last``, else the last value
        the run logged."""
        if self.metric is None:
            return None
        raw = lookup(summary, self.metric.name)
        if isinstance(raw, Mapping):
            goal = "min" if self.metric.goal.value == "minimize" else "max"
            for key in (goal, "best", "last"):
                if key in raw and metric_value(raw[key]) is not None:
                    return metric_value(raw[key])
            # Another summary (mean, first...): the last value the run logged.
            logged = self._logged_values()
            return logged[-1] if logged else None
        return None if raw is _MISSING else metric_value(raw)

    def _logged_values(self) -> list[float]:
        """Every row's value of the metric, the row still open (the run's last, until the
        next flush closes it) included: else the last value would be the one before it."""
        if self._row is not None and self._row_has_metric:
            last = math.nan if self._row_metric is None else self._row_metric
            return [*self.metric_values, last]
        return self.metric_values

    def best_value(self, summary_value: float | None) -> float | None:
        """The best finite value the run logged or summarized, by the metric's goal."""
        if self.metric is None:
            return None
        values = [v for v in self._logged_values() if math.isfinite(v)]
        if summary_value is not None and math.isfinite(summary_value):
            values.append(summary_value)
        if not values:
            return None
        return min(values) if self.metric.goal.value == "minimize" else max(values)
