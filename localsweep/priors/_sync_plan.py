"""Which prior runs of a sweep ``localsweep sync`` can upload, and which it leaves.

On W&B a prior run is not one of the sweep's runs: it is a run of the project that the
sweep names in ``prior_runs`` (``wandb sweep -R RUN_ID``). So ``localsweep sync`` is to
upload a prior run *without* a sweep id (staged with ``sweep_id=""``) under the id it
has in its own run file, and then attach that id to the server's sweep as a prior run.

What can be uploaded is a prior run with a wandb offline run folder: one read as a prior
from ``wandb/offline-run-*``, or a run of another localsweep database whose folder was
recorded. A run that ``wandb sync`` already uploaded (its ``.synced`` marker is there)
is only attached. Everything else is left, with the reason: rows of a runs table
(``localsweep export``'s or W&B's) and database runs without a folder hold no run
files, and a folder that is gone or damaged cannot be uploaded.

This module only looks (the store and the disk); it uploads nothing.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from localsweep.store import RunRecord, Store

if TYPE_CHECKING:
    from localsweep._sync._plan import Attempt, FolderIndex
    from localsweep.wandb_bridge._patch import RunFileScan

__all__ = [
    "LEFT",
    "ON_SERVER",
    "UPLOAD",
    "PriorSync",
    "PriorSyncPlan",
    "plan_prior_sync",
    "split_prior_runs",
]

logger = logging.getLogger(__name__)

#: Has an offline run folder with a readable run file: upload it, then attach it.
UPLOAD = "upload"
#: ``wandb sync`` already uploaded its folder: attach it, upload nothing.
ON_SERVER = "on server"
#: Nothing to upload (no run files, or they are gone or damaged); ``reason`` says why.
LEFT = "left"

# wandb sync's marker beside a run file it finished.
_SYNCED_SUFFIX = ".synced"


@dataclass(frozen=True)
class PriorSync:
    """One prior run of the sweep and what ``localsweep sync`` can do with it.

    ``wandb_id`` is the id it has (or will have) on W&B: the run id its run file
    records, else its own id where it came from. ``folder`` and ``run_file`` are set for
    ``upload`` and ``on server``; ``reason`` says why a run is ``left`` (and, for the
    others, anything worth knowing).
    """

    run: RunRecord
    status: str
    wandb_id: str | None
    folder: Path | None = None
    run_file: Path | None = None
    reason: str | None = None
    #: The check of ``run_file`` (for ``upload``): staging patches its copy from it.
    scan: RunFileScan | None = None
    #: For ``upload``: every folder to upload, oldest first (a run resumed with the same
    #: id has one per attempt; ``folder`` is the newest), each with its check.
    attempts: tuple[Attempt, ...] = ()

    def __post_init__(self) -> None:
        if self.status == UPLOAD and not self.attempts:
            # A run of one folder: that folder is its one attempt.
            from localsweep._sync._plan import Attempt

            assert self.folder is not None and self.run_file is not None
            assert self.scan is not None
            attempt = Attempt(self.folder, self.run_file, self.scan)
            object.__setattr__(self, "attempts", (attempt,))


@dataclass(frozen=True)
class PriorSyncPlan:
    """Every prior run of a sweep, in the sweep's order, with what sync can do with it."""

    sweep_id: str
    runs: tuple[PriorSync, ...]

    @property
    def to_upload(self) -> list[PriorSync]:
        """Prior runs whose folders are to be uploaded (without a sweep id)."""
        return [p for p in self.runs if p.status == UPLOAD]

    @property
    def on_server(self) -> list[PriorSync]:
        """Prior runs ``wandb sync`` already uploaded: only to be attached."""
        return [p for p in self.runs if p.status == ON_SERVER]

    @property
    def left(self) -> list[PriorSync]:
        """Prior runs sync leaves, each with its reason."""
        return [p for p in self.runs if p.status == LEFT]

    def attach_ids(self, uploaded: Sequence[str] = ()) -> list[str]:
        """The W&B run ids to attach to the server's sweep as prior runs: those already
        on the server, and of ``uploaded`` (row ids of the ``to_upload`` runs that were
        uploaded) their W&B ids; in the sweep's order, each once."""
        done = set(uploaded)
        ids: list[str] = []
        for p in self.runs:
            if p.wandb_id is None or p.wandb_id in ids:
                continue
            if p.status == ON_SERVER or (p.status == UPLOAD and p.run.id in done):
                ids.append(p.wandb_id)
        return ids

    def summary_lines(
        self,
        uploaded_elsewhere: Collection[str] = (),
        maybe_elsewhere: Mapping[str, str] | None = None,
    ) -> list[str]:
        """What sync does with the prior runs, in words: one line of counts, then one
        line per prior run it leaves. ``uploaded_elsewhere``: W&B ids of runs to upload
        that a localsweep sync of another sweep uploaded already (attached only);
        ``maybe_elsewhere``: for a dry run that does not know the entity, W&B ids of runs
        to upload that such a sync uploaded, each with the entity it went to (the two are
        never given together)."""
        if not self.runs:
            return []
        known = sum(p.wandb_id in uploaded_elsewhere for p in self.to_upload)
        maybe = maybe_elsewhere or {}
        unsure = (
            f" ({len(maybe)} only attached if your default entity is "
            f"{' or '.join(sorted(set(maybe.values())))}: an earlier localsweep sync "
            "uploaded them there)"
            if maybe
            else ""
        )
        lines = [
            f"prior runs: {len(self.runs)}, {len(self.to_upload) - known} to upload{unsure}, "
            f"{len(self.on_server)} already uploaded by wandb sync (attached only), "
            + (f"{known} uploaded by an earlier localsweep sync (attached only), " if known else "")
            + f"{len(self.left)} left"
        ]
        for p in self.left:
            lines.append(f"  left prior run {p.wandb_id or p.run.id}: {p.reason}")
        return lines


