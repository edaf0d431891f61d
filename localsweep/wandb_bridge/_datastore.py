"""Read wandb's offline transaction log (``run-<id>.wandb``), also while it is still being written.

An offline run keeps everything it logs in one append-only file inside its run folder
(``wandb/offline-run-<time>-<id>/run-<id>.wandb``). wandb 0.31 writes it from its Go
core and ships no Python reader, so localsweep reads it itself: program mode follows a
child process's metrics while the child runs, and takes its summary and exit code when
it ends.

The file's framing (LevelDB's log format with a wandb header: 32 KiB blocks of
CRC-checked chunks, a record split over chunks where a block ends) is described in
:mod:`localsweep.wandb_bridge._logformat`, with its constants.

Each record is a serialized ``wandb.proto.wandb_internal_pb2.Record``. The ones that
matter here:

- ``run``: run id, project, sweep id, and the initial config (plain JSON values, already
  unwrapped from the ``{"value": ...}`` shape that config files use);
- ``config``: later config updates and removals;
- ``history``: one committed row per record (``commit=False`` parts are merged before
  they reach the file). A logged nested dict is split into one item per leaf whose
  ``nested_key`` is the path (``{"a": {"b": 1}}`` is stored as path ``["a", "b"]``); a
  key that contains a dot stays one path element. Each value is JSON text in
  ``value_json``; with ``x_history_value_encoding=json,typed`` a typed copy is added;
- ``summary``: updates and removals, both the user's (``run.summary[...] = ...``) and
  those wandb-core derives from each history row;
- ``metric``: each ``define_metric`` (and each key a glob definition matched);
- ``exit``: written when the run finishes, with its exit code. A process killed by
  SIGKILL or SIGTERM leaves none; SIGINT finishes the run with exit code 255.

Rows reach the file only when wandb-core flushes it: every 15 s by default, more often
with ``WANDB_X_TRANSACTION_LOG_FLUSH_INTERVAL`` (seconds) in the child's environment.

Tested against wandb 0.31.0.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from localsweep.wandb_bridge._logformat import CorruptFileError, find_run_file
from localsweep.wandb_bridge._records import Record, RecordReader

__all__ = [
    "CorruptFileError",
    "RecordReader",
    "RunFileFollower",
    "RunFileSummary",
    "find_run_file",
    "read_run_file",
    "wait_for_exit_record",
]

logger = logging.getLogger(__name__)


# wandb keeps its own bookkeeping under this config key; users never set it.
_WANDB_CONFIG_KEY = "_wandb"


@dataclass(frozen=True)
class RunFileSummary:
    """What a ``.wandb`` file says about its run, folded from all records read so far.

    ``config`` is the run's config as plain values, without wandb's own ``_wandb`` key.
    ``history`` has one dict per committed row, nested as logged, with wandb's ``_step``,
    ``_runtime`` and ``_timestamp``. ``summary`` is the run's summary, folded from every
    summary update and removal (including the ones wandb derives from history), so it
    matches what wandb would upload. ``exit_code`` and ``finished`` come from the exit
    record; a run whose process was killed has none.
    """

    run_id: str | None
    project: str | None
    sweep_id: str | None
    config: dict[str, Any]
    history: list[dict[str, Any]]
    summary: dict[str, Any]
    exit_code: int | None
    finished: bool
    #: Whether the run called ``wandb.run.mark_preempting()`` (its ``preempting`` record).
    preempting: bool = False
    #: The name the run's code gave it (``wandb.init(name=...)``, ``run.name = ...``), as
    #: W&B shows it after sync; ``None`` for an offline run given none.
    name: str | None = None


class RunFileFollower:
    """Follows a growing ``.wandb`` file: call :meth:`poll` repeatedly to pick up new rows.

    The follower keeps the run's config, history, summary and exit state folded together;
    :attr:`state` returns a snapshot that later polls do not change.

    Example::

        follower = RunFileFollower(run_file)
        while not follower.state.finished:
            for row in follower.poll():
                report(row)
            time.sleep(0.1)
    """

    def __init__(self, path: str | os.PathLike[str], *, config_only: bool = False):
        # config_only: history and summary records are skipped undecoded (state then has
        # neither): the config of a run of 200,000 rows in a second, not in ten.
        self._reader = RecordReader(path, skip=_ROWS if config_only else frozenset())
        self._run_id: str | None = None
        self._project: str | None = None
        self._sweep_id: str | None = None
        self._name: str | None = None
        self._config = _FoldedDict()
        self._history: list[dict[str, Any]] = []
        self._summary = _FoldedDict()
        self._exit_code: int | None = None
        self._finished = False
        self._preempting = False
        self._metrics: list[Record] = []
        self._snapshot: RunFileSummary | None = None

    @property
    def path(self) -> Path:
        """The file being followed."""
        return self._reader.path

    def poll(self) -> list[dict[str, Any]]:
        """Read what was appended since the last poll; return the new history rows.

        The rows are the ones :attr:`state` holds too; treat them as read-only. Raises
        :class:`CorruptFileError` if the file is damaged (see :class:`RecordReader`).
        """
        return self._apply_all(self._reader.read_new())

    @property
    def state(self) -> RunFileSummary:
        """The run as far as it has been read.

        Later polls do not change a snapshot already handed out. It is rebuilt only after
        new records arrive, so asking often is cheap; treat its dicts as read-only.
        """
        if self._snapshot is None:
            config = {k: v for k, v in self._config.value().items() if k != _WANDB_CONFIG_KEY}
            self._snapshot = RunFileSummary(
                run_id=self._run_id,
                project=self._project,
                sweep_id=self._sweep_id,
                config=copy.deepcopy(config),
                # Rows are never changed once read, so sharing them is safe.
                history=list(self._history),
                summary=copy.deepcopy(self._summary.value()),
                exit_code=self._exit_code,
                finished=self._finished,
                preempting=self._preempting,
                name=self._name,
            )
        return self._snapshot

    def take_metric_records(self) -> list[Record]:
        """The ``define_metric`` records (wandb's ``MetricRecord``) read since the last call."""
        records, self._metrics = self._metrics, []
        return records

    @property
    def finished(self) -> bool:
        """Whether the run's exit record has been read (cheaper than ``state.finished``)."""
        return self._finished

    def close(self) -> None:
        """Close the underlying file."""
        self._reader.close()

    def __enter__(self) -> RunFileFollower:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _apply_all(self, records: list[Record]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        for record in records:
            row = self._apply(record)
            if row is not None:
                rows.append(row)
        if records:
            self._snapshot = None
        return rows

    def _apply(self, record: Record) -> dict[str, Any] | None:
        kind = record.WhichOneof("record_type")
        if kind == "history":
            row = _history_row(record.history)
            self._history.append(row)
            return row
        if kind == "summary":
            self._summary.fold(record.summary)
        elif kind == "config":
            self._config.fold(record.config)
        elif kind == "run":
            run = record.run
            # A run writes more run records when it is renamed or retagged; keep what they set.
            self._run_id = run.run_id or self._run_id
            self._project = run.project or self._project
            self._sweep_id = run.sweep_id or self._sweep_id
            self._name = run.display_name or self._name
            if run.HasField("config"):
                self._config.fold(run.config)
            if run.HasField("summary"):
                self._summary.fold(run.summary)
        elif kind == "exit":
            self._exit_code = record.exit.exit_code
            self._finished = True
        elif kind == "preempting":
            self._preempting = True
        elif kind == "metric":
            self._metrics.append(record.metric)
        return None


#: ``Record``'s field numbers of its history and summary records.
_ROWS = frozenset({2, 3})


def read_run_file(path: str | os.PathLike[str], *, config_only: bool = False) -> RunFileSummary:
    """Read a whole ``.wandb`` file and return what it says about its run
    (``config_only``: without its history and summary, much faster on a long run).

    A torn tail (a killed writer) is ignored; damage raises :class:`CorruptFileError` and a
    missing file ``FileNotFoundError``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no wandb transaction log at {path}")
    with RunFileFollower(path, config_only=config_only) as follower:
        # Damage is raised by the read after the one that returned the records before it,
        # so read until a read brings nothing.
        while records := follower._reader.read_new():
            follower._apply_all(records)
        return follower.state


def wait_for_exit_record(
    path: str | os.PathLike[str],
    timeout: float,
    poll_interval: float = 0.05,
    *,
    config_only: bool = False,
) -> RunFileSummary:
    """Poll ``path`` until its run's exit record is on disk; return the run's summary.

    ``run.finish()`` can return a few milliseconds before wandb-core writes the exit
    record, so read a finished child's file through this. Raises ``TimeoutError`` if no
    exit record appears within ``timeout`` seconds (the file need not exist at first).
    """
    deadline = time.monotonic() + timeout
    with RunFileFollower(path, config_only=config_only) as follower:
        while True:
            follower.poll()
            if follower.finished:
                return follower.state
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                exists = "" if Path(path).exists() else " (the file does not exist)"
                raise TimeoutError(f"no exit record in {path} after {timeout:g} s{exists}")
            time.sleep(min(poll_interval, remaining))


class _FoldedDict:
    """A dict built from wandb's update and remove items, decoding values only when asked.

    wandb-core writes a summary update for every history row, so a long run has far more
    updates than keys. Only the last update of each path can show in the result, so
    updates are kept as raw JSON text keyed by path and decoded when the value is needed.
    Replaying the last update of each path, in the order of those last updates, gives the
    same dict as applying every update in turn; removals are rare and applied eagerly.
    """

    def __init__(self) -> None:
        self._tree: dict[str, Any] = {}
        self._pending: dict[tuple[str, ...], str] = {}

    def fold(self, record: Any) -> None:
        pending = self._pending
        for item in record.update:
            path = _item_path(item)
            # Re-insert so the dict's order stays the order of each path's last update.
            pending.pop(path, None)
            pending[path] = item.value_json
        if len(record.remove):
            tree = self.value()
            for item in record.remove:
                remove_path(tree, _item_path(item))

    def value(self) -> dict[str, Any]:
        """The folded dict; the caller must not change it."""
        if self._pending:
            paths = list(self._pending)
            values = _decode_all(list(self._pending.values()))
            self._pending.clear()
            for path, value in zip(paths, values, strict=True):
                set_path(self._tree, path, value)
        return self._tree


def _item_path(item: Any) -> tuple[str, ...]:
    # wandb-core writes nested_key even for top-level keys; the Python side writes key.
    # Indexing a one-element path is much cheaper than tuple() over the protobuf container.
    nested = item.nested_key
    length = len(nested)
    if length == 1:
        return (nested[0],)
    return tuple(nested) if length else (item.key,)


def _loads(text: str) -> Any:
    if not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        # The file is intact (the CRC matched), so this is an encoding we do not know;
        # keep the text rather than lose the value.
        logger.warning("cannot decode value %r as JSON; keeping it as text", text[:80])
        return text


def _decode_all(texts: list[str]) -> list[Any]:
    """Decode many JSON texts; one parse of a joined array is far cheaper than one per text."""
    try:
        values = json.loads("[" + ",".join(texts) + "]")
    except ValueError:
        values = None
    # A text that is not one JSON value (empty, or "1,2") breaks the count or the parse.
    if not isinstance(values, list) or len(values) != len(texts):
        values = [_loads(text) for text in texts]
    return values


def _typed_value(item: Any, form: str) -> Any:
    # The typed form, when wandb wrote one, keeps what JSON loses (1.0 is stored as "1").
    if form == "json":
        return _loads(item.json)
    if form == "none":
        return None
    return getattr(item, form)


def _history_row(history: Any) -> dict[str, Any]:
    items = history.item
    values = _decode_all([item.value_json for item in items])
    row: dict[str, Any] = {}
    for item, value in zip(items, values, strict=True):
        form = item.WhichOneof("value")
        if form is not None:
            value = _typed_value(item, form)
        nested = item.nested_key
        if len(nested) == 1:
            row[nested[0]] = value
        elif not nested:
            row[item.key] = value
        else:
            set_path(row, tuple(nested), value)
    if "_step" not in row and history.HasField("step"):
        row["_step"] = history.step.num
    return row


def set_path(target: dict[str, Any], path: Sequence[str], value: Any) -> None:
    node = target
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = node[key] = {}
        node = child
    node[path[-1]] = value


def remove_path(target: dict[str, Any], path: Sequence[str]) -> None:
    node: Any = target
    for key in path[:-1]:
        node = node.get(key) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node.pop(path[-1], None)
