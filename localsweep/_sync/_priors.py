"""A sweep's prior runs in ``localsweep sync``: uploaded apart from its own runs.

On W&B a prior run is not one of the sweep's runs but a run of the project the sweep
names in its ``prior_runs`` (``wandb sweep -R RUN_ID``). So a prior run with an offline
run folder (see :func:`localsweep.priors.plan_prior_sync`) is staged with its sweep id
cleared (its folder may record another sweep, or none), uploaded under its own run id
with the same wandb child as the sweep's runs, and then attached to the server's sweep;
one that ``wandb sync`` already uploaded is only attached; the rest are left, with the
reason, and reported.

Each prior run's outcome is kept in the sync-state tables under its row id, as the
sweep's own runs' are (``prior uploaded`` once wandb sync finished its copy, ``prior
attached`` once the server's sweep lists it, the message holding its W&B run id), so a
rerun uploads none twice and an interrupted attach is done by the next sync.

W&B keeps a sweep's prior runs as one filter that each ``upsertSweep`` call replaces
(wandb's ``_upsert_sweep`` sends ``{"$or": [{"name": id}, ...]}`` for the ids given), so
every call passes the whole list: every prior run ever uploaded or attached, and on the
``prior_runs`` path the sweep's own runs too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from localsweep._sync._continue import Resend
from localsweep._sync._copies import (
    keep_marker_only,
    partial_message,
    restore_marker,
    uploaded_attempts,
)
from localsweep._sync._report import RunSync, run_line, unfinished_message
from localsweep._sync._stage import StagedRun, stage_run, unstage
from localsweep.priors._sync_plan import LEFT, ON_SERVER, UPLOAD, PriorSync, PriorSyncPlan
from localsweep.store import _sync_state as state
from localsweep.wandb_bridge._server import ServerSession, ServerSweep

__all__ = [
    "PRIOR_ATTACHED",
    "PRIOR_FAILED",
    "PRIOR_UPLOADED",
    "PriorRuns",
    "dry_run_prior_rows",
    "uploaded_elsewhere",
    "uploaded_to_some_entity",
]

logger = logging.getLogger(__name__)

#: Stored: wandb sync finished the prior run's copy; not yet attached.
PRIOR_UPLOADED = "prior uploaded"
#: Stored: on the server and attached to the server's sweep.
PRIOR_ATTACHED = "prior attached"
#: Stored: its upload failed (the message says why); the next sync tries again.
PRIOR_FAILED = "prior failed"
# (The outcome column holds 16 characters.)

_ON_SERVER = (PRIOR_UPLOADED, PRIOR_ATTACHED)


def _row(p: PriorSync, outcome: str, message: str | None, attempts: int = 0) -> RunSync:
    return run_line(p.run, p.folder, outcome, message, attempts, run_id=p.wandb_id, prior=True)


def _synced_before(
    engine: Engine, base_url: str, entity: str | None, project: str, plan: PriorSyncPlan
) -> dict[str, tuple[str, bool, str]]:
    # The prior runs to upload that a sync of another sweep put on the server already.
    ids = [p.wandb_id for p in plan.to_upload if p.wandb_id]
    return state.synced_elsewhere(engine, base_url, entity, project, ids, prior_outcomes=_ON_SERVER)


def uploaded_elsewhere(
    engine: Engine, base_url: str, entity: str, project: str, plan: PriorSyncPlan
) -> dict[str, str]:
    """The prior runs to upload that a sync of another sweep of this database already
    uploaded to ``entity/project`` (as its own run, or as its prior run), by W&B id,
    each with the words saying so."""
    found = _synced_before(engine, base_url, entity, project, plan)
    notes = {}
    for wandb_id, (sweep, as_prior, _entity) in found.items():
        how = f"as a prior run of sweep {sweep}" if as_prior else f"into sweep {sweep}"
        notes[wandb_id] = f"on W&B already (uploaded {how} by an earlier localsweep sync)"
    return notes


def uploaded_to_some_entity(
    engine: Engine, base_url: str, project: str, plan: PriorSyncPlan
) -> dict[str, str]:
    """For a dry run that does not know the entity (the real sync asks the server for
    its default): the prior runs to upload that a sync of another sweep of this database
    uploaded to ``project`` under some entity, each W&B id with that entity. Under it,
    they would only be attached."""
    found = _synced_before(engine, base_url, None, project, plan)
    return {wandb_id: entity for wandb_id, (_sweep, _as_prior, entity) in found.items()}


def dry_run_prior_rows(
    plan: PriorSyncPlan,
    done: dict[str, state.SyncRunOutcome],
    elsewhere: dict[str, str] | None = None,
    maybe_elsewhere: dict[str, str] | None = None,
) -> list[RunSync]:
    """The dry run's line for each prior run (``done``: the stored outcomes at the
    server sweep an earlier sync used, if any; ``elsewhere``: what
    :func:`uploaded_elsewhere` found, when the entity is known; ``maybe_elsewhere``:
    what :func:`uploaded_to_some_entity` found, when it is not)."""
    rows = []
    elsewhere = elsewhere or {}
    maybe_elsewhere = maybe_elsewhere or {}
    for p in plan.runs:
        stored = done.get(p.run.id)
        if stored is not None and stored.outcome == PRIOR_ATTACHED:
            rows.append(_row(p, "prior: already attached", None))
        elif stored is not None and stored.outcome == PRIOR_UPLOADED:
            rows.append(_row(p, "prior: already uploaded", "to be attached"))
        elif p.status == UPLOAD and p.wandb_id in elsewhere:
            rows.append(_row(p, "prior: would attach", elsewhere[p.wandb_id or ""]))
        elif p.status == UPLOAD:
            note = "then attached to the sweep"
            if p.reason:  # a resumed run: its attempts, uploaded oldest first
                note = f"{p.reason}; {note}"
            entity = maybe_elsewhere.get(p.wandb_id or "")
            if entity is not None:
                note += f"; only attached if your default entity is {entity} (uploaded there)"
            rows.append(_row(p, "prior: would upload", note))
        elif p.status == ON_SERVER:
            rows.append(_row(p, "prior: would attach", p.reason))
        else:
            rows.append(_row(p, "prior: left", p.reason))
    return rows


def _server_id(p: PriorSync) -> str:
    # The id a prior run is uploaded under: its run file's.
    return p.wandb_id or p.run.id


def _all_synced(staged: dict[str, list[StagedRun]]) -> set[str]:
    # A prior run is uploaded once wandb sync finished every one of its attempts' copies.
    return {k for k, copies in staged.items() if all(c.synced for c in copies)}


class PriorRuns:
    """The prior-run steps of one sync, after the sweep's own runs are uploaded:
    :meth:`upload`, then :meth:`attach`, then :meth:`rows` and :meth:`lines`."""

    def __init__(
        self,
        plan: PriorSyncPlan,
        engine: Any,
        staging_root: Path,
        say: Callable[[str], None],
        *,
        retries: int,
        parallel: int,
        upload_timeout: float,
    ):
        self.plan, self.engine, self.say = plan, engine, say
        # Apart from the own runs' copies: a prior's folder may share nothing else.
        self.staging_root = staging_root / "priors"
        self.retries, self.parallel, self.upload_timeout = retries, parallel, upload_timeout
        self.uploaded_now: set[str] = set()
        self.attached_now: set[str] = set()
        self.messages: dict[str, str] = {}
        self.notes: dict[str, str] = {}
        # Prior runs a failed wandb sync may have begun (by W&B id): sent on after the
        # server's rows, as the sweep's own runs are (see _continue).
        self.resend = Resend()

    def _stored(self, target: state.SyncTarget) -> dict[str, state.SyncRunOutcome]:
        rows = {p.run.id for p in self.plan.runs}
        outcomes = state.run_outcomes(self.engine, target.id)
        return {k: v for k, v in outcomes.items() if k in rows}

    def _copies(self, p: PriorSync) -> list[StagedRun]:
        # Every attempt of a resumed run, oldest first (see _sync._copies).
        return [StagedRun.at(self.staging_root, a.folder, a.run_file) for a in p.attempts]

    def upload(self, server: ServerSession, target: state.SyncTarget) -> None:
        """Upload each prior run with a run folder that no sync uploaded yet, with no
        sweep id, into the target's entity and project."""
        stored = self._stored(target)
        pending = [
            p
            for p in self.plan.to_upload
            if p.run.id not in stored or stored[p.run.id].outcome not in _ON_SERVER
        ]
        # A run of another sweep of this database, or another sweep's prior run, that a
        # sync uploaded to this project: on W&B already (uploading it again would resend
        # it under the same id).
        elsewhere = uploaded_elsewhere(
            self.engine, target.base_url, target.entity, target.project, self.plan
        )
        known = [p for p in pending if p.wandb_id in elsewhere]
        for p in known:
            self.notes[p.run.id] = elsewhere[p.wandb_id or ""] + ": attached only"
            pending.remove(p)
        state.record_run_outcomes(
            self.engine,
            target.id,
            [(p.run.id, PRIOR_UPLOADED, p.wandb_id, False) for p in known],
        )
        # Copies an interrupted sync left that wandb sync finished: uploaded already.
        for p in list(pending):
            left_copies = self._copies(p)
            if left_copies and all(c.synced for c in left_copies):
                self._record(target, {p.run.id: left_copies}, set(), ())
                pending.remove(p)
        for p in pending:
            failed = p.run.id in stored and stored[p.run.id].outcome == PRIOR_FAILED
            self.resend.left_by_earlier_sync(_server_id(p), self._copies(p), failed)
        attempt = 0
        while pending and attempt <= self.retries:
            attempt += 1
            ids = [_server_id(p) for p in pending]
            self.resend.ask(target.entity, target.project, ids, self.staging_root, server.timeout)
            staged = self._stage(target, pending)
            if not staged:
                break
            self.say(
                f"Uploading {len(staged)} prior run(s) without a sweep id"
                + (f" (attempt {attempt})" if attempt > 1 else "")
            )
            try:
                result = server.sync(
                    [c.run_file for copies in staged.values() for c in copies if not c.synced],
                    entity=target.entity,
                    project=target.project,
                    parallel=self.parallel,
                    log_path=self.staging_root / "wandb-sync.log",
                    timeout=self.upload_timeout,
                )
            except KeyboardInterrupt:
                self._record(target, staged, _all_synced(staged), ())
                raise
            synced = _all_synced(staged)
            self._record(target, staged, synced, result.errors)
            pending = [p for p in pending if p.run.id in staged and p.run.id not in synced]
            self.resend.begun |= {_server_id(p) for p in pending}

    def _stage(
        self, target: state.SyncTarget, pending: Sequence[PriorSync]
    ) -> dict[str, list[StagedRun]]:
        from localsweep.wandb_bridge._logformat import CorruptFileError

        staged: dict[str, list[StagedRun]] = {}
        stored = self._stored(target)
        for p in pending:
            on_server = uploaded_attempts(stored.get(p.run.id))
            copies: list[StagedRun] = []
            try:
                for a in p.attempts:  # oldest first; those the server has are not sent again
                    done = StagedRun.at(self.staging_root, a.folder, a.run_file)
                    if not done.synced and a.folder.name in on_server:
                        restore_marker(done)
                    if done.synced:
                        copies.append(done)
                        continue
                    # "" clears the sweep id: the Run records patched in place (checked
                    # against the original), else rewritten record by record.
                    copies.append(
                        stage_run(a.folder, a.run_file, self.staging_root, "", scan=a.scan)
                    )
                self.resend.stage(_server_id(p), [a.run_file for a in p.attempts], copies)
                staged[p.run.id] = copies
            except (CorruptFileError, OSError) as exc:
                self.messages[p.run.id] = f"staging failed: {exc}"
                state.record_run_outcome(
                    self.engine, target.id, p.run.id, PRIOR_FAILED, message=f"staging: {exc}"
                )
        return staged

    def _record(
        self,
        target: state.SyncTarget,
        staged: dict[str, list[StagedRun]],
        synced: set[str],
        errors: Sequence[str],
    ) -> None:
        by_row = {p.run.id: p for p in self.plan.runs}
        outcomes: list[tuple[str, str, str | None, bool]] = []
        for row_id, copies in staged.items():
            if row_id in synced or all(c.synced for c in copies):
                self.uploaded_now.add(row_id)
                outcomes.append((row_id, PRIOR_UPLOADED, by_row[row_id].wandb_id, True))
            else:
                message = unfinished_message(by_row[row_id].wandb_id or row_id, errors)
                done = [c.folder.name for c in copies if c.synced]
                if done:
                    message = partial_message(done, len(copies), message)
                self.messages[row_id] = message
                outcomes.append((row_id, PRIOR_FAILED, message, True))
        # On record before the copy goes: a rerun does not upload it again.
        state.record_run_outcomes(self.engine, target.id, outcomes)
        for row_id, copies in staged.items():
            for copy in copies:
                if row_id in self.uploaded_now:
                    unstage(copy.folder)
                elif copy.synced:
                    keep_marker_only(copy)

    def attach_list(self, target: state.SyncTarget) -> tuple[list[str], list[str]]:
        """The W&B ids of the prior runs the server's sweep is to list (in the sweep's
        order, each once: every one uploaded by a sync, even if its folder is gone since,
        and those wandb sync uploaded), and the row ids among them not attached yet."""
        stored = self._stored(target)
        uploaded = [k for k, v in stored.items() if v.outcome in _ON_SERVER]
        ids = self.plan.attach_ids(uploaded)
        new: list[str] = []
        for p in self.plan.runs:
            done = stored.get(p.run.id)
            if done is not None and done.outcome in _ON_SERVER:
                wandb_id = done.message or p.wandb_id or p.run.id
                if wandb_id not in ids:
                    ids.append(wandb_id)
            elif p.status != ON_SERVER:
                continue
            if done is None or done.outcome != PRIOR_ATTACHED:
                new.append(p.run.id)
        return ids, new

    def attach(
        self,
        server: ServerSession,
        target: state.SyncTarget,
        config: dict[str, Any],
        own_ids: Sequence[str],
        own_new: bool = True,
    ) -> int:
        """Set the server sweep's prior runs to ``own_ids`` (the sweep's own runs, on the
        ``prior_runs`` path) and the prior runs, in ONE call, as each call replaces the
        list. Called only when a prior run, or (``own_new``) an own run, is not attached
        yet.
        Returns how many ids the sweep now lists."""
        prior_ids, new = self.attach_list(target)
        ids = list(own_ids) + [i for i in prior_ids if i not in own_ids]
        if not ids or (not (own_ids and own_new) and not new):
            return len(ids)
        sweep = ServerSweep(target.server_sweep_id, target.entity, target.project, "")
        self.say(f"Attaching {len(ids)} run(s) to sweep {sweep.name} as prior runs")
        server.attach_prior_runs(sweep, config, ids)
        stored = self._stored(target)
        by_row = {p.run.id: p for p in self.plan.runs}
        state.record_run_outcomes(
            self.engine,
            target.id,
            [
                (
                    row,
                    PRIOR_ATTACHED,
                    (stored[row].message if row in stored else None) or by_row[row].wandb_id,
                    False,
                )
                for row in new
            ],
        )
        self.attached_now.update(new)
        return len(ids)

    def rows(self, target: state.SyncTarget) -> list[RunSync]:
        """Each prior run's line of the report."""
        stored = self._stored(target)
        rows = []
        for p in self.plan.runs:
            done = stored.get(p.run.id)
            attempts = done.attempts if done else 0
            note = self.notes.get(p.run.id)
            sent = self.resend.note(_server_id(p)) if p.run.id in self.uploaded_now else None
            if p.run.id in self.uploaded_now and done and done.outcome == PRIOR_ATTACHED:
                rows.append(_row(p, "prior: uploaded and attached", sent, attempts))
            elif done is not None and done.outcome == PRIOR_ATTACHED:
                now = p.run.id in self.attached_now
                what = "prior: attached" if now else "prior: already attached"
                rows.append(_row(p, what, note or (p.reason if now else None)))
            elif done is not None and done.outcome == PRIOR_UPLOADED:
                rows.append(_row(p, "prior: uploaded, not attached", sent, attempts))
            elif p.status == LEFT:
                rows.append(_row(p, "prior: left", p.reason))
            elif done is not None and done.outcome == PRIOR_FAILED:
                message = self.messages.get(p.run.id, done.message)
                rows.append(_row(p, "prior: failed", message, attempts))
            else:
                rows.append(_row(p, "prior: failed", self.messages.get(p.run.id), attempts))
        return rows

    def lines(self, target: state.SyncTarget) -> list[str]:
        """The report's closing lines: how many prior runs the sweep lists, and each
        prior run left, with the reason."""
        if not self.plan.runs:
            return []
        stored = self._stored(target)
        attached = [k for k, v in stored.items() if v.outcome == PRIOR_ATTACHED]
        left = [
            p
            for p in self.plan.left
            if p.run.id not in stored or stored[p.run.id].outcome not in _ON_SERVER
        ]
        failed = [
            p
            for p in self.plan.to_upload
            if p.run.id in stored and stored[p.run.id].outcome == PRIOR_FAILED
        ]
        lines = [
            f"Prior runs: {len(attached)} of {len(self.plan.runs)} attached to sweep "
            f"{target.server_sweep_id} ({len(self.uploaded_now)} uploaded now); "
            + (f"{len(failed)} not uploaded (run sync again); " if failed else "")
            + f"{len(left)} left"
        ]
        for p in left:
            lines.append(f"  left prior run {p.wandb_id or p.run.id}: {p.reason}")
        return lines