def split_prior_runs(runs: Sequence[RunRecord]) -> tuple[list[RunRecord], list[RunRecord]]:
    """``runs`` (as ``Store.list_runs`` gives them) split into the sweep's own runs and its
    prior runs, each in order: sync uploads the first into the sweep, and plans the second
    with :func:`plan_prior_sync`."""
    own = [r for r in runs if not r.prior]
    return own, [r for r in runs if r.prior]


def plan_prior_sync(
    store: Store,
    sweep_id: str,
    *,
    wandb_dirs: Sequence[str | os.PathLike[str]] = (),
    runs: Sequence[RunRecord] | None = None,
) -> PriorSyncPlan:
    """What ``localsweep sync`` can do with each prior run of sweep ``sweep_id``.

    A prior run's folders are found and checked as sync finds and checks the sweep's own
    runs (:func:`localsweep._sync._plan.check_run`): where its folder was recorded and
    beside it, then an ``offline-run-*-<id>`` folder under one of ``wandb_dirs``, then
    ``$WANDB_DIR`` (or the working folder), or under their ``wandb/``. A run resumed with
    the same id has a folder per attempt: every one is uploaded, oldest first, each later
    one resuming the run, as ``wandb sync`` of all of them does. A runs table's row whose
    run still has its folders there is uploaded like a folder given as a source.
    ``runs`` may pass the sweep's runs already read (priors are picked from them);
    otherwise they are read from ``store``.
    """
    from localsweep._sync._plan import FolderIndex, search_roots

    records = list(runs) if runs is not None else store.list_runs(sweep_id)
    _own, priors = split_prior_runs(records)
    roots = search_roots(wandb_dirs)
    index = FolderIndex()
    return PriorSyncPlan(sweep_id, tuple(_plan_one(r, roots, index) for r in priors))


def _plan_one(run: RunRecord, roots: Sequence[Path], index: FolderIndex) -> PriorSync:
    from localsweep._sync._plan import CORRUPT, READY, check_run

    own_id = run.prior_run_id or run.id
    source = run.prior_source or "an unknown source"
    # Checked as one of the sweep's own runs under the id its folders carry, in any sweep
    # (a prior run's file may record another sweep, or none: staging clears it).
    check = check_run(
        replace(run, id=own_id, attempt=1), None, roots, include_running=True, index=index
    )
    if check.folder is None:
        return PriorSync(run, LEFT, run.prior_run_id, reason=_why_no_folder(run, source, roots))
    if check.status != READY or check.run_file is None or check.scan is None:
        why = check.message or check.status
        if check.status == CORRUPT:
            why = f"its run file is damaged: {why}"
        return PriorSync(run, LEFT, run.prior_run_id, check.folder, check.run_file, reason=why)
    wandb_id = check.scan.run_id or own_id
    newest = (check.folder, check.run_file)
    if not check.has_exit:
        return PriorSync(
            run,
            LEFT,
            wandb_id,
            *newest,
            reason=f"{check.run_file} has no exit record: W&B would show it as a failed run",
        )
    attempts = check.attempts
    synced = [a.run_file.with_name(a.run_file.name + _SYNCED_SUFFIX).exists() for a in attempts]
    if all(synced):
        return PriorSync(
            run,
            ON_SERVER,
            wandb_id,
            *newest,
            reason="wandb sync uploaded it before (it is attached by its id, to the project "
            "it was uploaded to)",
        )
    done = synced.index(False)
    if any(synced[done:]):
        later = ", ".join(a.folder.name for a, s in zip(attempts, synced, strict=True) if s)
        return PriorSync(
            run,
            LEFT,
            wandb_id,
            *newest,
            reason=f"wandb sync uploaded its later attempt(s) {later} but not the ones before "
            "them, which would land after their rows: upload the rest yourself, oldest first "
            "(wandb sync FOLDER)",
        )
    note = check.message
    if done:
        note = (
            f"wandb sync uploaded its first {done} attempt(s) before: the other "
            f"{len(attempts) - done} are uploaded after them"
        )
    return PriorSync(
        run, UPLOAD, wandb_id, *newest, reason=note, scan=check.scan, attempts=attempts[done:]
    )


def _why_no_folder(run: RunRecord, source: str, roots: Sequence[Path]) -> str:
    looked = f" (looked in {', '.join(str(r) for r in roots)})" if roots else ""
    if run.dir:
        return f"its run folder {run.dir} is gone{looked}: copy it back, or pass --wandb-dir"
    if " row " in source:
        return (
            f"from a runs table ({source}): a table holds no run files, and no run folder "
            f"of it is here{looked}, so there is nothing to upload; pass the folder that "
            "holds its run folder with --wandb-dir, or, if the run is on W&B already, "
            "attach it there with `wandb sweep -R <run id>`"
        )
    if " in " in source and source.startswith("run "):
        return (
            f"from another database ({source}) with no run folder recorded: no run files "
            f"to upload{looked}"
        )
    return f"no run folder for it ({source}){looked}: no run files to upload"
