"""Prior runs from a runs table: CSV or JSON, as ``localsweep export`` or W&B writes it.

Three layouts are read, told apart by their columns:

- ``localsweep export``: ``id``, ``name``, ``state``, ``number``, ``created_at``, ...,
  the parameters by dotted name, then the summary keys (``summary.<key>`` where a key
  clashes with a column; nested keys dotted, which the reader undoes);
- W&B's runs table export: ``Name``, ``State``, ... and a column per config key and per
  summary key, unprefixed;
- a dump of ``wandb.Api().runs(...)``: a ``config`` and a ``summary`` column holding a
  whole dict each (JSON, or a Python literal as pandas writes it).

Which columns are parameters is decided by the sweep: a column named like a parameter
(dotted, or prefixed ``config.``) is that parameter; the metric is the column named like
the metric. What was taken is reported per source.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from localsweep.config._checks import number_from_string
from localsweep.errors import PriorRunsError, Violation
from localsweep.priors._match import PriorCandidate, literal, number
from localsweep.records import naive_utc

__all__ = ["TABLE_SUFFIXES", "read_table"]

logger = logging.getLogger(__name__)

TABLE_SUFFIXES = (".csv", ".json", ".jsonl")
_ID_COLUMNS = ("id", "ID", "run_id", "Run ID", "RunID")
_NAME_COLUMNS = ("name", "Name", "display_name", "Display Name")
_STATE_COLUMNS = ("state", "State")
_CREATED_COLUMNS = ("created_at", "Created", "createdAt")
#: The same in W&B's runs table export, whose own columns are capitalized: there a
#: lowercase ``name`` or ``state`` is a config key like any other.
_WANDB_COLUMNS = (
    ("ID", "Run ID", "RunID", "run_id"),
    ("Name", "Display Name", "display_name"),
    ("State",),
    ("Created", "createdAt"),
)
_LOCALSWEEP_COLUMNS = {"id", "name", "state", "number", "metric"}
#: Columns that say what a run is, not what it logged (with those of :func:`_meta_columns`).
_META_COLUMNS = {
    *_ID_COLUMNS,
    *_NAME_COLUMNS,
    *_STATE_COLUMNS,
    *_CREATED_COLUMNS,
    "Notes",
    "User",
    "Tags",
    "Runtime",
    "Sweep",
}


@functools.cache
def _meta_columns() -> frozenset[str]:
    """Columns that say what a run is, not what it logged: W&B's, and every column
    `localsweep export` writes about a run (its end, `metric`, `pareto`, `prior`,
    `prior_source`...), from the export's own list, so that a column added there is no
    summary key here. Imported when a table is read: the export module brings the store
    (SQLAlchemy) with it."""
    from localsweep.report._export import RUN_COLUMNS

    return frozenset(_META_COLUMNS | RUN_COLUMNS)


_WANDB_LAYOUT = "W&B runs table export"
_LOCALSWEEP_LAYOUT = "localsweep export"


def _error(path: Path, message: str) -> PriorRunsError:
    return PriorRunsError([Violation("prior_runs", f"{path}: {message}")])


def _text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise _error(path, f"cannot read it ({exc})") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        utf8_error = exc
    save_as = (
        "save it as UTF-8 (Excel: Save As > 'CSV UTF-8 (Comma delimited)')"
        if path.suffix.lower() == ".csv"
        else "save it as UTF-8"
    )
    if b"\x00" in data:  # UTF-16, as Excel's "Unicode Text" writes: no 8-bit text
        raise _error(path, f"cannot read it: it is not UTF-8 ({utf8_error}); {save_as}")
    try:
        # Excel's "CSV (Comma delimited)" on Windows writes the ANSI code page.
        text = data.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise _error(
            path, f"cannot read it: it is neither UTF-8 nor Windows-1252 ({exc}); {save_as}"
        ) from exc
    logger.info("%s is not UTF-8: read as Windows-1252, as Excel writes CSV", path)
    return text


def _records(data: Any) -> Any:
    """The list of runs in a JSON document: a list of objects, ``{"runs": [...]}``, or a
    pandas ``DataFrame.to_json()`` in another orient (``columns``, pandas' default, and
    ``index``, ``split``, ``table``)."""
    if isinstance(data, list):
        return data
    if not isinstance(data, Mapping):
        return None
    if isinstance(data.get("runs"), list):
        return data["runs"]
    if isinstance(data.get("data"), list) and "schema" in data:  # orient="table"
        return data["data"]
    if {"columns", "data"} <= set(data) and isinstance(data["data"], list):  # "split"
        columns = data["columns"]
        if isinstance(columns, list) and all(isinstance(r, list) for r in data["data"]):
            return [dict(zip(columns, r, strict=False)) for r in data["data"]]
        return None
    if not data or not all(isinstance(v, Mapping) for v in data.values()):
        return None
    # pandas writes a missing cell (NaN) as null: a value the run does not have.
    if all(str(k).lstrip("-").isdigit() for k in data):  # orient="index": one object per row
        return [{k: v for k, v in row.items() if v is not None} for row in data.values()]
    # orient="columns" (pandas' default): each column maps the row labels to its cells.
    labels: dict[Any, None] = {}
    for cells in data.values():
        labels.update(dict.fromkeys(cells))
    return [
        {c: cells[label] for c, cells in data.items() if cells.get(label) is not None}
        for label in labels
    ]


def _rows(path: Path) -> list[dict[str, Any]]:
    text = _text(path)
    suffix = path.suffix.lower()
    if suffix == ".csv":
        # A quoted cell may hold line breaks (a logged text, a traceback).
        # Hand-written tables put a space after each comma (`lr, batch_size`): the header
        # names and cells are what is between the spaces.
        reader = csv.DictReader(io.StringIO(text, newline=""), skipinitialspace=True)
        _refuse_repeated_columns(path, reader.fieldnames or [])
        rows = []
        for row in reader:
            cells = {k.strip(): v.strip() for k, v in row.items() if k and isinstance(v, str)}
            # An empty cell is a value the run does not have.
            rows.append({k: v for k, v in cells.items() if k and v})
        return rows
    try:
        if suffix == ".jsonl":
            data: Any = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            data = json.loads(text)
    except ValueError as exc:
        raise _error(path, f"is not valid JSON ({exc})") from exc
    runs = _records(data)
    if not isinstance(runs, list) or not all(isinstance(r, Mapping) for r in runs):
        raise _error(
            path,
            "must hold a list of runs, one object per run (as `localsweep export --format "
            'json` writes it, or pandas\' `df.to_json(orient="records")`)',
        )
    return [dict(r) for r in runs]


def _refuse_repeated_columns(path: Path, header: Sequence[str]) -> None:
    """A header naming one column twice (``lr,lr,opt``) leaves it open which cell is the
    run's value (a dict keeps the last): the table is refused, naming each repeated one."""
    where: dict[str, list[int]] = {}
    for i, name in enumerate(header, 1):
        if name.strip():  # unnamed columns (a trailing comma) are left out anyway
            where.setdefault(name.strip(), []).append(i)
    repeated = [
        f"{name!r} (columns {', '.join(map(str, places))})"
        for name, places in where.items()
        if len(places) > 1
    ]
    if repeated:
        raise _error(
            path,
            "its header names a column more than once, so which cell is the run's value "
            f"cannot be told: {'; '.join(repeated)}. Rename or remove the repeated columns",
        )


