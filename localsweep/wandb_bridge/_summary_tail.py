"""wandb's own summary keys of a function-mode run (``_runtime``, ``_timestamp``,
``_step``), read from the end of its offline file for ``Run.summary``.

wandb writes them into every run's summary (its core updates them with each history row,
and ``_runtime`` once more at the end), so on W&B and in wandb.Api ``run.summary["_runtime"]``
is always there. The agent stores a function-mode run's summary from what the run logged,
and asks wandb for its whole summary only when the run wrote to it (``run.summary[...]``,
``define_metric``): the other runs are stored without them. The run's file has them, in
its last summary records: only its last blocks are read (a run of thousands of rows has a
file of megabytes, and ``show``, ``export`` and the report read every run's summary).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from localsweep.wandb_bridge._logformat import BLOCK_SIZE, CorruptFileError
from localsweep.wandb_bridge._records import Record, RecordReader

__all__ = ["WANDB_SUMMARY_KEYS", "with_wandb_keys"]

logger = logging.getLogger(__name__)

#: wandb's keys of every run's summary, as a program-mode run's (read from its file) has.
WANDB_SUMMARY_KEYS = ("_runtime", "_timestamp", "_step")


def with_wandb_keys(summary: Mapping[str, Any], run_file: str | os.PathLike[str]) -> dict[str, Any]:
    """``summary`` with the :data:`WANDB_SUMMARY_KEYS` it lacks, as the run's offline file
    ``run_file`` last holds them (none when the file is missing or unreadable)."""
    found = dict(summary)
    wanted = [key for key in WANDB_SUMMARY_KEYS if key not in found]
    if wanted:
        for key, value in _last_values(Path(run_file), wanted).items():
            found[key] = value
    return found


def _last_values(path: Path, keys: list[str]) -> dict[str, Any]:
    """The last value each of ``keys`` has in the summary records of ``path``, read from
    the file's end: its last block first, then four times as many, until all are found or
    the whole file was read. A record split before the part read is skipped, and reading
    stops at a torn or damaged chunk."""
    try:
        size = path.stat().st_size
    except OSError:
        return {}
    blocks = 1
    while True:
        start = max(0, (size - 1) // BLOCK_SIZE - blocks + 1) * BLOCK_SIZE
        found: dict[str, str] = {}
        try:
            with RecordReader(path, start=start) as reader:
                for record in reader.read_new():
                    _fold(record, keys, found)
        except (OSError, CorruptFileError):
            pass  # what was read before the damage counts
        if len(found) == len(keys) or start == 0:
            return _decoded(found)
        blocks *= 4


def _decoded(found: dict[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, text in found.items():
        try:
            values[key] = json.loads(text)
        except ValueError:
            logger.debug("cannot decode %s=%r of a run file's summary", key, text[:80])
    return values


def _fold(record: Record, keys: list[str], found: dict[str, str]) -> None:
    """Keep the JSON text ``keys`` get in ``record``, when it is a summary record."""
    if record.WhichOneof("record_type") != "summary":
        return
    for item in record.summary.update:
        nested = item.nested_key
        # wandb-core writes nested_key even for top-level keys; the Python side writes key.
        key = nested[0] if len(nested) == 1 else (item.key if not len(nested) else None)
        if key in keys:
            found[key] = item.value_json
