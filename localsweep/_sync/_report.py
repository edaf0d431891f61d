"""What a sync reports: each run's outcome, and the dry run's plan."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from localsweep._sync._plan import LEFT, READY, SUPERSEDED, RunCheck
from localsweep.store import RunRecord, Store, SweepRecord
from localsweep.store import _sync_state as state

__all__ = [
    "ATTACHED",
    "DONE",
    "FAILED",
    "SYNCED",
    "WOULD_ATTACH",
    "RunSync",
    "SyncReport",
    "dry_run_report",
    "run_line",
    "run_sync",
    "unfinished_message",
]

SYNCED = "synced"
FAILED = "failed"
#: A run a sync of another sweep uploaded already (as its prior run): only attached to
#: this sweep, its rows not sent again (see :mod:`._attach`).
ATTACHED = "attached"
WOULD_ATTACH = "would attach"

#: The outcomes of a run that leave nothing to do (a prior run is ``left`` for good: it
#: has no run files to upload; so is a ``superseded`` run of which wandb recorded
#: nothing: its grid point's result is the run that ran it again; and a run ``left``
#: because it never started in wandb).
DONE = frozenset(
    {
        SYNCED,
        "already synced",
        "would sync",
        "running",
        "prior: uploaded and attached",
        "prior: attached",
        "prior: already attached",
        "prior: would upload",
        "prior: would attach",
        "prior: already uploaded",
        "prior: left",
        SUPERSEDED,
        LEFT,
        ATTACHED,
        WOULD_ATTACH,
    }
)


@dataclass(frozen=True)
class RunSync:
    """One run's outcome: ``synced`` (now), ``already synced`` (by an earlier sync),
    ``would sync`` (dry run), ``failed``, or why it was not uploaded (``running``,
    ``missing``, ``corrupt``, ``foreign``, ``split``: a resumed run whose folders wandb
    sync cannot join; ``superseded``: a crashed or killed run of which wandb recorded
    nothing, whose grid point ran again, left without counting as a failure; ``left``: a
    run that never started in wandb, not a failure either; ``attached``: a run a sync of
    another sweep uploaded as its prior run, only attached to this sweep now, and
    ``would attach`` in a dry run).
    ``message`` says more (for a run that ran in several attempts: how many, and their
    rows; for a crashed or killed run whose grid point ran again:
    that it was superseded). A prior run of the
    sweep (``prior``; ``run_id`` is its W&B run id) has an outcome that starts with
    ``prior:`` (``uploaded and attached``, ``attached``, ``already attached``, ``would
    upload``, ``would attach``, ``left``, ``failed``)."""

    run_id: str
    number: int
    state: str
    outcome: str
    message: str | None = None
    attempts: int = 0
    folder: str | None = None
    prior: bool = False


@dataclass(frozen=True)
class SyncReport:
    """What a sync did. ``server_sweep`` is the server's sweep id (``None`` in a dry run
    that has none yet); ``path`` is ``sweep`` or ``prior_runs``; ``ok`` is true when no
    run that could be uploaded is left behind. ``timings`` are the seconds each step
    took (``checks``, ``prepare``, ``login``, ``sweep``, ``staging``, ``upload``,
    ``finish``; the steps that ran). ``prior_lines`` say what became of the sweep's prior
    runs: how many the server's sweep lists, and each one left with the reason."""

    sweep_id: str
    entity: str | None
    project: str | None
    server_sweep: str | None
    url: str | None
    path: str
    created: bool
    finished_on_server: bool
    dry_run: bool
    runs: tuple[RunSync, ...]
    warnings: tuple[str, ...] = field(default_factory=tuple)
    timings: dict[str, float] = field(default_factory=dict)
    prior_lines: tuple[str, ...] = ()
    #: No run, and no prior run, has anything to upload (every run ran without wandb,
    #: never started, is still running or cannot be uploaded): no sweep is created.
    nothing_to_upload: bool = False

    @property
    def ok(self) -> bool:
        """Whether every run that was not skipped as running is on the server, and every
        prior run that could be uploaded is (prior runs left for a reason do not count)."""
        return all(r.outcome in DONE for r in self.runs)


