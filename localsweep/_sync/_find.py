"""Where a run's offline folders are: the folders searched (``--wandb-dir``, where the
agent recorded the run, ``$WANDB_DIR``), listed once for all runs of a sweep."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from localsweep.store import RunRecord
from localsweep.wandb_bridge._folders import folder_ids, folders_of, is_folder_of, sorted_folders

__all__ = ["FolderIndex", "find_run_folder", "find_run_folders", "search_roots"]


def search_roots(wandb_dirs: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The folders run folders are looked for in, most specific first."""
    roots = [Path(d).expanduser() for d in wandb_dirs]
    default = Path(os.environ.get("WANDB_DIR") or os.getcwd())
    return [*roots, default]


class FolderIndex:
    """The run folders in each folder searched, listed once for all runs of a sweep (a
    glob per run and folder was most of the checks' time)."""

    def __init__(self) -> None:
        self._listed: dict[Path, dict[str, list[Path]]] = {}

    def find(self, base: Path, run_id: str) -> list[Path]:
        """``offline-run-*-<run_id>`` folders directly in ``base`` (and ``-<run_id>-1``...,
        wandb's name for a resumed attempt started within the same second)."""
        if "-" in run_id:  # not an id localsweep makes: look it up directly
            return folders_of(base, run_id)
        listing = self._listed.get(base)
        if listing is None:
            listing = {}
            try:
                with os.scandir(base) as entries:
                    for entry in entries:
                        if entry.name.startswith("offline-run-") and entry.is_dir():
                            for key in folder_ids(entry.name):
                                listing.setdefault(key, []).append(Path(entry.path))
            except OSError:
                pass
            self._listed[base] = listing
        return list(listing.get(run_id, ()))


def find_run_folders(
    run: RunRecord, roots: Sequence[Path], index: FolderIndex | None = None
) -> list[Path]:
    """Every offline folder of ``run`` (``offline-run-<time>-<id>``: one per attempt of a
    resumed run; ``-<id>-1``... for one started within the same second as the one before)
    under the roots, their ``wandb/``, where the agent recorded it and beside it. A folder
    name found in several places is taken from the first: the ``--wandb-dir`` folders,
    then the recorded place, then the default. Oldest first (the time wandb started it,
    then its ``-1``, ``-2``...). ``index`` lists each folder once for many runs."""
    index = index or FolderIndex()
    explicit, default = roots[:-1], roots[-1:]
    recorded: list[Path] = []
    if run.dir:
        where = Path(run.dir)
        recorded = [where, where.parent] if is_folder_of(where.name, run.id) else [where]
    found: dict[str, Path] = {}
    for group in (explicit, recorded, default):
        for root in group:
            if is_folder_of(root.name, run.id):
                if root.is_dir():
                    found.setdefault(root.name, root)
                continue
            for base in (root, root / "wandb"):
                for folder in index.find(base, run.id):
                    found.setdefault(folder.name, folder)
    return sorted_folders(found.values())


def find_run_folder(
    run: RunRecord, roots: Sequence[Path], index: FolderIndex | None = None
) -> Path | None:
    """The newest offline folder of ``run`` (see :func:`find_run_folders`), or ``None``."""
    folders = find_run_folders(run, roots, index)
    return folders[-1] if folders else None
