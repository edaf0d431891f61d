"""What ``Api.runs`` and the read objects need of wandb.Api's query language, evaluated
locally: paths (``entity/project/id``, ``project:id``...), MongoDB-style ``filters``,
``order`` keys, W&B addresses of synced sweeps and runs, and the re-iterable history scan.

wandb's server evaluates ``filters`` and ``order``; here they run over the database's runs
in Python. The subset understood is listed in docs/python-api.md; anything else raises a
``ValueError`` naming the key and what is supported, rather than matching nothing.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, time, timezone
from typing import Any

from localsweep.config import Goal
from localsweep.errors import NotFoundError
from localsweep.records import naive_utc
from localsweep.search._multi import summary_entry

__all__ = [
    "app_url",
    "bare_key",
    "best_run_key",
    "check_filters",
    "matches",
    "parse_path",
    "parse_project_path",
    "sort_runs",
]

#: Run fields ``filters`` and ``order`` may name, as wandb spells them (both spellings).
_COLUMNS: dict[str, Callable[[Any], Any]] = {
    "state": lambda run: run.state,
    "sweep": lambda run: run.sweep_id,
    "display_name": lambda run: run.name,
    "displayName": lambda run: run.name,
    "name": lambda run: run.id,
    "id": lambda run: run.id,
    "created_at": lambda run: run.created_at,
    "createdAt": lambda run: run.created_at,
    "heartbeat_at": lambda run: run.heartbeat_at,
    "heartbeatAt": lambda run: run.heartbeat_at,
    "updated_at": lambda run: run.finished_at or run.heartbeat_at or run.created_at,
    "updatedAt": lambda run: run.finished_at or run.heartbeat_at or run.created_at,
}

_SUPPORTED_KEYS = (
    "state, sweep, display_name, name (the run id), created_at, heartbeat_at, updated_at, "
    "config.KEY (or config.KEY.value), summary_metrics.KEY"
)
#: The keys that hold times, and the operators whose text is one (wandb's ISO text).
_TIME_KEYS = frozenset(k for k in _COLUMNS if k.startswith(("created", "heartbeat", "updated")))
_TIME_OPS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte")
_LOGICAL = ("$and", "$or", "$nor")
_FIELD_OPS = (
    "$eq",
    "$ne",
    "$gt",
    "$gte",
    "$lt",
    "$lte",
    "$in",
    "$nin",
    "$exists",
    "$regex",
    "$options",
    "$not",
)
_SUPPORTED_OPS = "$and $or $nor $not $eq $ne $gt $gte $lt $lte $in $nin $exists $regex"

_MISSING = object()


def parse_path(path: str, what: str = "sweep") -> tuple[str | None, str | None, str]:
    """``(entity, project, id)`` from the paths wandb's ``Api._parse_path`` accepts:
    ``entity/project/runs/id`` (a URL's tail), ``entity/project/id``, ``entity/project:id``,
    ``project/id``, ``project:id``, ``id``; ``/runs/`` and ``/sweeps/`` may appear. Any other
    names no ``what``: a :class:`NotFoundError` (a ``ValueError``, as wandb's), said in one line."""
    text = path.replace("/runs/", "/").replace("/sweeps/", "/").strip("/ ")
    parts = text.split("/")
    entity: str | None = None
    project: str | None = None
    if len(parts) == 4 and parts[2] == "runs":
        entity, project, found = parts[0], parts[1], parts[3]
    elif len(parts) == 3:
        entity, project, found = parts
    elif len(parts) == 2:
        if ":" in parts[1]:
            entity = parts[0]
            project, found = parts[1].split(":", 1)
        else:
            project, found = parts
    elif len(parts) == 1 and ":" in parts[0]:
        project, found = parts[0].split(":", 1)
    elif len(parts) == 1:
        found = parts[0]
    else:
        raise NotFoundError(
            f"no {what} {path!r}: not a {what} id or path (wandb's forms: "
            "entity/project/id, project:id...)"
        )
    found = found.strip()
    if not found:
        raise NotFoundError(f"no {what} id given ({path!r}): an unset variable, most likely")
    return (entity or "").strip() or None, (project or "").strip() or None, found


def parse_project_path(path: str | None) -> tuple[str | None, str | None]:
    """``(entity, project)`` of ``Api.runs``'s ``path``: ``project`` or ``entity/project``."""
    if path is None or not path.strip("/ "):
        return None, None
    parts = path.strip("/ ").split("/", 1)
    if len(parts) == 1:
        return None, parts[0]
    return parts[0] or None, parts[1] or None


def check_filters(filters: Mapping[str, Any]) -> None:
    """Raise ``ValueError`` for a key or operator ``matches`` does not understand, before
    any run is read (an empty database must refuse the same filters as a full one)."""
    if not isinstance(filters, Mapping):
        raise ValueError(f"filters must be a dict (MongoDB-style, as wandb's), not {filters!r}")
    for key, value in filters.items():
        if key in _LOGICAL:
            if not isinstance(value, Sequence) or isinstance(value, str):
                raise ValueError(f"filters: {key} takes a list of filters, not {value!r}")
            for part in value:
                check_filters(part)
        elif key.startswith("$"):
            raise ValueError(
                f"filters: {key} is not supported at the top level; supported: {_SUPPORTED_OPS}"
            )
        else:
            _getter(key)
            _check_condition(key, value)


def _check_condition(key: str, condition: Any) -> None:
    if key in _TIME_KEYS:
        _check_times(key, condition)
    if isinstance(condition, Mapping) and not _is_operators(condition):
        # MongoDB refuses an object that mixes operators with plain keys; read as a
        # sub-document to equal, {"$gte": 1, "lte": 2} (a "$" forgotten) selects nothing.
        plain = [str(k) for k in condition if not str(k).startswith("$")]
        if len(plain) < len(condition):
            raise ValueError(
                f"filters: {dict(condition)!r} on {key!r} mixes operators with the plain key "
                f"{plain[0]!r} (an operator starts with $: '${plain[0]}'?); supported: "
                f"{_SUPPORTED_OPS}"
            )
        return
    if not _is_operators(condition):
        return
    for op, operand in condition.items():
        if op not in _FIELD_OPS:
            raise ValueError(
                f"filters: {op} (on {key!r}) is not supported; supported: {_SUPPORTED_OPS}"
            )
        if op in ("$in", "$nin") and (
            not isinstance(operand, Sequence) or isinstance(operand, str)
        ):
            raise ValueError(f"filters: {op} on {key!r} takes a list, not {operand!r}")
        if op == "$not":
            if not (_is_operators(operand) or isinstance(operand, str)):
                raise ValueError(f"filters: $not on {key!r} takes operators or a regex")
            if _is_operators(operand):
                _check_condition(key, operand)


def _check_times(key: str, condition: Any) -> None:
    """Refuse text on a time key that is no ISO time: compared as text with the stored
    times, it would select nothing, whatever the runs."""
    operands: list[tuple[str, Any]] = [("=", condition)]
    if _is_operators(condition):
        operands = [(op, condition[op]) for op in _TIME_OPS if op in condition]
        for op in ("$in", "$nin"):
            items = condition.get(op)
            if isinstance(items, Sequence) and not isinstance(items, str):
                operands += [(op, item) for item in items]
    for op, operand in operands:
        if isinstance(operand, datetime) and operand.tzinfo is None:
            raise ValueError(
                f"filters: {key!r} {op} {operand!r} has no time zone, so it could be UTC or "
                "this machine's time: give it one (datetime.now(timezone.utc)), or write "
                "ISO 8601 text as wandb's filters do: '2024-05-01T12:00:00Z'"
            )
        if isinstance(operand, (date, time)) and not isinstance(operand, datetime):
            raise ValueError(
                f"filters: {key!r} {op} {operand!r} is a {type(operand).__name__}, not a "
                "moment: give a datetime with a zone (datetime(2024, 5, 1, tzinfo=timezone.utc)),"
                " or ISO 8601 text as wandb's filters do: '2024-05-01T12:00:00Z'"
            )
        if isinstance(operand, (int, float)) and not isinstance(operand, bool):
            raise ValueError(
                f"filters: {key!r} {op} {operand!r} is a number, not a time: write it as ISO "
                "8601 text, as wandb's filters do: '2024-05-01T12:00:00Z' (for a Unix time t: "
                "datetime.fromtimestamp(t, timezone.utc).isoformat())"
            )
        if isinstance(operand, str) and naive_utc(operand) is None:
            raise ValueError(
                f"filters: {key!r} {op} {operand!r} is no time: write it as ISO 8601 text, as "
                "wandb's filters do: '2024-05-01T12:00:00Z' (UTC), or with an offset "
                "('2024-05-01T14:00:00+02:00')"
            )


def _is_operators(value: Any) -> bool:
    return isinstance(value, Mapping) and bool(value) and all(str(k).startswith("$") for k in value)


def _getter(key: str, goal: Goal = Goal.MAXIMIZE) -> Callable[[Any], Any]:
    """How to read ``key``'s value from a run (``_MISSING`` when it has none); a
    ``define_metric`` summary there reads as its aggregate, ``goal``'s first."""
    if key in _COLUMNS:
        column = _COLUMNS[key]
        return lambda run: _or_missing(column(run))
    head, _, rest = key.partition(".")
    if head == "config" and rest:
        return lambda run: _config_value(run.config, rest)
    if head in ("summary_metrics", "summaryMetrics", "summary") and rest:
        return lambda run: _summary_value(run.summary, rest, goal)
    if head == "tags":
        raise ValueError(
            f"filters/order: {key!r}: localsweep keeps no run tags, so it cannot select by "
            f"them; supported keys: {_SUPPORTED_KEYS}"
        )
    raise ValueError(f"filters/order: {key!r} is not supported; supported keys: {_SUPPORTED_KEYS}")


def _or_missing(value: Any) -> Any:
    return _MISSING if value is None else value


def _config_value(config: Mapping[str, Any], path: str) -> Any:
    """``config.KEY`` and wandb's server form ``config.KEY.value`` (the server keeps each
    top-level key as ``{"value": ..., "desc": ...}``), dotted on into nested dicts."""
    if path in config:
        return config[path]
    if path.endswith(".value") and path[: -len(".value")] in config:
        return config[path[: -len(".value")]]
    first, _, rest = path.partition(".")
    if first not in config:
        return _MISSING
    if rest == "value":
        return config[first]
    rest = rest.removeprefix("value.")
    return _nested(config[first], rest) if rest else config[first]


def _nested(data: Any, path: str) -> Any:
    if isinstance(data, Mapping) and path in data:
        return data[path]
    value = data
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _summary_value(summary: Mapping[str, Any], path: str, goal: Goal) -> Any:
    """The value at ``path`` in a run's summary, as ``best_run(order=...)`` reads it: a
    ``define_metric`` summary (``{"max": 0.9}``) is the aggregate it keeps, ``goal``'s
    first when it keeps several (``search._multi.summary_entry``, which every reader of a
    run's objective uses); any other value as it is (a nested dict stays a sub-document)."""
    entry = summary_entry(summary, path, goal)
    return _nested(summary, path) if entry is None else entry


def matches(run: Any, filters: Mapping[str, Any]) -> bool:
    """Whether ``run`` meets ``filters`` (checked by :func:`check_filters` first)."""
    for key, value in filters.items():
        if key == "$and":
            if not all(matches(run, part) for part in value):
                return False
        elif key == "$or":
            if not any(matches(run, part) for part in value):
                return False
        elif key == "$nor":
            if any(matches(run, part) for part in value):
                return False
        elif not _meets(_getter(key)(run), value):
            return False
    return True


def _meets(value: Any, condition: Any) -> bool:
    if not _is_operators(condition):
        return _equal(value, condition)
    options = str(condition.get("$options", ""))
    for op, operand in condition.items():
        if op == "$options":
            continue
        if not _apply(op, value, operand, options):
            return False
    return True


def _apply(op: str, value: Any, operand: Any, options: str) -> bool:
    if op == "$eq":
        return _equal(value, operand)
    if op == "$ne":
        return not _equal(value, operand)
    if op == "$in":
        return any(_equal(value, item) for item in operand)
    if op == "$nin":
        return not any(_equal(value, item) for item in operand)
    if op == "$exists":
        return (value is not _MISSING) == bool(operand)
    if op == "$regex":
        return _regex(value, operand, options)
    if op == "$not":
        if isinstance(operand, str):
            return not _regex(value, operand, options)
        return not _meets(value, operand)
    return _compare(op, value, operand)


def _regex(value: Any, pattern: Any, options: str) -> bool:
    if not isinstance(value, str):
        return False
    flags = 0
    for letter, flag in (("i", re.I), ("m", re.M), ("s", re.S), ("x", re.X)):
        if letter in options:
            flags |= flag
    return re.search(str(pattern), value, flags) is not None


def _equal(value: Any, operand: Any) -> bool:
    if value is _MISSING:
        return operand is None  # MongoDB: {"key": None} matches a missing key
    if isinstance(value, list) and not isinstance(operand, list):
        return any(_equal(item, operand) for item in value)  # MongoDB: an array holds it
    value, operand = _comparable(value, operand)
    if isinstance(value, bool) != isinstance(operand, bool):
        return False
    return bool(value == operand)


def _compare(op: str, value: Any, operand: Any) -> bool:
    if value is _MISSING or value is None or operand is None:
        return False
    value, operand = _comparable(value, operand)
    kinds = (_kind(value), _kind(operand))
    if kinds[0] is None or kinds[0] != kinds[1]:
        return False  # MongoDB compares numbers with numbers, text with text
    if op == "$gt":
        return bool(value > operand)
    if op == "$gte":
        return bool(value >= operand)
    if op == "$lt":
        return bool(value < operand)
    return bool(value <= operand)


def _kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, datetime):
        return "time"
    return None


def _comparable(value: Any, operand: Any) -> tuple[Any, Any]:
    """A stored time (UTC, naive) against wandb's ISO text (``2024-01-01T12:00:00Z``) or
    a ``datetime`` with a zone."""
    if isinstance(value, datetime) and isinstance(operand, str):
        return value, _utc(operand)
    if isinstance(value, datetime) and isinstance(operand, datetime) and operand.tzinfo:
        return value, operand.astimezone(timezone.utc).replace(tzinfo=None)
    return value, operand


def _utc(text: str) -> datetime | str:
    when = naive_utc(text)
    return text if when is None else when


def sort_runs(runs: list[Any], order: str | None) -> list[Any]:
    """``runs`` (in creation order) sorted as ``Api.runs``'s ``order`` asks: a key with
    ``+`` or no sign the smallest first (wandb's ``Api.runs``: "+ ascending (default)"),
    with ``-`` the largest first; runs without the value last, ties in creation order."""
    if not order:
        return list(runs)
    descending = order.startswith("-")
    key = order[1:] if order.startswith(("+", "-")) else order
    # A define_metric summary ranks by the aggregate the direction asks for when it keeps
    # several, as best_run(order=...) ranks it.
    read = _getter(key, Goal.MAXIMIZE if descending else Goal.MINIMIZE)
    with_value: list[tuple[Any, int, Any]] = []
    without: list[Any] = []
    for index, run in enumerate(runs):
        value = read(run)
        if value is _MISSING or _kind(value) is None or _is_nan(value):
            without.append(run)
        else:
            with_value.append(((_RANK[_kind(value) or ""], value), index, run))
    # Stable either way: ties keep creation order (sort's reverse keeps it too).
    with_value.sort(key=lambda item: item[0], reverse=descending)
    return [run for _, _, run in with_value] + without


def _is_nan(value: Any) -> bool:
    return isinstance(value, float) and math.isnan(value)


#: Numbers before text before times, so mixed values still sort (MongoDB's type order).
_RANK = {"bool": 0, "number": 0, "text": 1, "time": 2}


def app_url(base_url: str) -> str:
    """W&B's app address for the API address ``base_url`` (wandb's ``util.app_url``: the
    host without ``api.``)."""
    return base_url.replace("://api.", "://", 1).rstrip("/")


# best_run(order=...): wandb's Sweep.best_run reads ``order`` as QueryGenerator does.

#: wandb's run columns that ``order`` may name (``QueryGenerator.format_order_key``).
#: ``name`` is the server's: the run id (wandb's ``Run.id`` is ``attrs["name"]``), as
#: ``Api.runs`` reads it; the display name is no order key of wandb's.
_RUN_COLUMNS = {
    "createdAt": lambda run: run.created_at,
    "updatedAt": lambda run: run.finished_at or run.created_at,
    "name": lambda run: run.id,
}


def bare_key(order: str) -> str:
    """``order``'s summary key without its sign and ``summary_metrics.`` prefix."""
    key = order[1:] if order.startswith(("+", "-")) else order
    return key.removeprefix("summary_metrics.")


def best_run_key(order: str) -> tuple[Any, bool]:
    """How ``best_run(order=...)`` reads a run's value, and whether the largest is best:
    as wandb's ``QueryGenerator.format_order_key`` (no sign or ``-``: descending)."""
    maximize = not order.startswith("+")
    key = order[1:] if order.startswith(("+", "-")) else order
    if key in _RUN_COLUMNS:
        return _RUN_COLUMNS[key], maximize
    head, _, rest = key.partition(".")
    if head == "config" and rest:
        return (lambda run: _number_or_text(_nested(run.config, rest))), maximize
    path = rest if head == "summary_metrics" and rest else key
    # A define_metric summary ({"min": 0.2}) reads as the value the order wants, else as
    # the one it has: order="+acc" on a summary="max" metric ranks by that max.
    goal = Goal.MAXIMIZE if maximize else Goal.MINIMIZE
    return (lambda run: _number_or_text(_summary_value(run.summary, path, goal))), maximize


def _number_or_text(value: Any) -> float | str | None:
    """``value`` (read at a key, or dotted keys into nested dicts; a key that itself holds
    a dot is found first) when it is a number or text, else ``None``."""
    if value is _MISSING or isinstance(value, Mapping):
        return None
    return value if isinstance(value, str) else _number(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)
