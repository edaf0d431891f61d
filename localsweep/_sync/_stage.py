"""Staged copies of run folders, whose run files carry the server's sweep id.

The original folders are only read. Each copy keeps the ``offline-run-...`` name (so
``wandb sync`` takes it for the offline run it is), holds everything the original holds
(``files/`` must sit beside the run file) except wandb's sync markers and its debug
``logs/``, and its run file
is rewritten and then compared with the original record by record before it is used.

A folder is staged in two steps. :func:`prepare_run` needs no server, so it runs while
wandb logs in: it copies the folder, and the run file patched in place with a
placeholder sweep id (:mod:`localsweep.wandb_bridge._patch`), checked against the
original. :func:`stage_run`, once the server's sweep id is known, rewrites only the Run
records' chunks and reads them back; a run file whose Run records cannot keep their
length is rewritten record by record instead.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from localsweep.wandb_bridge._patch import PatchResult, RunFileScan

__all__ = [
    "PLACEHOLDER_SWEEP_ID",
    "Prepared",
    "StagedRun",
    "default_staging_root",
    "prepare_run",
    "prepared_root",
    "stage_run",
    "staged_marker",
    "target_root",
    "unstage",
]

logger = logging.getLogger(__name__)

# wandb sync's own bookkeeping beside a run file: never copied, so the copy is new to it.
_MARKER_SUFFIXES = (".synced", ".syncstate")


class StagedRun:
    """A staged copy of one run folder: ``folder`` and its rewritten ``run_file``."""

    def __init__(self, folder: Path, run_file: Path):
        self.folder = folder
        self.run_file = run_file

    @classmethod
    def at(cls, staging_root: Path, folder: Path, run_file: Path) -> StagedRun:
        """Where the copy of ``folder`` (with its ``run_file``) is staged under
        ``staging_root``, whether it is there or not."""
        dest = staging_root / folder.name
        return cls(dest, dest / run_file.name)

    @property
    def synced(self) -> bool:
        """Whether ``wandb sync`` finished this copy (its ``.synced`` marker exists)."""
        return staged_marker(self.run_file).exists()


def default_staging_root(sweep_id: str) -> Path:
    """``./.localsweep-sync/<sweep>``: the sync state folder of a sweep. Copies are kept
    in it, per target (:func:`target_root`), until each run is recorded as synced, so an
    interrupted sync finds what ``wandb sync`` already finished."""
    return Path.cwd() / ".localsweep-sync" / sweep_id


def target_root(root: Path, base_url: str, entity: str, project: str) -> Path:
    """Where the copies uploaded to ``entity/project`` at ``base_url`` are staged, under
    the state folder ``root``: a ``.synced`` marker there says the run is on *that*
    server, entity and project, and no other's."""
    key = f"{base_url.rstrip('/')}\n{entity}\n{project}"
    host = re.sub(r"^[a-z]+://", "", base_url.rstrip("/"))
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{host}_{entity}_{project}")[:80]
    return root / f"{name}-{hashlib.sha256(key.encode()).hexdigest()[:8]}"


def prepared_root(root: Path) -> Path:
    """Where copies are made ahead, before the server (and so the target) is known; each
    is moved into its target's folder when staged."""
    return root / ".prepared"


def staged_marker(run_file: Path) -> Path:
    """The marker ``wandb sync`` writes beside a run file it finished."""
    return run_file.with_name(run_file.name + ".synced")


def _ignore_markers(_dir: str, names: list[str]) -> list[str]:
    return [n for n in names if n.endswith(_MARKER_SUFFIXES)]


#: The sweep id a copy made before the server's sweep exists carries until it is known.
#: Dashes: no W&B sweep id has them, so it never names a real sweep.
PLACEHOLDER_SWEEP_ID = "--------"


class Prepared:
    """A folder copied ahead by :func:`prepare_run`: its ``folder``, and ``patch``, the
    run file's copy with the placeholder sweep id (``None`` when it was not made)."""

    def __init__(self, folder: Path, patch: PatchResult | None):
        self.folder = folder
        self.patch = patch


