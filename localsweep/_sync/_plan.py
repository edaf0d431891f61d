"""Find and check each run's offline folder before anything is uploaded.

A run's folder is looked for in the ``--wandb-dir`` folders first (runs from other
machines, their ``wandb/`` folders collected in one place), then where the agent
recorded it, then in ``$WANDB_DIR/wandb`` (or ``./wandb``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from localsweep.records import RunState
from localsweep.store import RunRecord

if TYPE_CHECKING:
    from localsweep.wandb_bridge._patch import RunFileScan

__all__ = ["FolderIndex", "RunCheck", "check_run", "find_run_folder", "search_roots"]

logger = logging.getLogger(__name__)

#: A run that can be uploaded.
READY = "ready"
#: Still running locally: skipped unless ``include_running``.
RUNNING = "running"
#: No offline folder, or no run file in it.
MISSING = "missing"
#: The run file is damaged.
CORRUPT = "corrupt"
#: The run file records another sweep.
FOREIGN = "foreign"


@dataclass(frozen=True)
class RunCheck:
    """One run of the local sweep and what was found on disk for it.

    ``status`` is ``ready``, ``running``, ``missing``, ``corrupt`` or ``foreign``;
    ``message`` says what is wrong or worth knowing (a run without an exit record is
    ready, and W&B will show it as failed). ``scan`` is what was read of a ready run's
    file, so that staging need not walk it again.
    """

    run: RunRecord
    status: str
    folder: Path | None = None
    run_file: Path | None = None
    project: str | None = None
    has_exit: bool = True
    message: str | None = None
    scan: RunFileScan | None = None


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
        """``offline-run-*-<run_id>`` folders directly in ``base``."""
        if "-" in run_id:  # not an id localsweep makes: look it up directly
            try:
                return [p for p in base.glob(f"offline-run-*-{run_id}") if p.is_dir()]
            except OSError:
                return []
        listing = self._listed.get(base)
        if listing is None:
            listing = {}
            try:
                with os.scandir(base) as entries:
                    for entry in entries:
                        if entry.name.startswith("offline-run-") and entry.is_dir():
                            key = entry.name.rsplit("-", 1)[-1]
                            listing.setdefault(key, []).append(Path(entry.path))
            except OSError:
                pass
            self._listed[base] = listing
        return list(listing.get(run_id, ()))


def find_run_folder(
    run: RunRecord, roots: Sequence[Path], index: FolderIndex | None = None
) -> Path | None:
    """The offline folder of ``run``: ``offline-run-<time>-<id>`` under a root, the root's
    ``wandb/``, or where the agent recorded it. The newest wins if there are several.
    ``index`` lists each folder once for many runs."""
    index = index or FolderIndex()
    explicit, default = roots[:-1], roots[-1:]
    recorded = [Path(run.dir)] if run.dir else []
    for group in (explicit, recorded, default):
        found: list[Path] = []
        for root in group:
            if root.name.startswith("offline-run-") and root.name.endswith(f"-{run.id}"):
                if root.is_dir():
                    found.append(root)
                continue
            for base in (root, root / "wandb"):
                found.extend(index.find(base, run.id))
        if found:
            return max(found, key=lambda p: p.name)
    return None


def check_run(
    run: RunRecord,
    sweep_id: str,
    roots: Sequence[Path],
    *,
    include_running: bool,
    index: FolderIndex | None = None,
) -> RunCheck:
    """Find ``run``'s folder and check its run file: it parses, and records ``sweep_id``.
    ``index`` lists each searched folder once for many runs."""
    from localsweep.wandb_bridge._logformat import CorruptFileError, find_run_file
    from localsweep.wandb_bridge._patch import scan_run_file

    if run.state is RunState.RUNNING and not include_running:
        return RunCheck(run, RUNNING, message="still running here (--include-running uploads it)")
    folder = find_run_folder(run, roots, index)
    if folder is None:
        where = ", ".join(str(r) for r in roots)
        return RunCheck(
            run,
            MISSING,
            message=f"no offline-run-*-{run.id} folder (looked in {where}); copy that "
            "machine's wandb/ folder here and pass it with --wandb-dir",
        )
    run_file = find_run_file(folder)
    if run_file is None:
        return RunCheck(run, MISSING, folder, message=f"{folder} holds no run-*.wandb file")
    try:
        info = scan_run_file(run_file)
    except CorruptFileError as exc:
        return RunCheck(run, CORRUPT, folder, run_file, message=str(exc))
    except OSError as exc:
        return RunCheck(run, CORRUPT, folder, run_file, message=f"cannot read {run_file}: {exc}")
    if info.run_id is None:
        return RunCheck(run, CORRUPT, folder, run_file, message=f"{run_file} has no run record")
    foreign = [s for s in info.sweep_ids if s != sweep_id]
    if foreign:
        return RunCheck(
            run,
            FOREIGN,
            folder,
            run_file,
            message=f"{run_file} records sweep {foreign[0]!r}, not {sweep_id!r}",
        )
    has_exit = info.exit_code is not None
    message = None if has_exit else "no exit record (the run was killed): W&B will mark it failed"
    return RunCheck(run, READY, folder, run_file, info.project, has_exit, message, info)
