"""The steps of ``localsweep.sync`` once wandb's child is starting (see :mod:`._sync`):
check the runs, then print the dry run's plan, or copy ahead and hand over to
:class:`._syncer.Syncer`.

Imported by :func:`localsweep._sync._sync.sync` after it has started the child, so that
importing SQLAlchemy and opening the store go on while wandb starts and logs in.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from localsweep._sync._attach import on_server_elsewhere
from localsweep._sync._copies import likely_base_url, prepare_copies
from localsweep._sync._plan import (
    READY,
    FolderIndex,
    RunCheck,
    check_run,
    search_roots,
    superseded_runs,
)
from localsweep._sync._priors import (
    dry_run_prior_rows,
    uploaded_elsewhere,
    uploaded_to_some_entity,
)
from localsweep._sync._report import SyncReport, dry_run_report, run_sync
from localsweep._sync._stage import prepared_root
from localsweep._sync._sync import Clock
from localsweep._sync._syncer import Syncer
from localsweep.priors._sync_plan import plan_prior_sync, split_prior_runs
from localsweep.store import Store, SweepRecord, require_database
from localsweep.wandb_bridge._server import ServerSession

__all__ = ["sync_steps"]


def _project_of(sweep: SweepRecord, checks: Sequence[RunCheck]) -> str | None:
    if sweep.project:
        return sweep.project
    projects = [c.project for c in checks if c.status == READY and c.project]
    return max(set(projects), key=projects.count) if projects else None


def sync_steps(
    sweep_id: str,
    *,
    server: ServerSession | None,
    state_root: Path,
    clock: Clock,
    entity: str | None,
    project: str | None,
    db: str | os.PathLike[str] | None,
    wandb_dirs: Sequence[str | os.PathLike[str]],
    include_running: bool,
    keep_running: bool,
    prior_runs: bool,
    retries: int,
    parallel: int,
    upload_timeout: float,
    say: Callable[[str], None],
) -> SyncReport:
    """:func:`localsweep._sync._sync.sync` from the store's opening on, with wandb's
    child ``server`` started (``None`` for a dry run); see there."""
    store = Store(require_database(db))  # a typo in --db creates nothing
    try:
        sweep = store.get_sweep(sweep_id)
        roots = search_roots(wandb_dirs)
        index = FolderIndex()
        # Prior runs are not the sweep's runs on W&B: uploaded apart (see _priors).
        records = store.list_runs(sweep_id)
        own, _priors = split_prior_runs(records)
        superseded = superseded_runs(own)
        checks = [
            check_run(
                r,
                sweep_id,
                roots,
                include_running=include_running,
                index=index,
                superseded_by=superseded.get(r.id),
                stored_rows=lambda run_id: store.history_extent(run_id)[0],
            )
            for r in own
        ]
        prior_plan = plan_prior_sync(store, sweep_id, wandb_dirs=wandb_dirs, runs=records)
        entity = entity or sweep.entity or sweep.config.entity
        project = project or _project_of(sweep, checks) or "uncategorized"
        clock.lap("checks")
        # A sweep with nothing to upload (its runs ran as train(config), never started in
        # wandb, or cannot be uploaded) gets no server sweep: it would hold nothing.
        nothing = not any(c.status == READY for c in checks) and not (
            prior_plan.to_upload or prior_plan.on_server
        )
        if nothing and server is not None:
            return SyncReport(
                sweep_id=sweep.id,
                entity=entity,
                project=project,
                server_sweep=None,
                url=None,
                path="sweep",
                created=False,
                finished_on_server=False,
                dry_run=False,
                runs=(
                    *(run_sync(c, c.status, c.message) for c in checks),
                    *dry_run_prior_rows(prior_plan, {}),
                ),
                prior_lines=tuple(prior_plan.summary_lines()),
                nothing_to_upload=True,
            )
        if server is None:
            # Without an entity (no -e, none in the config) the sync would take the
            # server's default: the runs another sweep's sync uploaded are listed as to be
            # uploaded, each naming the entity under which it would only be attached.
            # The server is the one the sync would use: WANDB_BASE_URL, or wandb's default.
            base_url = likely_base_url()
            elsewhere, maybe, attach = {}, {}, {}
            if entity:
                elsewhere = uploaded_elsewhere(store.engine, base_url, entity, project, prior_plan)
                ready = [c.run.id for c in checks if c.status == READY]
                attach = on_server_elsewhere(store.engine, base_url, entity, project, ready)
            else:
                maybe = uploaded_to_some_entity(store.engine, base_url, project, prior_plan)
            return dry_run_report(
                store,
                sweep,
                checks,
                entity,
                project,
                base_url,
                attach,
                prior_rows=lambda done: dry_run_prior_rows(prior_plan, done, elsewhere, maybe),
                prior_lines=prior_plan.summary_lines(elsewhere, maybe),
                nothing_to_upload=nothing,
            )
        # Still while wandb logs in: copy the folders (all but their run files).
        prepared = prepare_copies(
            store, sweep_id, checks, prepared_root(state_root), likely_base_url()
        )
        clock.lap("prepare")
        with server:
            clock.lap("login")
            return Syncer(
                store,
                sweep,
                checks,
                entity,
                project,
                keep_running,
                prior_runs,
                retries,
                parallel,
                state_root,
                upload_timeout,
                say,
                prepared,
                clock,
                prior_plan,
            ).run(server)
    finally:
        store.close()
