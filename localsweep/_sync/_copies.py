"""The copies a sync makes of a run's folders: every attempt of a resumed run.

A run that was preempted and resumed has one offline folder per attempt. All of them
are copied ahead while wandb logs in (:func:`prepare_copies`) and uploaded in one
``wandb sync``, which sends the folders of one run one after the other, oldest first,
each later one resuming the run on the server. An attempt whose upload finished while
the rest of its run did not is kept as its ``.synced`` marker alone
(:func:`keep_marker_only`), and its folder is named in the run's stored outcome
(:func:`partial_message`): the next try, or the next sync (even from another staging
folder: :func:`restore_marker`), goes on after it and never sends it twice (W&B would
append its rows again).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path

from localsweep._sync._plan import READY, Attempt, RunCheck
from localsweep._sync._report import SYNCED
from localsweep._sync._stage import Prepared, StagedRun, prepare_run, staged_marker
from localsweep.store import Store
from localsweep.store import _sync_state as state

__all__ = [
    "attempts_of",
    "keep_marker_only",
    "likely_base_url",
    "partial_message",
    "prepare_copies",
    "restore_marker",
    "uploaded_attempts",
]

#: How a run stopped midway records which of its attempts the server has (the folder
#: names, in the stored outcome's message: the store has no column for it).
_UPLOADED = re.compile(r"attempts uploaded \(([^)]*)\)")

logger = logging.getLogger(__name__)


def prepare_copies(
    store: Store, sweep_id: str, checks: Sequence[RunCheck], root: Path, base_url: str
) -> dict[str, Prepared]:
    """Copy ahead the folders of the ready runs no earlier sync to ``base_url`` (the
    likely server) uploaded, every attempt's (their run files with a placeholder sweep
    id); return the copies by folder name."""
    # A wrong guess of the server costs only time (staging copies what was not copied
    # ahead; copies not needed are removed).
    synced = {
        run_id
        for target in state.find_targets(store.engine, sweep_id, base_url)
        for run_id, done in state.run_outcomes(store.engine, target.id).items()
        if done.outcome == SYNCED
    }
    prepared: dict[str, Prepared] = {}
    for check in checks:
        if check.status != READY or check.run.id in synced:
            continue
        for attempt in attempts_of(check):
            try:
                copy = prepare_run(attempt.folder, attempt.run_file, root, attempt.scan)
                if copy is not None:
                    prepared[attempt.folder.name] = copy
            except OSError as exc:  # staging copies it again and reports the failure
                logger.debug("could not copy %s ahead: %s", attempt.folder, exc)
    return prepared


def attempts_of(check: RunCheck) -> tuple[Attempt, ...]:
    """A ready run's folders, oldest first (a check made without them: its one folder)."""
    if check.attempts:
        return check.attempts
    if check.folder is None or check.run_file is None or check.scan is None:
        return ()
    return (Attempt(check.folder, check.run_file, check.scan),)


def keep_marker_only(copy: StagedRun) -> None:
    """Empty an uploaded attempt's copy but for wandb sync's marker, which tells the next
    sync that the server has it (the rest of the run is still to upload)."""
    for path in copy.folder.iterdir():
        if path == staged_marker(copy.run_file):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def likely_base_url() -> str:
    """The server is not known before the login (or, in a dry run, at all):
    WANDB_BASE_URL, or wandb's default, is the likely one (a settings file can name
    another)."""
    return os.environ.get("WANDB_BASE_URL", "").rstrip("/") or "https://api.wandb.ai"


def partial_message(uploaded: Sequence[str], total: int, why: str) -> str:
    """The stored message of a run of ``total`` attempts whose folders ``uploaded`` the
    server has (read back by :func:`uploaded_attempts`)."""
    return (
        f"{len(uploaded)} of its {total} attempts uploaded ({' '.join(uploaded)}); the next "
        f"sync goes on after them; {why}"
    )


def uploaded_attempts(outcome: state.SyncRunOutcome | None) -> set[str]:
    """The attempts' folder names a stored outcome says the server has."""
    if outcome is None or outcome.message is None:
        return set()
    found = _UPLOADED.search(outcome.message)
    return set(found.group(1).split()) if found else set()


def restore_marker(copy: StagedRun) -> None:
    """Stand the staged copy of an attempt the server has (by the store) as its marker
    alone, as :func:`keep_marker_only` leaves it."""
    copy.folder.mkdir(parents=True, exist_ok=True)
    staged_marker(copy.run_file).touch()
