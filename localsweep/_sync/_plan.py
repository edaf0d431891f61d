"""Find and check each run's offline folders before anything is uploaded.

A run's folders are looked for in the ``--wandb-dir`` folders (runs from other
machines, their ``wandb/`` folders collected in one place), where the agent recorded
it (and beside it), and in ``$WANDB_DIR/wandb`` (or ``./wandb``); a folder found in
several places is taken from the first. A run that was preempted and resumed has one
folder per attempt (wandb offline starts a new ``offline-run-<time>-<id>`` folder each
time ``wandb.init`` resumes it): all of them are checked and uploaded, oldest first,
as one run (see :mod:`._syncer`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from localsweep._sync._find import FolderIndex, find_run_folder, find_run_folders, search_roots
from localsweep.records import RunState
from localsweep.store import RunRecord

if TYPE_CHECKING:
    from localsweep.wandb_bridge._patch import RunFileScan

__all__ = [
    "LEFT",
    "SUPERSEDED",
    "WITHOUT_WANDB",
    "Attempt",
    "FolderIndex",
    "RunCheck",
    "check_run",
    "find_run_folder",
    "find_run_folders",
    "ran_without_wandb",
    "search_roots",
    "superseded_runs",
]

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
#: A resumed run whose folders wandb sync cannot join into one run.
SPLIT = "split"
#: A crashed or killed run whose grid point ran again and of which wandb recorded nothing
#: (stopped before it wrote its Run record): nothing to upload, and not a failure.
SUPERSEDED = "superseded"
#: A run that never started in wandb: it failed before ``wandb.init`` made its folder, or
#: its agent was killed before wandb wrote its Run record. Nothing to upload, ever, and
#: not a failure.
LEFT = "left"

#: The note of a run that finished without ever making a wandb run: a ``train(config)``
#: function (no wandb run is prepared for it), or code that never called ``wandb.init``.
#: Such a run is ``left``: nothing to upload, ever, and not a failure. The table says it
#: once for all of them (see :func:`ran_without_wandb`).
WITHOUT_WANDB = (
    "ran without wandb (train(config), or code that never called wandb.init): nothing to upload"
)

#: The states of a run that ended without finishing; one of these of which wandb
#: recorded nothing never started (a finished run must have written its records).
_NEVER_STARTED_STATES = (RunState.FAILED, RunState.CRASHED, RunState.KILLED)


@dataclass(frozen=True)
class Attempt:
    """One offline folder of a run: one attempt of a run that was preempted and resumed
    (or the only one). ``rows`` is the number of history rows in its run file, counted
    only for runs with several folders."""

    folder: Path
    run_file: Path
    scan: RunFileScan
    rows: int | None = None


@dataclass(frozen=True)
class RunCheck:
    """One run of the local sweep and what was found on disk for it.

    ``status`` is ``ready``, ``running``, ``missing``, ``corrupt``, ``foreign``, ``split``
    or ``superseded``;
    ``message`` says what is wrong or worth knowing (a run without an exit record is
    ready, and W&B will show it as failed). ``scan`` is what was read of a ready run's
    file, so that staging need not walk it again. ``folder``, ``run_file`` and ``scan``
    are the newest attempt's; ``attempts`` holds every folder of a ready run, oldest
    first (one for a run that was never resumed). ``superseded_by`` names the later run
    that ran a crashed or killed run's grid point again. ``unrecorded`` is true when
    wandb recorded nothing of the run (its folder holds no run file, or one without a
    Run record: it was stopped a moment after it started).
    """

    run: RunRecord
    status: str
    folder: Path | None = None
    run_file: Path | None = None
    project: str | None = None
    has_exit: bool = True
    message: str | None = None
    scan: RunFileScan | None = None
    attempts: tuple[Attempt, ...] = ()
    superseded_by: str | None = None
    unrecorded: bool = False


def superseded_runs(runs: Sequence[RunRecord]) -> dict[str, str]:
    """The crashed or killed runs whose grid point a later run of the sweep ran again,
    each with the first such run's id."""
    later: dict[str, str] = {}
    result: dict[str, str] = {}
    for run in sorted(runs, key=lambda r: r.number, reverse=True):
        if run.point_key is None:
            continue
        if run.state.gives_point_back and run.point_key in later:
            result[run.id] = later[run.point_key]
        later[run.point_key] = run.id
    return result


