"""The names of wandb's offline run folders, without wandb.

wandb 0.31 names a run's folder ``offline-run-<YYYYMMDD_HHMMSS>-<run id>`` (its settings'
``sync_dir``); when that folder exists already, as for a resumed attempt of the run that
starts within the same second as the one before, ``wandb.init`` adds ``-1``, ``-2``...
(``x_sync_dir_suffix``). Each of those folders is an attempt of the same run.

>>> is_folder_of("offline-run-20261130_122334-oh1ykaer-1", "oh1ykaer")
True
>>> is_folder_of("offline-run-20261130_122334-my-run-1", "my-run-1")
True
>>> names = ["offline-run-20261130_122334-a" + s for s in ("-10", "-2", "")]
>>> [p.name[28:] for p in sorted_folders(map(Path, names))]
['a', 'a-2', 'a-10']
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

__all__ = ["folder_ids", "folders_of", "is_folder_of", "sorted_folders"]

_PREFIX = "offline-run-"
_NAME = re.compile(r"offline-run-(?P<time>\d{8}_\d{6})-(?P<rest>.+)")


def folder_ids(name: str) -> list[str]:
    """The run ids a folder named ``name`` may belong to: what follows its start time, and,
    when that ends in ``-<digits>``, also what comes before (an id may hold a ``-``)."""
    match = _NAME.fullmatch(name)
    if match is None:
        return []
    rest = match["rest"]
    head, _, tail = rest.rpartition("-")
    return [rest, head] if head and tail.isdigit() else [rest]


def is_folder_of(name: str, run_id: str) -> bool:
    """Whether ``name`` is an offline folder of the run ``run_id`` (any attempt)."""
    return run_id in folder_ids(name)


def _order(path: Path) -> tuple[str, str, int]:
    match = _NAME.fullmatch(path.name)
    if match is None:
        return ("", path.name, 0)
    rest = match["rest"]
    head, _, tail = rest.rpartition("-")
    if head and tail.isdigit():
        return (match["time"], head, int(tail))
    return (match["time"], rest, 0)


def sorted_folders(folders: Iterable[Path]) -> list[Path]:
    """Folders in the order wandb made them: by start time, then ``-1``, ``-2``..."""
    return sorted(folders, key=_order)


def folders_of(base: Path, run_id: str) -> list[Path]:
    """The offline folders of ``run_id`` directly in ``base``, oldest first."""
    try:
        found = [p for p in base.glob(f"{_PREFIX}*-{run_id}*") if p.is_dir()]
    except OSError:
        return []
    return sorted_folders(p for p in found if is_folder_of(p.name, run_id))
