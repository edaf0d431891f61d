"""The summary ``wandb.define_metric`` asks for, computed from a run's rows, as wandb does.

wandb 0.31 computes a run's summary in its Go core (``runsummary``, ``runmetric``): for
every leaf of every committed row it keeps the first and the latest value and, of the
numbers, the min, max, total and count; a metric defined with ``summary="max"`` (any of
``min``, ``max``, ``mean``, ``first``, ``last``, comma-separated) shows those as a dict
(``{"max": 0.9}``), ``summary="none"`` shows nothing, and a metric defined without a
summary shows its latest value. A definition's name is a path split at unescaped dots
(``"val.acc"`` is ``acc`` in ``val``; ``"val\\.acc"`` the key ``val.acc``); a name ending
in ``*`` is a glob that matches keys (joined with dots) by prefix, except wandb's own
``_`` keys. Definitions of one name add up unless ``overwrite=True``.

localsweep needs this itself where wandb's core cannot give it: the summary of a run while
it runs (the agent writes it with the rows), and the summary of a run resumed after a
preemption, whose definitions cover every attempt's rows (W&B's core starts them again
in each attempt; see docs/differences.md).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from localsweep.wandb_bridge._datastore import remove_path, set_path

__all__ = ["MetricDefinition", "MetricDefinitions", "RowAggregates", "definition_of"]

#: The summary kinds wandb-core shows (``copy`` and ``best`` are accepted and ignored).
KINDS = ("last", "first", "max", "min", "mean")

Path = tuple[str, ...]


@dataclass(frozen=True)
class MetricDefinition:
    """One ``define_metric`` call (a ``MetricRecord``), as far as the summary goes."""

    name: str
    glob: bool = False
    kinds: frozenset[str] = frozenset()
    #: ``summary="none"``: the metric has no summary at all.
    none: bool = False
    #: Whether the call carried a summary part (else it leaves ``none`` as it was).
    has_summary: bool = False
    overwrite: bool = False


def definition_of(record: Any) -> MetricDefinition | None:
    """A wandb ``MetricRecord`` as a :class:`MetricDefinition` (``None`` for an x axis only)."""
    name = record.name or record.glob_name
    if not name:
        return None
    has_summary = record.HasField("summary")
    summary = record.summary
    kinds = frozenset(k for k in KINDS if has_summary and getattr(summary, k))
    return MetricDefinition(
        name=name,
        glob=not record.name,
        kinds=kinds,
        none=bool(has_summary and summary.none),
        has_summary=has_summary,
        overwrite=bool(record._control.overwrite),
    )


def split_name(name: str) -> Path:
    """A metric name as a path: split at dots, except a dot escaped with a backslash."""
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for char in name:
        if escaped:
            current.append(char if char == "." else "\\" + char)
            escaped = False
        elif char == ".":
            parts.append("".join(current))
            current = []
        elif char == "\\":
            escaped = True
        else:
            current.append(char)
    if current:
        parts.append("".join(current))
    return tuple(parts)


@dataclass
class _Rule:
    kinds: frozenset[str] = frozenset()
    none: bool = False


class MetricDefinitions:
    """A run's metric definitions so far, folded as wandb-core folds them."""

    def __init__(self) -> None:
        self._named: dict[Path, _Rule] = {}
        self._globs: dict[str, _Rule] = {}

    def __bool__(self) -> bool:
        return bool(self._named or self._globs)

    def add(self, definition: MetricDefinition) -> None:
        """Fold in one more ``define_metric``."""
        if definition.glob:
            table: dict[Any, _Rule] = self._globs
            key: Any = definition.name.removesuffix("*")
        else:
            table = self._named
            key = split_name(definition.name)
        rule = _Rule() if definition.overwrite else table.get(key, _Rule())
        if definition.has_summary:
            rule = _Rule(rule.kinds | definition.kinds, definition.none)
        table[key] = rule

    def rule(self, path: Path) -> _Rule | None:
        """The rule for the leaf at ``path``: its own definition, else the first glob."""
        rule = self._named.get(path)
        if rule is not None or not self._globs:
            return rule
        key = ".".join(path)
        if key.startswith("_"):
            return None
        for prefix, glob_rule in self._globs.items():
            if key.startswith(prefix):
                return glob_rule
        return None


class _Leaf:
    __slots__ = ("count", "first", "has_first", "latest", "max", "min", "total")

    def __init__(self) -> None:
        self.has_first = False
        self.first: Any = None
        self.latest: Any = None
        self.min = self.max = self.total = 0.0
        self.count = 0

    def update(self, value: Any) -> None:
        self.latest = value
        if not self.has_first:
            self.first = value
            self.has_first = True
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return
        number = float(value)
        if self.count:
            # Go's min and max, as wandb-core uses them: a NaN wins.
            self.min = math.nan if math.isnan(number) else min(self.min, number)
            self.max = math.nan if math.isnan(number) else max(self.max, number)
        else:
            self.min = self.max = number
        self.total += number
        self.count += 1

    def summary(self, kinds: frozenset[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if "last" in kinds:
            out["last"] = self.latest
        if "first" in kinds:
            out["first"] = self.first
        if self.count:
            if "max" in kinds:
                out["max"] = self.max
            if "min" in kinds:
                out["min"] = self.min
            if "mean" in kinds:
                out["mean"] = self.total / self.count
        return out


def _leaves(row: Mapping[str, Any], prefix: Path = ()) -> Iterator[tuple[Path, Any]]:
    for key, value in row.items():
        path = (*prefix, str(key))
        if isinstance(value, Mapping):
            yield from _leaves(value, path)
        else:
            yield path, value


class RowAggregates:
    """What wandb-core keeps of every leaf of a run's committed rows (over every attempt
    fed in), and the summary the run's definitions make of it."""

    def __init__(self) -> None:
        self._leaves: dict[Path, _Leaf] = {}

    def add_row(self, row: Mapping[str, Any]) -> None:
        """One committed row, nested as logged (wandb's ``_`` keys are left out)."""
        leaves = self._leaves
        for path, value in _leaves(row):
            if path[0].startswith("_"):
                continue
            leaf = leaves.get(path)
            if leaf is None:
                leaf = leaves[path] = _Leaf()
            leaf.update(value)

    def apply(
        self,
        summary: Mapping[str, Any],
        definitions: MetricDefinitions,
        *,
        only_aggregated: bool = False,
    ) -> dict[str, Any]:
        """``summary`` (plain nested dicts) with each defined metric's summary in place.

        ``only_aggregated``: change only the metrics whose value in ``summary`` already is
        wandb's summary dict (a value set by hand stands, as in wandb)."""
        out = _copy(summary)
        if not definitions:
            return out
        for path, leaf in self._leaves.items():
            rule = definitions.rule(path)
            if rule is None:
                continue
            current = _get(out, path)
            if only_aggregated and not isinstance(current, Mapping):
                continue
            if rule.none:
                if not only_aggregated:
                    remove_path(out, path)
                continue
            if not rule.kinds:
                continue
            value = leaf.summary(rule.kinds)
            if only_aggregated and isinstance(current, Mapping):
                value = {**current, **{k: v for k, v in value.items() if k in current}}
            set_path(out, path, value)
        return out


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    return value


_ABSENT = object()


def _get(tree: Mapping[str, Any], path: Path) -> Any:
    node: Any = tree
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return _ABSENT
        node = node[part]
    return node