def check_run(
    run: RunRecord,
    sweep_id: str | None,
    roots: Sequence[Path],
    *,
    include_running: bool,
    index: FolderIndex | None = None,
    superseded_by: str | None = None,
    stored_rows: Callable[[str], int] | None = None,
) -> RunCheck:
    """Find ``run``'s folders and check their run files: each parses and records
    ``sweep_id``; a resumed run's folders can be joined by wandb sync (each later one
    resumes the run) and none of its attempts' folders is missing. ``index`` lists each
    searched folder once for many runs (``sweep_id`` ``None``: any sweep, or none, as for
    a prior run). ``superseded_by``: the run that ran this crashed
    or killed run's grid point again (said in the message). Such a run is uploaded as it
    is when it can be; one of which wandb recorded nothing is ``superseded``: left, with
    the reason, and not a failure (its point's result is the later run's); so is one
    that never started (it failed before ``wandb.init``, or wandb recorded nothing of it
    before it was stopped): ``left``. A run the store knows finished whose run file has
    no exit record is a copy cut short: ``corrupt`` (``stored_rows`` gives the store's
    row count of a run, for the message)."""
    checked = _check_folders(run, sweep_id, roots, include_running, index, stored_rows)
    if checked.unrecorded and _ended_by_itself(run):
        logged = stored_rows(run.id) if stored_rows is not None else 0
        if logged:
            # wandb recorded nothing here, yet the run logged rows and ended by itself
            # (wandb writes its file out as a run ends): this copy lost them.
            return replace(
                checked,
                status=CORRUPT,
                unrecorded=False,
                message=f"corrupt/incomplete copy: {checked.message}, but the store holds "
                f"{logged} row(s) this {run.state.value} run logged (the copy was cut "
                "short). Not uploaded: copy the run's folder again from the machine it ran "
                "on, whole, and sync again",
            )
    if checked.unrecorded and superseded_by is None:
        return _never_started(checked)
    if superseded_by is None:
        return _late_result(checked)
    ran_again = f"superseded: its grid point ran again as run {superseded_by}"
    uncounted = _uncounted_finish(checked)
    if uncounted is not None:
        # W&B would show the point's result twice, one of them never counted here.
        return replace(
            checked,
            status=SUPERSEDED,
            superseded_by=superseded_by,
            message=f"{ran_again}, whose result counts; {uncounted}. Not uploaded, so that "
            "W&B shows the point's result once (its rows stay in its folder and the "
            "store); not a failure",
        )
    if checked.status == READY:
        note = f"{ran_again}; uploaded as it is, W&B shows it as one more (failed) run of the sweep"
    elif checked.unrecorded:
        return replace(
            checked,
            status=SUPERSEDED,
            superseded_by=superseded_by,
            message=f"{checked.message}: wandb recorded nothing of it before it was stopped; "
            f"{ran_again}, whose result counts. Not uploaded (there is nothing to upload) "
            "and not a failure",
        )
    else:
        note = f"{ran_again}; not uploaded: {checked.status}"
    message = f"{checked.message}; {note}" if checked.message else note
    return replace(checked, message=message, superseded_by=superseded_by)


def _uncounted_finish(checked: RunCheck) -> str | None:
    """Why a run whose wandb file says it finished (exit code 0) has no result here, or
    ``None``: its agent was taken for dead (cut off from the database, suspended) while
    its training went on to the end, or its code ended the wandb run cleanly after the
    agent stopped it."""
    run = checked.run
    if checked.status != READY or checked.scan is None or checked.scan.exit_code != 0:
        return None
    said = "its wandb file says it finished (exit code 0), but"
    if run.state is RunState.CRASHED:
        why = run.end_reason or "crashed"
        return (
            f"{said} localsweep took it for dead ({why}) before it ended and does not "
            "count its late result"
        )
    if run.state is RunState.KILLED:
        why = run.end_reason or "killed"
        return (
            f"{said} localsweep stopped it ({why}) and does not count it: its code ended "
            "the wandb run cleanly after the stop"
        )
    return None


def _late_result(checked: RunCheck) -> RunCheck:
    """``checked``, with a note when its file says it finished but the store counts no
    result of it (W&B will show it finished, with that result)."""
    uncounted = _uncounted_finish(checked)
    if uncounted is None:
        return checked
    note = f"{uncounted}: W&B will show it finished, with that result"
    return replace(checked, message=f"{checked.message}; {note}" if checked.message else note)


def ran_without_wandb(check: RunCheck) -> bool:
    """Whether ``check`` is of a run that finished without ever making a wandb run."""
    return check.status == LEFT and check.message == WITHOUT_WANDB


def _ended_by_itself(run: RunRecord) -> bool:
    """Whether wandb wrote out the run's file as it ended: a run that failed by its own
    exit, not one killed by a signal (exit code 128 + N) or whose agent died: wandb keeps
    rows in memory (up to 15 s) that a kill loses, while the store had them at once."""
    code = run.exit_code if run.exit_code is not None else 1
    return run.state is RunState.FAILED and 0 < code < 128