def dry_run_report(
    store: Store,
    sweep: SweepRecord,
    checks: Sequence[RunCheck],
    entity: str | None,
    project: str,
    base_url: str,
    on_server: dict[str, str],
    prior_rows: Callable[[dict[str, state.SyncRunOutcome]], Sequence[RunSync]] | None = None,
    prior_lines: Sequence[str] = (),
    nothing_to_upload: bool = False,
) -> SyncReport:
    """The plan of a dry run: what would be uploaded, and to which server sweep an earlier
    sync created at ``base_url`` (read from the store only; no network); ``on_server``:
    the runs a sync of another sweep uploaded there already (only attached), each with
    the words saying so. ``prior_rows`` gives the prior
    runs' lines from the outcomes stored at that sweep; ``prior_lines`` are printed after
    the table."""
    targets = [
        t
        for t in state.find_targets(store.engine, sweep.id, base_url)
        if t.project == project and (entity is None or t.entity == entity)
    ]
    target = targets[-1] if targets else None
    done = state.run_outcomes(store.engine, target.id) if target else {}
    runs = []
    for check in checks:
        message = check.message
        if check.status != READY:
            outcome = check.status
        elif check.run.id in done and done[check.run.id].outcome == SYNCED:
            outcome = "already synced"
        elif check.run.id in on_server:
            outcome = WOULD_ATTACH
            message = "; ".join(m for m in (on_server[check.run.id], message) if m)
        else:
            outcome = "would sync"
        runs.append(run_sync(check, outcome, message))
    if prior_rows is not None:
        runs.extend(prior_rows(done))
    return SyncReport(
        sweep_id=sweep.id,
        entity=target.entity if target else entity,
        project=project,
        server_sweep=target.server_sweep_id if target else None,
        url=None,
        path=target.path if target else "sweep",
        created=False,
        finished_on_server=bool(target and target.finished),
        dry_run=True,
        runs=tuple(runs),
        prior_lines=tuple(prior_lines),
        nothing_to_upload=nothing_to_upload,
    )


def run_sync(check: RunCheck, outcome: str, message: str | None, attempts: int = 0) -> RunSync:
    """One run's line of the report."""
    return run_line(check.run, check.folder, outcome, message, attempts)


def run_line(
    run: RunRecord,
    folder: Path | None,
    outcome: str,
    message: str | None,
    attempts: int = 0,
    *,
    run_id: str | None = None,
    prior: bool = False,
) -> RunSync:
    """The report's line for ``run``, the sweep's own or (``prior``) a prior run, whose
    id on W&B may differ from its own (``run_id``)."""
    return RunSync(
        run_id=run_id or run.id,
        number=run.number,
        state=run.state.value,
        outcome=outcome,
        message=message,
        attempts=attempts,
        folder=str(folder) if folder else None,
        prior=prior,
    )


def unfinished_message(run_id: str, errors: Sequence[str]) -> str:
    """Why wandb sync left run ``run_id`` without its ``.synced`` marker: its own error
    lines if wandb named the run, else all of them."""
    mine = [_explained(e) for e in errors if run_id in e] or [_explained(e) for e in errors]
    return "wandb sync did not finish it" + (
        f": {'; '.join(sorted(set(mine)))[:300]}" if mine else ""
    )


#: What wandb's errors that carry no text of their own mean.
_MEANINGS = {
    "HandleAbandonedError": (
        "wandb-core, wandb's uploading process, stopped answering during the upload (it "
        "crashed or was killed; a retry starts a new one)"
    ),
}


def _explained(error: str) -> str:
    """``error`` as wandb printed it, or, when it is only an exception's name
    (``HandleAbandonedError:``), that name and what it means."""
    bare = _BARE_ERROR.fullmatch(error.strip())
    if bare is None:
        return error.strip()
    name = bare.group(1)
    return f"{name}: {_MEANINGS.get(name, 'wandb gave no reason')}"


_BARE_ERROR = re.compile(r"(?:ERROR\s+)?([A-Za-z_]\w*(?:Error|Exception)):?")
