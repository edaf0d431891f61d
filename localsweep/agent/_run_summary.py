"""A run's summary as W&B shows it, kept by the run's recorder while the run runs.

W&B's summary of a running run holds each key's last logged value, the values the run's
code set by hand (``run.summary["best"] = ...``, ``del run.summary["x"]``), in the order
they came, and the summaries ``define_metric`` asks for. A resumed run (preempted before)
starts from the summary its earlier attempts left, and its definitions cover every
attempt's rows (see docs/differences.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from localsweep.wandb_bridge._datastore import remove_path, set_path
from localsweep.wandb_bridge._metric_summary import (
    MetricDefinition,
    MetricDefinitions,
    RowAggregates,
)

__all__ = ["RunSummary", "plain"]

#: wandb's own keys of a run file's summary; the in-process summary does not show them.
WANDB_SUMMARY_KEYS = frozenset({"_wandb", "_runtime", "_step", "_timestamp"})


def plain(summary: Any) -> Any:
    """wandb's summary as plain dicts: its nested values are dict-like objects that are no
    ``Mapping`` (so dotted metric names could not reach into them) and that answer any
    unknown attribute with a ``KeyError`` (which broke the JSON encoder)."""
    cls = type(summary)
    if isinstance(summary, Mapping) or (hasattr(cls, "keys") and hasattr(cls, "__getitem__")):
        return {key: plain(summary[key]) for key in summary.keys()}  # noqa: SIM118 - wandb summaries are not Mappings
    return summary


class RunSummary:
    """One run's summary so far: its earlier attempts', then this attempt's logs and
    hand-set values in order, then its ``define_metric`` summaries over every attempt.

    :attr:`changed` says whether it changed since it was last written (:meth:`written`)."""

    def __init__(self) -> None:
        #: A resumed run's summary as its earlier attempts left it.
        self.earlier: dict[str, Any] = {}
        #: This attempt's: each key's last logged value, and what the code set by hand.
        self.current: dict[str, Any] = {}
        self.definitions = MetricDefinitions()
        #: Every committed row of the run, a resumed run's earlier attempts' first.
        self.aggregates = RowAggregates()
        self.changed = False

    def resume(self, earlier: Mapping[str, Any], rows: Iterable[Mapping[str, Any]]) -> None:
        """Start from a resumed run's earlier attempts: their summary and their rows."""
        self.earlier = plain(dict(earlier))
        for row in rows:
            self.aggregates.add_row(row)

    def log(self, data: Mapping[str, Any]) -> None:
        """A logged call: each of its keys' value is the summary's, until set again."""
        self.current.update(plain(dict(data)))

    def add_row(self, row: Mapping[str, Any]) -> None:
        """A committed row, for the summaries ``define_metric`` asks for."""
        self.aggregates.add_row(row)

    def define(self, definition: MetricDefinition) -> None:
        self.definitions.add(definition)
        self.changed = True

    def set(self, path: tuple[str, ...], value: Any) -> None:
        """``run.summary[...] = value`` (``path``: the key, or a nested key's path)."""
        set_path(self.current, path, plain(value))
        self.changed = True

    def remove(self, path: tuple[str, ...]) -> None:
        """``del run.summary[...]``: gone from this attempt's summary and the earlier one."""
        remove_path(self.current, path)
        remove_path(self.earlier, path)
        self.changed = True

    def replace(self, summary: Mapping[str, Any]) -> None:
        """This attempt's summary is wandb's own (a program's, read from its run file)."""
        current = {k: v for k, v in summary.items() if k not in WANDB_SUMMARY_KEYS}
        if current != self.current:
            self.current = plain(current)
            self.changed = True

    def written(self) -> None:
        """The summary as it is now has been handed to the store."""
        self.changed = False

    def live(self) -> dict[str, Any]:
        """The summary of the running run so far, as W&B shows it."""
        return self.aggregates.apply({**self.earlier, **self.current}, self.definitions)

    def merged(self, summary: Mapping[str, Any]) -> dict[str, Any]:
        """A resumed run's final summary: its earlier attempts', updated by ``summary``
        (this attempt's), each defined metric summarized over every attempt's rows."""
        merged = {**self.earlier, **summary}
        return self.aggregates.apply(merged, self.definitions, only_aggregated=True)