def _mapping(value: Any) -> Mapping[str, Any] | None:
    if isinstance(value, Mapping):
        return value
    if isinstance(value, str):
        for parse in (json.loads, literal):
            try:
                parsed = parse(value)
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                continue
            if isinstance(parsed, Mapping):
                return parsed
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _first(row: Mapping[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        if row.get(name) not in (None, ""):
            return row[name]
    return None


def _when(value: Any) -> datetime | None:
    return naive_utc(value) if isinstance(value, str) else None


def layout(columns: set[str], dumped: bool) -> str:
    """Which program wrote a table with these columns, in words."""
    if dumped:
        return "runs with config and summary columns (a wandb.Api dump)"
    if columns >= _LOCALSWEEP_COLUMNS:
        return _LOCALSWEEP_LAYOUT
    if {"Name", "State"} <= columns:
        return _WANDB_LAYOUT
    return "runs table"


def _config_view(row: Mapping[str, Any]) -> dict[str, Any]:
    # ``config.lr`` / ``config/lr`` columns stand for ``lr``, before a column named ``lr``
    # (localsweep's export writes a parameter named like one of its columns, ``name`` or
    # ``state``, as ``config.name``); the rest as they are.
    view = dict(row)
    for key, value in row.items():
        for prefix in ("config.", "config/"):
            if key.startswith(prefix):
                view[key[len(prefix) :]] = value
    return view


def _cell(value: Any) -> Any:
    if isinstance(value, str):
        spelled = number_from_string(value)
        return spelled if spelled is not None else value
    return value


def _summary_view(row: Mapping[str, Any]) -> dict[str, Any]:
    # What the run logged: every column but the ones that describe the run, numbers
    # read; a ``summary.`` prefix (localsweep's export of a clashing key) is dropped.
    view: dict[str, Any] = {}
    meta = _meta_columns()
    for key, value in row.items():
        if key in meta or key.startswith(("config.", "config/")):
            continue
        for prefix in ("summary.", "summary/"):
            if key.startswith(prefix):
                key = key[len(prefix) :]
                break
        view[key] = _cell(value)
    return view


def _undotted(flat: Mapping[str, Any]) -> dict[str, Any]:
    """A summary as ``localsweep export`` had it before it dotted its nested keys:
    ``loss.min`` is ``{"loss": {"min": ...}}`` again, so ``run.summary["loss"]["min"]`` reads
    the prior run as it reads the original. A key the original had with a dot in it cannot
    be told from a nested one and is nested too; a key that is also the start of another
    (``a`` and ``a.b``: no dict could have held both) and one with an empty part (``a..b``)
    stay as they are. The parameter columns nest too: :func:`localsweep.priors._summary`
    takes those it reads as parameters out by their dotted path."""
    prefixes = {key.rsplit(".", n)[0] for key in flat for n in range(1, key.count(".") + 1)}
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        parts = key.split(".")
        if (
            key in prefixes
            or "" in parts
            or any(".".join(parts[:n]) in flat for n in range(1, len(parts)))
        ):
            nested[key] = value
            continue
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return nested


def read_table(path: Path) -> tuple[str, list[PriorCandidate]]:
    """The runs of a CSV or JSON runs table, and the table's layout in words."""
    rows = _rows(path)
    if not rows:
        raise _error(path, "holds no runs (no rows below its header)")
    columns: set[str] = set()
    for row in rows:
        columns.update(row)
    dumped = "config" in columns and any(_mapping(r.get("config")) is not None for r in rows)
    kind = layout(columns, dumped)
    ids, names, states, created = (
        _WANDB_COLUMNS
        if kind == _WANDB_LAYOUT
        else (_ID_COLUMNS, _NAME_COLUMNS, _STATE_COLUMNS, _CREATED_COLUMNS)
    )
    candidates = []
    for i, row in enumerate(rows, 1):
        run_id = _first(row, ids)
        name = _first(row, names)
        # W&B's export has no run id column; its Name column then tells the row apart.
        known = run_id if run_id is not None else name
        label = f"{path} row {i}" + (f" ({known})" if known is not None else "")
        problem = None
        if dumped:
            cells = {k: row.get(k) for k in ("config", "summary", "summary_metrics")}
            read = {k: _mapping(v) for k, v in cells.items()}
            config = read["config"] or {}
            summary = read["summary"] or read["summary_metrics"] or {}
            bad = [k for k, v in cells.items() if v not in (None, "") and read[k] is None]
            if bad:
                problem = f"its {bad[0]} cell cannot be read as a dict ({_short(cells[bad[0]])})"
        else:
            config, summary = _config_view(row), _summary_view(row)
            if kind == _LOCALSWEEP_LAYOUT:
                # Its writer's layout is known: nested summaries were dotted. W&B's
                # export and other tables keep their columns as they are.
                summary = _undotted(summary)
        band = number(row.get("stopped_at_band"))
        state = _first(row, states)
        candidates.append(
            PriorCandidate(
                source=label,
                run_id=str(run_id) if run_id is not None else None,
                name=str(name) if name is not None else None,
                state=str(state) if state is not None else None,
                config=config,
                summary=summary,
                created_at=_when(_first(row, created)),
                finished_at=_when(row.get("finished_at")),
                stopped_at_band=int(band) if band is not None else None,
                from_table=True,
                table_row=(str(path.resolve()), i) if run_id is None else None,
                problem=problem,
                table=str(path),
            )
        )
    return kind, candidates
