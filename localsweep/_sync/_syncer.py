"""One sync once wandb's child has logged in (see :mod:`._sync`): :class:`Syncer`.

Its copies are staged in the target's own folder under the sync state folder
(:func:`._stage.target_root`): a copy that wandb sync finished there is on that server,
entity and project, and no other's.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from localsweep._sync._attach import on_server_elsewhere, stage_attach_copy
from localsweep._sync._continue import Resend
from localsweep._sync._copies import (
    attempts_of,
    keep_marker_only,
    partial_message,
    restore_marker,
    uploaded_attempts,
)
from localsweep._sync._plan import LEFT, READY, SUPERSEDED, RunCheck
from localsweep._sync._priors import PriorRuns
from localsweep._sync._report import (
    ATTACHED,
    FAILED,
    SYNCED,
    SyncReport,
    run_sync,
    unfinished_message,
)
from localsweep._sync._stage import (
    Prepared,
    StagedRun,
    stage_run,
    target_root,
    unstage,
)
from localsweep._sync._sync import Clock
from localsweep.priors._sync_plan import PriorSyncPlan
from localsweep.records import SweepState
from localsweep.store import Store, SweepRecord
from localsweep.store import _sync_state as state
from localsweep.wandb_bridge._server import ServerError, ServerSession, ServerSweep

__all__ = ["PRIOR_RUNS_LIMIT", "Syncer"]

logger = logging.getLogger(__name__)

#: W&B's web app was seen to attach at most this many prior runs to a sweep.
PRIOR_RUNS_LIMIT = 1000
#: The stored message of an own run on the ``prior_runs`` path that the server's sweep
#: lists (uploaded ones not listed yet hold the path's name).
_LISTED = "prior_runs: listed"


def _server_config(sweep: SweepRecord, entity: str, project: str) -> dict[str, Any]:
    config = {k: v for k, v in sweep.config.raw.items() if k != "localsweep"}
    if "entity" in config:
        config["entity"] = entity
    if "project" in config:
        config["project"] = project
    return config


class Syncer:
    """One sync, step by step (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        sweep: SweepRecord,
        checks: Sequence[RunCheck],
        entity: str | None,
        project: str,
        keep_running: bool,
        prior_runs: bool,
        retries: int,
        parallel: int,
        state_root: Path,
        upload_timeout: float,
        say: Callable[[str], None],
        prepared: dict[str, Prepared],
        clock: Clock,
        prior_plan: PriorSyncPlan,
    ):
        self.store, self.sweep, self.checks = store, sweep, checks
        self.entity, self.project = entity, project
        self.keep_running, self.force_prior_runs = keep_running, prior_runs
        self.retries, self.parallel = max(0, retries), max(1, parallel)
        # The sync state folder; the target's folder in it is known after the login.
        self.state_root, self.staging_root, self.say = state_root, state_root, say
        self.upload_timeout = upload_timeout
        self.prepared, self.clock = prepared, clock
        self.engine = store.engine
        self.messages: dict[str, str | None] = {c.run.id: c.message for c in checks}
        self.warnings: list[str] = []
        # The runs a sync of another sweep uploaded (as its prior runs): attached only.
        self.on_server: dict[str, str] = {}
        # Own runs uploaded on the prior_runs path whose attach the server refused.
        self.unattached: set[str] = set()
        #: Runs a failed wandb sync may have begun: sent on after the server's rows.
        self.resend = Resend()
        self.priors = PriorRuns(
            prior_plan,
            self.engine,
            state_root,
            say,
            retries=self.retries,
            parallel=self.parallel,
            upload_timeout=upload_timeout,
        )

    def run(self, server: ServerSession) -> SyncReport:
        entity = self.entity or server.default_entity
        if not entity:
            raise ServerError("refused", "no W&B entity: pass --entity (your user or team name)")
        target, created, url = self._target(server, entity)
        self.staging_root = target_root(
            self.state_root, target.base_url, target.entity, target.project
        )
        self.priors.staging_root = self.staging_root / "priors"
        self.clock.lap("sweep")
        self.say(
            f"{'Created' if created else 'Reusing'} sweep {target.server_sweep_id} in "
            f"{target.entity}/{target.project}"
        )
        self._record_skipped(target)
        outcomes = state.run_outcomes(self.engine, target.id)
        todo = [
            c
            for c in self.checks
            if c.status == READY
            and not (c.run.id in outcomes and outcomes[c.run.id].outcome == SYNCED)
        ]
        self._recover_finished_copies(target, todo)
        outcomes = state.run_outcomes(self.engine, target.id)
        self.resend.left_by_earlier_syncs(outcomes, todo, self.staging_root)
        todo = [
            c
            for c in todo
            if outcomes.get(c.run.id) is None or outcomes[c.run.id].outcome != SYNCED
        ]
        todo = self._find_on_server(target, todo)
        wanted = {
            a.folder.name for c in todo if c.run.id not in self.on_server for a in attempts_of(c)
        }
        for name in set(self.prepared) - wanted:
            unstage(self.prepared.pop(name).folder)  # nothing left to upload
        target = self._upload(server, target, todo)
        for copy in self.prepared.values():
            unstage(copy.folder)  # made ahead for an attempt the server had already
        self.prepared.clear()
        self.priors.upload(server, target)
        self.clock.lap("priors")
        attached = self._attach_prior_runs(server, target)
        finished = attached and self._finish(server, target)
        self.clock.lap("finish")
        outcomes = state.run_outcomes(self.engine, target.id)
        runs = []
        synced_now = {c.run.id for c in todo} | set(self.on_server)
        for check in self.checks:
            done = outcomes.get(check.run.id)
            if check.status != READY:
                runs.append(run_sync(check, check.status, check.message))
            elif done is None:
                runs.append(run_sync(check, FAILED, self.messages.get(check.run.id)))
            elif done.outcome == SYNCED:
                outcome = SYNCED if check.run.id in synced_now else "already synced"
                # What the check found (a missing exit record) is still worth saying.
                message = check.message
                if check.run.id in synced_now and check.run.id in self.on_server:
                    outcome = ATTACHED
                    message = "; ".join(m for m in (self.on_server[check.run.id], message) if m)
                if check.run.id in self.unattached:
                    outcome = "uploaded, not attached"  # the next sync attaches it
                if check.run.id in synced_now:
                    message = "; ".join(m for m in (message, self.resend.note(check.run.id)) if m)
                runs.append(run_sync(check, outcome, message, done.attempts))
            else:
                runs.append(run_sync(check, done.outcome, done.message, done.attempts))
        runs.extend(self.priors.rows(target))
        return SyncReport(
            sweep_id=self.sweep.id,
            entity=target.entity,
            project=target.project,
            server_sweep=target.server_sweep_id,
            url=url,
            path=target.path,
            created=created,
            finished_on_server=finished,
            dry_run=False,
            runs=tuple(runs),
            warnings=tuple(self.warnings),
            timings=dict(self.clock.laps),
            prior_lines=tuple(self.priors.lines(target)),
        )

    # ------------------------------------------------------------------------ steps

    def _target(self, server: ServerSession, entity: str) -> tuple[state.SyncTarget, bool, str]:
        for target in state.find_targets(self.engine, self.sweep.id, server.base_url):
            if target.entity == entity and target.project == self.project:
                url = _sweep_url(server.base_url, target)
                return target, False, url
        created = server.create_sweep(
            _server_config(self.sweep, entity, self.project), entity=entity, project=self.project
        )
        # Saved before anything is uploaded: a rerun finds it and creates no second sweep.
        target = state.save_target(
            self.engine,
            sweep_id=self.sweep.id,
            base_url=server.base_url,
            entity=entity,
            project=self.project,
            server_sweep_id=created.name,
            path="prior_runs" if self.force_prior_runs else "sweep",
        )
        return target, True, created.url or _sweep_url(server.base_url, target)

    def _record_skipped(self, target: state.SyncTarget) -> None:
        for check in self.checks:
            if check.status != READY:
                state.record_run_outcome(
                    self.engine, target.id, check.run.id, check.status, message=check.message
                )

    def _find_on_server(self, target: state.SyncTarget, todo: Sequence[RunCheck]) -> list[RunCheck]:
        """Find the runs a sync of another sweep uploaded to the target's server, entity
        and project already (as its prior runs), as :mod:`._priors` does for prior runs:
        never sent again. On the ``sweep`` path each is staged as an attach copy (see
        :mod:`._attach`); on the ``prior_runs`` path it is only listed with the sweep's
        prior runs. Returns the runs left to upload."""
        self.on_server = on_server_elsewhere(
            self.engine,
            target.base_url,
            target.entity,
            target.project,
            [c.run.id for c in todo],
            target.server_sweep_id,
        )
        if target.path != "prior_runs" or not self.on_server:
            return list(todo)
        state.record_run_outcomes(
            self.engine, target.id, [(r, SYNCED, target.path, False) for r in self.on_server]
        )
        return [c for c in todo if c.run.id not in self.on_server]

    def _recover_finished_copies(self, target: state.SyncTarget, todo: Sequence[RunCheck]) -> None:
        """Copies an interrupted sync left whose upload wandb finished count as synced: a
        run when every one of its attempts' copies was finished."""
        for check in todo:
            copies = [
                StagedRun.at(self.staging_root, a.folder, a.run_file) for a in attempts_of(check)
            ]
            if copies and all(c.synced for c in copies):
                logger.info("run %s was uploaded by an interrupted sync", check.run.id)
                state.record_run_outcome(
                    self.engine, target.id, check.run.id, SYNCED, message=target.path
                )
                for copy in copies:
                    unstage(copy.folder)

    def _stage(
        self, target: state.SyncTarget, checks: Sequence[RunCheck]
    ) -> dict[str, list[StagedRun]]:
        """Stage each run's attempts, oldest first, but those the server has (never sent
        twice: W&B would append their rows again; see :mod:`._copies`)."""
        from localsweep.wandb_bridge._logformat import CorruptFileError

        sweep_id = target.server_sweep_id if target.path == "sweep" else ""
        recorded = state.run_outcomes(self.engine, target.id)
        staged: dict[str, list[StagedRun]] = {}
        for check in checks:
            copies: list[StagedRun] = []
            on_server = uploaded_attempts(recorded.get(check.run.id))
            try:
                if check.run.id in self.on_server:
                    # On the server already: its newest attempt's records but the rows.
                    newest = attempts_of(check)[-1]
                    done = StagedRun.at(self.staging_root, newest.folder, newest.run_file)
                    if not done.synced:
                        done = stage_attach_copy(
                            newest.folder, newest.run_file, self.staging_root, sweep_id
                        )
                    staged[check.run.id] = [done]
                    continue
                for attempt in attempts_of(check):
                    done = StagedRun.at(self.staging_root, attempt.folder, attempt.run_file)
                    if not done.synced and attempt.folder.name in on_server:
                        restore_marker(done)  # its staging folder was removed
                    if done.synced:
                        copies.append(done)
                        continue
                    # A retry copies the folder again.
                    prepared = self.prepared.pop(attempt.folder.name, None)
                    copies.append(
                        stage_run(
                            attempt.folder,
                            attempt.run_file,
                            self.staging_root,
                            sweep_id,
                            scan=attempt.scan,
                            prepared=prepared,
                        )
                    )
                originals = [a.run_file for a in attempts_of(check)]
                self.resend.stage(check.run.id, originals, copies)
            except (CorruptFileError, OSError) as exc:
                outcome = "corrupt" if isinstance(exc, CorruptFileError) else FAILED
                self.messages[check.run.id] = f"staging failed: {exc}"
                state.record_run_outcome(
                    self.engine, target.id, check.run.id, outcome, message=f"staging: {exc}"
                )
                continue
            staged[check.run.id] = copies
        return staged

    def _upload(
        self, server: ServerSession, target: state.SyncTarget, todo: Sequence[RunCheck]
    ) -> state.SyncTarget:
        pending = list(todo)
        attempt = 0
        fell_back = False
        while pending and attempt <= self.retries:
            attempt += 1
            started = time.monotonic()
            # How many rows the server holds of runs a wandb sync began: sent on after them.
            ids = [c.run.id for c in pending]
            self.resend.ask(target.entity, target.project, ids, self.staging_root, server.timeout)
            staged = self._stage(target, pending)
            self.say(
                f"Staged {len(staged)} run(s) in {time.monotonic() - started:.1f} s; "
                f"uploading them with wandb sync" + (f" (attempt {attempt})" if attempt > 1 else "")
            )
            self.clock.lap("staging")
            # All runs in one wandb sync; on a retry each run in its own: one run that makes
            # wandb sync crash (an upload the server refuses mid-run) left every run after
            # it undone, retry after retry.
            batches = [staged] if attempt == 1 else [{k: v} for k, v in staged.items()]
            synced: set[str] = set()
            errors: list[str] = []
            broken = attempt > 1  # the last wandb sync left runs undone
            for batch in batches:
                if broken:
                    server.kill()  # a fresh child: wandb's service in it may have died
                done, said = self._sync_batch(server, target, batch)
                synced |= done
                errors += said
                broken = bool(set(batch) - done)
            self.clock.lap("upload")
            failed = [c for c in pending if c.run.id in staged and c.run.id not in synced]
            if (
                not synced
                and not self._any_synced(target)
                and failed
                and target.path == "sweep"
                and not fell_back
                and any("sweep" in e.lower() for e in errors)
            ):
                # The server will not take runs into the sweep: upload them without a
                # sweep id and attach them as the sweep's prior runs instead.
                fell_back = True
                state.set_target_path(self.engine, target.id, "prior_runs")
                target = next(
                    t for t in state.find_targets(self.engine, self.sweep.id) if t.id == target.id
                )
                self.warnings.append(
                    "the server refused runs inside the sweep ("
                    + "; ".join(sorted(set(errors)))[:300]
                    + "); uploaded them without a sweep id and attached them as the sweep's "
                    "prior runs"
                )
                attempt -= 1  # the fallback's first upload is not a retry
            pending = failed
            self.resend.begun |= {c.run.id for c in failed}
        return target

    def _sync_batch(
        self, server: ServerSession, target: state.SyncTarget, staged: dict[str, list[StagedRun]]
    ) -> tuple[set[str], list[str]]:
        """One ``wandb sync`` of ``staged`` (a run's attempts in order, each resuming the
        run); the runs it finished, and its errors."""
        files = [c.run_file for copies in staged.values() for c in copies if not c.synced]
        try:
            result = server.sync(
                files,
                entity=target.entity,
                project=target.project,
                parallel=self.parallel,
                log_path=self.staging_root / "wandb-sync.log",
                timeout=self.upload_timeout,
            )
        except KeyboardInterrupt:
            self._record_results(target, staged, ())
            raise
        synced = self._record_results(target, staged, result.errors)
        self.clock.lap("record")
        return synced, list(result.errors)

    def _any_synced(self, target: state.SyncTarget) -> bool:
        outcomes = state.run_outcomes(self.engine, target.id).values()
        return any(o.outcome == SYNCED for o in outcomes)

    def _record_results(
        self, target: state.SyncTarget, staged: dict[str, list[StagedRun]], errors: Sequence[str]
    ) -> set[str]:
        """Store each staged run's outcome; return the runs wandb sync finished."""
        synced: set[str] = set()
        outcomes: list[tuple[str, str, str | None, bool]] = []
        for run_id, copies in staged.items():
            if all(c.synced for c in copies):
                synced.add(run_id)
                outcomes.append((run_id, SYNCED, target.path, True))
                continue
            message = unfinished_message(run_id, errors)
            done = [c.folder.name for c in copies if c.synced]
            if done:
                message = partial_message(done, len(copies), message)
            self.messages[run_id] = message
            outcomes.append((run_id, FAILED, message, True))
        # One transaction for all: what was uploaded is on record before its copy goes.
        state.record_run_outcomes(self.engine, target.id, outcomes)
        for run_id, copies in staged.items():
            for copy in copies:
                if run_id in synced:
                    unstage(copy.folder)
                elif copy.synced:
                    keep_marker_only(copy)
        return synced

    def _attach_prior_runs(self, server: ServerSession, target: state.SyncTarget) -> bool:
        """The sweep's prior runs on the server, in one call (each call replaces the
        list): its own runs on the ``prior_runs`` path, and its prior runs. Returns
        whether the server took them; if it refused, the report says so (the runs are
        uploaded: the next sync attaches them)."""
        own = []
        outcomes = state.run_outcomes(self.engine, target.id)
        if target.path == "prior_runs":
            own = sorted(run_id for run_id, o in outcomes.items() if o.outcome == SYNCED)
        # Each own run's stored message says once the server's list holds it: with none
        # new (and no new prior run), no update is sent.
        own_new = [r for r in own if outcomes[r].message != _LISTED]
        config = _server_config(self.sweep, target.entity, target.project)
        try:
            listed = self.priors.attach(server, target, config, own, own_new=bool(own_new))
        except ServerError as exc:
            # The sweep is there (this sync made or found it): not a wrong entity or
            # project, so wandb's advice about those is left out.
            reason = str(exc).split(". Check --entity", 1)[0]
            self.warnings.append(
                f"{reason}; the runs are uploaded, and the next localsweep sync attaches them"
            )
            self.unattached = set(own)
            return False
        state.record_run_outcomes(
            self.engine, target.id, [(r, SYNCED, _LISTED, False) for r in own_new]
        )
        if listed > PRIOR_RUNS_LIMIT:
            self.warnings.append(
                f"{listed} prior runs: W&B was seen to show at most {PRIOR_RUNS_LIMIT}"
            )
        return True

    def _finish(self, server: ServerSession, target: state.SyncTarget) -> bool:
        if target.finished:
            return True
        if self.keep_running or self.sweep.state is not SweepState.FINISHED:
            return False
        outcomes = state.run_outcomes(self.engine, target.id)
        # Every own run is to be on the server: one missing or damaged holds it open
        # too (docs/sync.md step 6). Runs with nothing to upload, ever, do not.
        left = [
            c
            for c in self.checks
            if c.status not in (SUPERSEDED, LEFT)
            and (c.run.id not in outcomes or outcomes[c.run.id].outcome != SYNCED)
        ]
        if left:
            self.warnings.append(
                f"the server's sweep is left running: {len(left)} run(s) are not uploaded yet"
            )
            return False
        server.finish_sweep(ServerSweep(target.server_sweep_id, target.entity, target.project, ""))
        state.mark_target_finished(self.engine, target.id)
        return True


def _sweep_url(base_url: str, target: state.SyncTarget) -> str:
    # W&B's app lives at the API's host without the "api." prefix (wandb's util.app_url).
    app = base_url.replace("://api.", "://", 1).rstrip("/")
    return f"{app}/{target.entity}/{target.project}/sweeps/{target.server_sweep_id}"
