"""Turns what a run logs into history rows in the store, cheaply, and asks hyperband at bands."""

from __future__ import annotations

import logging
import math
import numbers
import time
from collections.abc import Callable, Mapping
from typing import Any

from localsweep.config import Metric, SweepConfig
from localsweep.store import HistoryRow, Store
from localsweep.wandb_bridge import FinishedRun, StopRun

__all__ = ["RunRecorder", "RunStopped", "metric_value"]

logger = logging.getLogger(__name__)

#: Rows wait in memory at most this long before they are written (a crash loses at most
#: this much from the store; the wandb offline file keeps its own copy).
FLUSH_INTERVAL = 1.0
FLUSH_ROWS = 500

_MISSING = object()


class RunStopped(StopRun):
    """The run was stopped by early termination (hyperband) at ``band``."""

    def __init__(self, run_id: str, band: int):
        super().__init__(f"localsweep: run {run_id} stopped early by hyperband at band {band}")
        self.run_id = run_id
        self.band = band


def lookup(data: Mapping[str, Any], name: str) -> Any:
    """The value of ``name`` in a logged row: the key itself, else a dotted path into nested
    dicts (``{"val": {"loss": 1}}`` has ``val.loss``, as wandb's summary names it)."""
    if name in data:
        return data[name]
    node: Any = data
    for part in name.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


def metric_value(value: Any) -> float | None:
    """A logged value as a float, or ``None`` when it is not a number (bools are not)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, numbers.Real):
        return float(value)
    item = getattr(value, "item", None)  # numpy and torch scalars
    if callable(item):
        try:
            inner = item()
        except (TypeError, ValueError):
            return None
        return metric_value(inner)
    return None


def _plain(summary: Any) -> Any:
    """wandb's summary as plain dicts: its nested values are dict-like objects that are no
    ``Mapping`` (so dotted metric names could not reach into them) and that answer any
    unknown attribute with a ``KeyError`` (which broke the JSON encoder)."""
    cls = type(summary)
    if isinstance(summary, Mapping) or (hasattr(cls, "keys") and hasattr(cls, "__getitem__")):
        return {key: _plain(summary[key]) for key in summary.keys()}  # noqa: SIM118 - wandb summaries are not Mappings
    return summary


def _valid(value: float | None) -> bool:
    return value is not None and math.isfinite(value)


class RunRecorder:
    """The sink for one run: merges logged calls into rows by step, buffers them, writes
    them in batches, and asks ``should_stop(history)`` when the count of valid metric
    values reaches a band boundary (``is_boundary``); a band it returns stops the run."""

    def __init__(
        self,
        store: Store,
        run_id: str,
        config: SweepConfig,
        *,
        is_boundary: Callable[[int], bool] | None = None,
        should_stop: Callable[[tuple[float, ...]], int | None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.store = store
        self.run_id = run_id
        self.metric: Metric | None = config.metric
        self._should_stop = should_stop
        self._is_boundary = is_boundary or (lambda _iteration: False)
        self._clock = clock
        self._pending: list[HistoryRow] = []
        self._row: dict[str, Any] | None = None
        self._row_step = -1
        self._row_has_metric = False
        self._row_metric: float | None = None
        self._last_flush = clock()
        #: Rows whose metric was a finite number: wandb's hyperband "iterations".
        self.iterations = 0
        self.metric_values: list[float] = []
        self.finished: FinishedRun | None = None
        #: Each key's last logged value: wandb's default summary.
        self._last_values: dict[str, Any] = {}

    # LogSink -------------------------------------------------------------------------

    def on_log(self, data: Mapping[str, Any], step: int) -> None:
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
        if self.metric is None:
            return self._maybe_flush()
        raw = lookup(data, self.metric.name)
        if raw is _MISSING:
            return self._maybe_flush()
        value = metric_value(raw)
        first_in_row = not self._row_has_metric
        self._row_has_metric = True
        self._row_metric = value
        if first_in_row and _valid(value):
            self.iterations += 1
            if self._should_stop is not None and self._is_boundary(self.iterations):
                # Peers judge against this value too: write it before deciding.
                self._close_row()
                self.flush()
                band = self._should_stop(tuple(self.metric_values))
                if band is not None:
                    raise RunStopped(self.run_id, band)
        self._maybe_flush()

    def on_finish(self, finished: FinishedRun) -> None:
        self.finished = finished

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
        if self._row_has_metric:
            self.metric_values.append(math.nan if self._row_metric is None else self._row_metric)
        self._row = None
        self._row_has_metric = False
        self._row_metric = None

    def _maybe_flush(self) -> None:
        # Also without new rows: a stop may have been requested for this run meanwhile.
        if len(self._pending) >= FLUSH_ROWS or self._clock() - self._last_flush >= FLUSH_INTERVAL:
            self.flush()

    def flush(self) -> None:
        """Write the buffered complete rows now (the row still being logged stays).

        Raises :class:`RunStopped` when hyperband, judging another run, decided that this
        one stops (as wandb's controller judges every running run each time)."""
        rows, self._pending = self._pending, []
        self._last_flush = self._clock()
        if not rows and self._should_stop is None:
            return
        requested = self.store.append_history(self.run_id, rows)
        if requested is not None and self._should_stop is not None:
            raise RunStopped(self.run_id, requested)

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
        self.on_log(data, max(self._row_step + 1, 0))

    def take_rows(self) -> list[HistoryRow]:
        """The rows not yet written, the current one included (for the finish transaction)."""
        self._close_row()
        rows, self._pending = self._pending, []
        return rows

    def summary(self) -> dict[str, Any]:
        """The run's summary: wandb's, when the run set its own (summary writes,
        ``define_metric``); else wandb's default, each key's last logged value."""
        if self.finished is not None and self.finished.summary:
            return _plain(self.finished.summary)
        summary = _plain(self._last_values)
        if self._row_step >= 0 and self.finished is not None:
            summary["_step"] = self._row_step
        return summary

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
            return self.metric_values[-1] if self.metric_values else None
        return None if raw is _MISSING else metric_value(raw)

    def best_value(self, summary_value: float | None) -> float | None:
        """The best finite value the run logged or summarized, by the metric's goal."""
        if self.metric is None:
            return None
        values = [v for v in self.metric_values if math.isfinite(v)]
        if summary_value is not None and math.isfinite(summary_value):
            values.append(summary_value)
        if not values:
            return None
        return min(values) if self.metric.goal.value == "minimize" else max(values)