def prepare_run(
    folder: Path, run_file: Path, staging_root: Path, scan: RunFileScan | None = None
) -> Prepared | None:
    """Copy ``folder`` into ``staging_root`` before the server's sweep id is known,
    replacing a copy left by an earlier sync. With ``scan`` (the checks' of
    ``run_file``) the run file is copied too, patched and checked with a placeholder
    sweep id, so that :func:`stage_run` only rewrites its Run records once the id is
    known. A copy that ``wandb sync`` finished (its marker exists) is left as it is for
    the sync to count, and ``None`` returned."""
    from localsweep.wandb_bridge._logformat import CorruptFileError
    from localsweep.wandb_bridge._patch import patch_run_file

    target = StagedRun.at(staging_root, folder, run_file)
    if target.synced:
        return None
    unstage(target.folder)
    staging_root.mkdir(parents=True, exist_ok=True)
    run_name = run_file.name

    def ignore(directory: str, names: list[str]) -> list[str]:
        skipped = _ignore_markers(directory, names)
        if Path(directory) == folder:
            skipped.append(run_name)  # copied below
            # wandb's debug logs of the offline run: wandb sync never reads them, and
            # copying them was half of the staging time.
            skipped.append("logs")
        return skipped

    shutil.copytree(folder, target.folder, ignore=ignore, symlinks=True)
    patch = None
    if scan is not None:
        try:
            patch = patch_run_file(run_file, target.run_file, scan, sweep_id=PLACEHOLDER_SWEEP_ID)
        except CorruptFileError as exc:  # stage_run makes the copy again, and says why
            logger.debug("copying %s ahead failed: %s", run_file, exc)
        if patch is None:
            target.run_file.unlink(missing_ok=True)
    return Prepared(target.folder, patch)


def stage_run(
    folder: Path,
    run_file: Path,
    staging_root: Path,
    sweep_id: str,
    *,
    scan: RunFileScan | None = None,
    prepared: Prepared | None = None,
) -> StagedRun:
    """Copy ``folder`` into ``staging_root`` with its run file's sweep id set to ``sweep_id``
    (``""`` clears it), check the copy record by record, and return it. ``prepared``:
    what :func:`prepare_run` copied ahead (its run file then only gets the sweep id).
    With ``scan`` (the checks' :func:`~localsweep.wandb_bridge._patch.scan_run_file` of
    ``run_file``) the run file is patched in place when it can be. A copy left by an
    earlier sync is replaced. Raises ``CorruptFileError`` if the original is damaged or
    the copy does not read back as expected, ``OSError`` if copying fails."""
    from localsweep.wandb_bridge._patch import patch_run_file, repatch_run_file

    target = StagedRun.at(staging_root, folder, run_file)
    if prepared is not None and prepared.folder != target.folder:
        # Made ahead in the prepared folder: moved into the target's.
        unstage(target.folder)
        staging_root.mkdir(parents=True, exist_ok=True)
        os.replace(prepared.folder, target.folder)
    if prepared is None:
        unstage(target.folder)
        prepare_run(folder, run_file, staging_root)
    elif prepared.patch is not None and repatch_run_file(
        target.run_file, prepared.patch, sweep_id=sweep_id
    ):
        return target
    target.run_file.unlink(missing_ok=True)
    # Written, then read back and compared with the original before it is used.
    if scan is None or patch_run_file(run_file, target.run_file, scan, sweep_id=sweep_id) is None:
        # Record by record (this imports wandb's protobuf classes: most of a second).
        from localsweep.wandb_bridge._writer import rewrite_run_file

        rewrite_run_file(run_file, target.run_file, sweep_id=sweep_id, verify=True)
    return target


def unstage(folder: Path) -> None:
    """Remove a staged copy (nothing if it is not there)."""
    if folder.exists():
        shutil.rmtree(folder)