def _never_started(checked: RunCheck) -> RunCheck:
    """A run of which wandb recorded nothing (and that no later run superseded): left, and
    not a failure, if it ended without finishing; still running, if it runs."""
    run = checked.run
    if run.state is RunState.RUNNING:
        return replace(
            checked,
            status=RUNNING,
            message=f"{checked.message}: wandb has not written its run record yet; sync "
            "again later",
        )
    if run.state not in _NEVER_STARTED_STATES:
        return checked
    error = f" ({run.error})" if run.error else ""
    return replace(
        checked,
        status=LEFT,
        message=f"never started: {checked.message}, wandb recorded nothing of this "
        f"{run.state.value} run{error}. Not uploaded (there is nothing to upload) and "
        "not a failure",
    )


def _check_folders(
    run: RunRecord,
    sweep_id: str | None,
    roots: Sequence[Path],
    include_running: bool,
    index: FolderIndex | None,
    stored_rows: Callable[[str], int] | None = None,
) -> RunCheck:
    from localsweep.wandb_bridge._logformat import CorruptFileError, find_run_file
    from localsweep.wandb_bridge._patch import scan_run_file
    from localsweep.wandb_bridge._wire import count_history_rows

    if run.state is RunState.RUNNING and not include_running:
        return RunCheck(run, RUNNING, message="still running here (--include-running uploads it)")
    folders = find_run_folders(run, roots, index)
    if not folders and run.dir is None and run.state is RunState.FINISHED:
        # A wandb run that finished records its folder (the agent reads it as the run
        # ends; a program that called wandb.init and left no folder is recorded failed):
        # this one never made a wandb run. One whose folder is gone records where it was.
        return RunCheck(run, LEFT, message=WITHOUT_WANDB)
    if not folders and run.dir is None and run.end_reason == "setup_error":
        # localsweep could not set it up (a full disk, the agent out of open files) before
        # it started: no run.
        return RunCheck(
            run,
            LEFT,
            message="never started: localsweep could not set it up (write its files, or start "
            "it: a full disk, the agent out of open files or memory, say), and its point is "
            "offered again. Nothing to upload, and not a failure",
        )
    if not folders and run.dir is None and run.state is RunState.FAILED:
        # The store records the folder wandb.init makes: it failed before wandb.init.
        return RunCheck(
            run,
            MISSING,
            message="it failed before wandb.init made its folder (the store records none)",
            unrecorded=True,
        )
    if not folders:
        where = ", ".join(str(r) for r in roots)
        return RunCheck(
            run,
            MISSING,
            message=f"no offline-run-*-{run.id} folder (looked in {where}); copy that "
            "machine's wandb/ folder here and pass it with --wandb-dir",
        )
    attempts: list[Attempt] = []
    run_files = {folder: find_run_file(folder) for folder in folders}
    if all(f is None for f in run_files.values()):
        return RunCheck(
            run,
            MISSING,
            folders[-1],
            message=f"{folders[-1]} holds no run-*.wandb file",
            unrecorded=len(folders) == 1,
        )
    for folder in folders:
        run_file = run_files[folder]
        if run_file is None:
            # wandb made the folder and wrote no run to it: a second wandb.init() that
            # handed back the open run (wandb's default reinit="return_previous") leaves
            # one with only logs/. Plain wandb sync skips it too; an attempt it was is
            # missed below (fewer folders than the run's attempts).
            continue
        try:
            info = scan_run_file(run_file)
            # Counted for a run of several attempts (the table says each one's rows).
            several = len(folders) > 1 or run.attempt > 1
            rows = count_history_rows(run_file) if several else None
        except CorruptFileError as exc:
            return RunCheck(run, CORRUPT, folder, run_file, message=str(exc))
        except OSError as exc:
            return RunCheck(
                run, CORRUPT, folder, run_file, message=f"cannot read {run_file}: {exc}"
            )
        if info.run_id is None:
            return RunCheck(
                run,
                CORRUPT,
                folder,
                run_file,
                message=f"{run_file} has no run record",
                unrecorded=len(folders) == 1,
            )
        foreign = [s for s in info.sweep_ids if sweep_id is not None and s != sweep_id]
        if foreign:
            return RunCheck(
                run,
                FOREIGN,
                folder,
                run_file,
                message=f"{run_file} records sweep {foreign[0]!r}, not {sweep_id!r}",
            )
        attempts.append(Attempt(folder, run_file, info, rows))
    # wandb sync orders the folders of one run by the start time their Run records hold.
    if all(a.scan.start_time is not None for a in attempts):
        attempts.sort(key=lambda a: (a.scan.start_time, a.folder.name))
    newest = attempts[-1]
    problem = _split_problem(run, attempts, stored_rows)
    if problem is not None:
        return RunCheck(run, *problem, attempts=tuple(attempts))
    has_exit = newest.scan.exit_code is not None
    if not has_exit and run.state is RunState.FINISHED:
        return _incomplete_copy(run, attempts, stored_rows)
    notes = []
    if len(attempts) < run.attempt:
        notes.append(_unlogged_attempts(run, attempts))
    if len(attempts) > 1:
        counts = [a.rows or 0 for a in attempts]
        notes.append(
            f"{len(attempts)} attempts ({' + '.join(map(str, counts))} = {sum(counts)} rows): "
            "uploaded oldest first as one run, each later one resuming it"
        )
    if not has_exit:
        notes.append("no exit record (the run was killed): W&B will mark it failed")
    return RunCheck(
        run,
        READY,
        newest.folder,
        newest.run_file,
        newest.scan.project,
        has_exit,
        "; ".join(notes) or None,
        newest.scan,
        tuple(attempts),
    )


