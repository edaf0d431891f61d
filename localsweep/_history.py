"""How ``Run.history()`` and ``Run.scan_history()`` pick rows, with wandb.Api's arguments.

wandb's ``Run.history(samples=500, keys=None, x_axis="_step", pandas=True)`` returns a
sample of the rows (a pandas DataFrame by default); ``scan_history(keys=None,
min_step=None, max_step=None)`` every row. The same arguments mean the same here; the
differences (every row unless ``samples`` is given, a list unless ``pandas=True``) are in
docs/differences.md. A row logged as a nested dict (``{"val": {"loss": 1.0}}``) is kept as
wandb wrote it, and ``keys`` names its leaves with dots (``keys=["val.loss"]`` gives the
column ``val.loss``, as W&B's server does); a media value's own dict
(``{"_type": "histogram", ...}``) is a value, not a level.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

__all__ = [
    "WANDB_TIMES",
    "HistoryScan",
    "add_times",
    "as_frame",
    "flat_row",
    "sample_rows",
    "select_rows",
]

#: wandb's time keys of a history row: seconds since the run started, and when it logged
#: the row (Unix seconds). The store keeps the rows without them; the run's file has them.
WANDB_TIMES = frozenset({"_runtime", "_timestamp"})


def select_rows(
    rows: Iterable[dict[str, Any]],
    keys: Sequence[str] | None = None,
    x_axis: str = "_step",
    min_step: int | None = None,
    max_step: int | None = None,
) -> Iterator[dict[str, Any]]:
    """The rows with every one of ``keys`` and ``x_axis`` (each cut to them, as wandb's
    ``sampledHistory`` asks for ``[x_axis, *keys]``), from ``min_step`` to before
    ``max_step``. A ``_runtime`` or ``_timestamp`` axis no row has (the run's file is gone)
    drops no row: the rows come without it."""
    if isinstance(keys, str):
        # wandb's scan_history raises ValueError ("keys must be specified in a list").
        raise ValueError(f"keys must be a list of names, not the text {keys!r}: keys=[{keys!r}]")
    wanted = None if keys is None else [*keys, x_axis] if x_axis not in keys else [*keys]
    needed = None if wanted is None else list(wanted)
    if needed is not None and x_axis in WANDB_TIMES:
        rows = list(rows)  # looked through twice
        if not any(x_axis in r for r in rows):
            needed.remove(x_axis)
    for row in rows:
        if wanted is not None and not all(k in row for k in wanted):
            row = {**row, **flat_row(row)}  # a nested row's leaves under their dotted names
        step = row.get("_step")
        if isinstance(step, int):
            if min_step is not None and step < min_step:
                continue
            if max_step is not None and step >= max_step:
                continue
        if wanted is None:
            yield row
        elif wanted is not None and needed is not None and all(k in row for k in needed):
            yield {k: row[k] for k in wanted if k in row}


def flat_row(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with each nested dict's leaves under dotted keys (``val.loss``), as W&B's
    server stores a row logged as ``{"val": {"loss": ...}}``; ``row`` itself when it nests
    nothing. A media value (a dict with ``_type``) is a value, not a level."""
    if not any(_is_level(v) for v in row.values()):
        return row
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: dict[str, Any]) -> None:
        for key, item in value.items():
            name = f"{prefix}{key}"
            if _is_level(item) and item:
                walk(f"{name}.", item)
            else:
                flat[name] = item

    walk("", row)
    return flat


def _is_level(value: Any) -> bool:
    return isinstance(value, dict) and "_type" not in value


def add_times(
    rows: Sequence[dict[str, Any]], logged: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """``rows`` (the store's) with ``_runtime`` and ``_timestamp`` from ``logged`` (the
    rows of the run's wandb files, in order) of the same ``_step``; a later attempt's row
    of a step wins, as its values did."""
    times: dict[Any, dict[str, Any]] = {}
    for row in logged:
        found: dict[str, Any] = {k: row[k] for k in ("_runtime", "_timestamp") if k in row}
        if found and "_step" in row:
            times[row["_step"]] = found
    return [{**row, **times.get(row.get("_step"), {})} for row in rows]


def sample_rows(rows: list[dict[str, Any]], samples: int | None) -> list[dict[str, Any]]:
    """At most ``samples`` of ``rows``, evenly spread, the first and the last kept."""
    if samples is None or len(rows) <= samples:
        return rows
    if samples < 1:
        raise ValueError(f"samples must be at least 1, not {samples!r}")
    if samples == 1:
        return [rows[-1]]
    last = len(rows) - 1
    picks = sorted({round(i * last / (samples - 1)) for i in range(samples)})
    return [rows[i] for i in picks]


def as_frame(rows: list[dict[str, Any]]) -> Any:
    """``rows`` as a pandas DataFrame (``pandas=True``, wandb's default)."""
    try:
        import pandas  # type: ignore[import-untyped]
    except ImportError:
        raise ImportError(
            "history(pandas=True) needs pandas (pip install pandas); without it, "
            "history() returns the rows as a list of dicts"
        ) from None
    return pandas.DataFrame(rows)


class HistoryScan(Iterator[dict[str, Any]]):
    """Every row of a run's history, as wandb's ``HistoryScan``: each ``iter()`` (each
    ``for`` loop) starts the scan afresh, reading the store again (a running run's new
    rows included), ``page_size`` rows at a time as the loop goes; ``next()`` goes on with
    the current scan. Its ``min_step`` and ``max_step`` are wandb's: the step it starts
    from (0 when not given) and the highest it can yield (the run's last step, -1 without
    rows, or the one before the ``max_step`` given when that is lower)."""

    def __init__(
        self,
        read_rows: Callable[[int | None, int | None, int], Iterable[dict[str, Any]]],
        keys: Sequence[str] | None,
        min_step: int | None,
        max_step: int | None,
        page_size: int,
        last_step: Callable[[], int],
    ) -> None:
        """``read_rows(min_step, stop_step, page_size)`` reads the rows from ``min_step``
        to before ``stop_step`` (``None``: no bound), ``last_step()`` the run's last step."""
        if isinstance(keys, str):
            # wandb refuses it too; raised here, not at the first row.
            list(select_rows([], keys))
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise ValueError(f"page_size={page_size!r}: the rows read at a time, at least 1")
        self._read_rows = read_rows
        self._last_step = last_step
        self.keys = list(keys) if keys else None
        self._min_step = min_step  # not given: a prior run's negative steps are kept
        self._stop_step = max_step
        self.page_size = page_size
        self._rows: Iterator[dict[str, Any]] | None = None

    @property
    def min_step(self) -> int:
        """The step the scan starts from: 0 when not given (wandb's), though a prior
        run's negative steps are yielded then too. Set, it takes effect at the next loop,
        as wandb's."""
        return 0 if self._min_step is None else self._min_step

    @min_step.setter
    def min_step(self, step: int) -> None:
        self._min_step = step

    @property
    def max_step(self) -> int:
        """The highest step this scan can yield, by the rows stored now."""
        last = self._last_step()
        return last if self._stop_step is None else min(last, self._stop_step - 1)

    def __iter__(self) -> HistoryScan:
        rows = self._read_rows(self._min_step, self._stop_step, self.page_size)
        self._rows = select_rows(rows, self.keys, "_step", self._min_step, self._stop_step)
        return self

    def __next__(self) -> dict[str, Any]:
        if self._rows is None:
            self.__iter__()
        assert self._rows is not None
        return next(self._rows)