def _incomplete_copy(
    run: RunRecord, attempts: Sequence[Attempt], stored_rows: Callable[[str], int] | None
) -> RunCheck:
    """A run the store knows finished whose run file has no exit record: the file was
    cut short (a copy interrupted, or made while the run ran). Uploaded, it would reach
    W&B as a killed run with rows missing: refused instead, with the fix."""
    from localsweep.wandb_bridge._logformat import CorruptFileError
    from localsweep.wandb_bridge._wire import count_history_rows

    newest = attempts[-1]
    try:
        rows = sum(count_history_rows(a.run_file) for a in attempts)
        held = f" holds {rows} history row(s)"
    except (OSError, CorruptFileError):
        held = ""
    if stored_rows is not None:
        held += f" of the {stored_rows(run.id)} the store has"
    return RunCheck(
        run,
        CORRUPT,
        newest.folder,
        newest.run_file,
        newest.scan.project,
        False,
        f"corrupt/incomplete copy: {newest.folder} is cut short: the store says the run "
        f"finished (exit code {run.exit_code}), but its run file{held} and has no exit "
        "record (copied while the run ran, or the copy was interrupted; or, in its own "
        "folder, the disk filled up while the run ran, and wandb could not write the rest: "
        "that folder cannot be repaired). Not uploaded: copy the run's folder again from "
        "the machine it ran on, whole, and sync again",
    )


def _recorded_folder(run: RunRecord) -> str:
    """Which folder holds the run as the store has it, for a choice between folders."""
    if not run.dir:
        return ""
    return (
        f". The run as localsweep recorded it (its rows, its metric) is {Path(run.dir).name}: "
        "keep that one for W&B to show the same run"
    )


def _unlogged_attempts(run: RunRecord, attempts: Sequence[Attempt]) -> str:
    gone = run.attempt - len(attempts)
    return (
        f"ran in {run.attempt} attempts; {gone} of them ended before wandb.init made a folder "
        f"and logged nothing (the store holds no row of them): uploaded from its "
        f"{len(attempts)} folder(s)"
    )


def _split_problem(
    run: RunRecord,
    attempts: Sequence[Attempt],
    stored_rows: Callable[[str], int] | None = None,
) -> tuple[str, Path, Path, str | None, bool, str] | None:
    """Why the folders of a resumed run cannot be uploaded as one run, or ``None``:
    (status, folder, run file, project, has exit, message). Fewer folders than attempts
    are whole when they hold every row the store has (``stored_rows``): the others ended
    before ``wandb.init`` made a folder (a preemption while the program imported its
    libraries) and logged nothing."""
    newest = attempts[-1]
    rows = sum(a.rows or 0 for a in attempts)
    expected = max(run.attempt, 1)
    if len(attempts) < expected and not (
        stored_rows is not None
        and all(a.rows is not None for a in attempts)
        and rows == stored_rows(run.id)
    ):
        return (
            MISSING,
            newest.folder,
            newest.run_file,
            newest.scan.project,
            newest.scan.exit_code is not None,
            f"ran in {expected} attempts but only {len(attempts)} folder(s) were found "
            f"({rows} rows): not uploaded, as W&B could not take the missing "
            "attempt's rows in the middle later; copy the wandb/ folders of the machines "
            "its other attempts ran on here and pass them with --wandb-dir",
        )
    unresumed = [a for a in attempts[1:] if not a.scan.resume]
    if unresumed:
        names = ", ".join(a.folder.name for a in unresumed)
        return (
            SPLIT,
            newest.folder,
            newest.run_file,
            newest.scan.project,
            newest.scan.exit_code is not None,
            f"{len(attempts)} folders ({rows} rows), but the later one(s) {names} were not "
            "started with resume, so wandb sync would upload them over the run's first "
            f"rows instead of after them: not uploaded ({len(attempts)} folders, {rows} "
            "rows). Move the folder(s) you do not want out of the wandb folder and run "
            "localsweep sync again (plain wandb sync cannot upload a local sweep's run)"
            + _recorded_folder(run),
        )
    return None
