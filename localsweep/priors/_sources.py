"""Where prior runs come from: turn each ``--prior-runs`` source into candidate runs.

A source is, tried in this order:

1. ``DB#ID``: a sweep id or run id in another localsweep database (a file path or any
   SQLAlchemy URL, as ``--db`` takes it);
2. an existing path: a wandb run folder (``wandb/offline-run-...``), a folder holding run
   folders (``./wandb``), a ``run-<id>.wandb`` file, or a CSV/JSON runs table;
3. a glob (``wandb/offline-run-*``), each match read as in 2;
4. a sweep id or run id in this database (wandb's ``entity/project/`` prefix allowed);
5. a wandb run id (as ``wandb sweep -R`` takes one): its run folder, ``*run-*-<id>`` in
   ``$WANDB_DIR/wandb`` or ``./wandb``.

Anything else is an error that says what a source may be.
"""

from __future__ import annotations

import contextlib
import contextvars
import glob
import logging
import os
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localsweep.errors import NotFoundError, PriorRunsError, StoreError, Violation
from localsweep.priors._attempts import join_attempts
from localsweep.priors._match import PriorCandidate
from localsweep.priors._tables import TABLE_SUFFIXES, read_table

if TYPE_CHECKING:
    from localsweep.store import RunRecord, Store

__all__ = ["SourceRuns", "read_source"]

logger = logging.getLogger(__name__)

_WHAT_A_SOURCE_IS = (
    "a prior run source is a run id or sweep id of this database, DB#ID for another "
    "database, a wandb run folder or a glob of them (wandb/offline-run-*), or a CSV/JSON "
    "runs table"
)


@dataclass(frozen=True)
class SourceRuns:
    """What one source gave: its name as given, what it is in words, and its runs."""

    source: str
    kind: str
    candidates: tuple[PriorCandidate, ...]


class _Unreadable(PriorRunsError):
    """Some matches of a glob cannot be read: ``partial`` holds what the others gave."""

    def __init__(self, violations: list[Violation], partial: SourceRuns):
        super().__init__(violations)
        self.partial = partial


def shown_url(url: str) -> str:
    """``url`` with its password masked (see :func:`localsweep.store._urls.shown_url`),
    imported when needed: the store pulls in SQLAlchemy, which `--help` must not load."""
    from localsweep.store._urls import shown_url as masked

    return masked(url)


def _error(source: str, message: str) -> PriorRunsError:
    return PriorRunsError([Violation("prior_runs", f"{shown_url(source)!r}: {message}")])


def read_source(source: str | os.PathLike[str], store: Store | None) -> SourceRuns:
    """The runs of one source (see the module docstring); ``store`` is this database."""
    if not isinstance(source, (str, os.PathLike)):
        raise PriorRunsError(
            [
                Violation(
                    "prior_runs",
                    f"{source!r} is no source: give each as a string or a path; "
                    + _WHAT_A_SOURCE_IS,
                )
            ]
        )
    text = os.fspath(source)
    if not text.strip():
        raise _error(text, f"is empty; {_WHAT_A_SOURCE_IS}")
    if "#" in text:
        db, _, ident = text.rpartition("#")
        if db and "://" not in db:
            db = os.path.expanduser(db)  # as --db takes it
        if db and ident and ("://" in db or Path(db).is_file()):
            return _from_other_database(text, db, ident)
        if db and ident and not Path(text).exists() and not glob.has_magic(text):
            raise _error(text, f"no database file {db} (DB#ID names a run or sweep in DB)")
    path = Path(text).expanduser()
    if path.exists():
        kind, candidates = _from_path(path)
        return SourceRuns(text, kind, tuple(candidates))
    if glob.has_magic(text):
        matches = _distinct(glob.glob(os.path.expanduser(text)))
        if not matches:
            raise _error(text, "matches no file or folder")
        found: list[PriorCandidate] = []
        problems: list[Violation] = []
        used = 0
        for match in matches:
            path = Path(match)
            if len(matches) > 1 and not _may_hold_runs(path):
                # `wandb/*` matches wandb's logs and settings beside the run folders.
                logger.debug("prior runs: %s is no run folder or table: left out", path)
                continue
            used += 1
            try:
                # One match among many is not named on its own: a damaged one is skipped.
                # Unjoined: a run's attempts (or copies of one) may come from two matches.
                found.extend(_from_path(path, alone=len(matches) == 1, join=False)[1])
            except PriorRunsError as exc:  # every bad table of the glob, not the first
                problems.extend(exc.violations)
        if problems:
            # The tables that could be read are checked too, so that every problem of
            # the glob is said at once; none of its runs is taken.
            raise _Unreadable(problems, SourceRuns(text, "glob", tuple(found)))
        if not used:
            raise _error(
                text, "matches no wandb run folder, run file or runs table; " + _WHAT_A_SOURCE_IS
            )
        paths = f"{used} path" + ("s" if used != 1 else "")
        return SourceRuns(text, paths, tuple(join_attempts(found)))
    if store is None:
        if (found_folders := _wandb_run_folders(text)) is not None:
            return found_folders
        raise _error(
            text,
            "no such file or folder, and no database yet to look it up in as a run or "
            f"sweep id, nor a wandb run folder of that id ({_run_folders_looked_in(text)}) "
            "(a sweep of another database is DB#ID: other.db#SWEEP_ID); " + _WHAT_A_SOURCE_IS,
        )
    return _from_database(text, store, text.rsplit("/", 1)[-1], label=None)


def _wandb_run_folders(text: str) -> SourceRuns | None:
    """The runs of wandb's run folders for the run id ``text`` (``E/P/`` allowed), as
    ``wandb sweep -R ID`` means it: ``*run-*-ID`` in the folder wandb writes runs to,
    ``$WANDB_DIR/wandb``, or ``./wandb`` (every attempt of a resumed run, as one run);
    ``None`` when there is none (or ``text`` is no run id)."""
    ident = text.rsplit("/", 1)[-1]
    if not ident or not all(c.isalnum() or c in "_-" for c in ident):
        return None
    for base in _run_folder_bases():
        folders = sorted(p for p in base.glob(f"*run-*-{ident}") if p.is_dir())
        if folders:
            runs = [c for folder in folders for c in _from_path(folder)[1]]
            where = folders[-1] if len(folders) == 1 else base / f"*run-*-{ident}"
            kind = f"wandb run folder {where}, by its run id: not in this database"
            return SourceRuns(text, kind, tuple(join_attempts(runs)))
    return None


def _run_folder_bases() -> list[Path]:
    """Where wandb writes run folders: ``$WANDB_DIR/wandb``, then ``./wandb``."""
    bases = [Path("wandb")]
    if os.environ.get("WANDB_DIR"):
        bases.insert(0, Path(os.environ["WANDB_DIR"]).expanduser() / "wandb")
    return bases


def _run_folders_looked_in(text: str) -> str:
    """Where :func:`_wandb_run_folders` looked for ``text``'s folder, for a message."""
    ident = text.rsplit("/", 1)[-1]
    places = " or ".join(str((base / f"*run-*-{ident}").absolute()) for base in _run_folder_bases())
    hint = "" if os.environ.get("WANDB_DIR") else "; set WANDB_DIR if the runs went elsewhere"
    return f"looked for {places}{hint}"


def _distinct(matches: list[str]) -> list[str]:
    """A glob's matches in order, each file or folder once: wandb's ``latest-run`` link
    beside the run folder it points to (``-R 'wandb/*'``) would read that run twice, as a
    run with an earlier attempt of the same rows. Links come last, so the real path is
    the one kept."""
    seen: set[Path] = set()
    kept = []
    for match in sorted(matches, key=lambda m: (Path(m).is_symlink(), m)):
        real = Path(match).resolve()
        if real not in seen:
            seen.add(real)
            kept.append(match)
    return sorted(kept)


# --------------------------------------------------------------------------- files


def _may_hold_runs(path: Path) -> bool:
    """Whether a glob's match is worth reading: a runs table, a run file, or a folder with
    a run file in it or in a run folder below (not wandb's ``debug.log``, ``settings``,
    ``logs/``)."""
    from localsweep.wandb_bridge import find_run_file

    if path.is_file():
        return path.suffix.lower() in (*TABLE_SUFFIXES, ".wandb") or _is_sqlite(path)
    if not path.is_dir():
        return False
    if find_run_file(path) is not None:
        return True
    return any(p.is_dir() and find_run_file(p) is not None for p in path.glob("*run-*"))


def _from_path(
    path: Path, *, alone: bool = True, join: bool = True
) -> tuple[str, list[PriorCandidate]]:
    """The runs ``path`` holds, and what it is in words. ``join=False`` leaves a resumed
    run's attempts apart (the caller joins them with the other matches of its glob)."""
    if not path.is_file() and not path.is_dir():
        # A named pipe, a device (/dev/null), a socket: nothing a run can be read from,
        # and reading a pipe would wait for a writer.
        raise _error(
            str(path),
            f"is {_special_kind(path)}, not a file or folder localsweep can read runs from; "
            + _WHAT_A_SOURCE_IS,
        )
    if path.is_file():
        if path.suffix.lower() in TABLE_SUFFIXES:
            return read_table(path)
        if path.suffix == ".wandb":
            return "wandb run file", [_from_run_file(path, path.parent, alone=alone, name=path)]
        if _is_sqlite(path):
            raise _error(
                str(path),
                f"is a database: name the sweep (or run) to take from it as {path}#SWEEP_ID "
                "(`localsweep ls --db " + str(path) + "` lists its sweeps)",
            )
        raise _error(
            str(path), f"is not a .wandb run file or a CSV/JSON table; {_WHAT_A_SOURCE_IS}"
        )
    from localsweep.wandb_bridge import find_run_file

    run_file = find_run_file(path)
    if run_file is not None:
        return "wandb run folder", [_from_run_file(run_file, path, alone=alone)]
    folders = sorted(p for p in path.glob("*run-*") if p.is_dir() and find_run_file(p) is not None)
    if not folders and (path / "wandb").is_dir():
        # A project folder: its runs are in ./wandb, where wandb writes them.
        try:
            kind, runs = _from_path(path / "wandb", alone=alone, join=join)
        except PriorRunsError:
            pass
        else:
            return f"{kind} in {path / 'wandb'}", runs
    if not folders:
        raise _error(str(path), "is a folder without wandb runs (no run-<id>.wandb in it or below)")
    runs = []
    for folder in folders:
        run_file = find_run_file(folder)
        assert run_file is not None
        runs.append(_from_run_file(run_file, folder))
    kind = f"{len(folders)} wandb run folder" + ("s" if len(folders) != 1 else "")
    return kind, join_attempts(runs) if join else runs


def _special_kind(path: Path) -> str:
    """What a path that is neither file nor folder is, in words."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return "a link to nothing" if path.is_symlink() else "not readable"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def _is_sqlite(path: Path) -> bool:
    from localsweep.store import sqlite_head  # the store (SQLAlchemy) only when asked

    return bool(sqlite_head(path))


#: A run file written this recently (seconds) without an exit record may be a run that has
#: just finished: its exit record is waited for, this long at most.
_JUST_WRITTEN = 10.0
_EXIT_RECORD_WAIT = 3.0

#: When the waits for exit records of one reading of sources end (``time.monotonic()``):
#: they share :data:`_EXIT_RECORD_WAIT`, so a folder of live or freshly killed runs,
#: whose exit records never come, costs 3 s in all, not 3 s a run.
_wait_until: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "_wait_until", default=None
)


@contextlib.contextmanager
def shared_exit_record_wait() -> Iterator[None]:
    """Within this block, every wait for a just-written run file's exit record comes out
    of one budget of :data:`_EXIT_RECORD_WAIT` seconds."""
    token = _wait_until.set(time.monotonic() + _EXIT_RECORD_WAIT)
    try:
        yield
    finally:
        _wait_until.reset(token)


def _exit_record_wait() -> float:
    until = _wait_until.get()
    return _EXIT_RECORD_WAIT if until is None else max(0.0, until - time.monotonic())


def _from_run_file(
    run_file: Path, folder: Path, *, alone: bool = False, name: Path | None = None
) -> PriorCandidate:
    """The run of ``run_file``. One that cannot be read is skipped with the reason, unless
    it was named on its own (``alone``): then it is an error, as in a folder of runs or a
    glob only that run is lost and the others are taken. ``name``: what the source named
    (the run file itself), else its folder names it."""
    from localsweep.wandb_bridge import CorruptFileError, read_run_file, wait_for_exit_record

    label = str(name if name is not None else folder)
    try:
        run = read_run_file(run_file)
    except (CorruptFileError, OSError) as exc:
        if alone:
            raise _error(label, f"cannot read its run file ({exc})") from exc
        return PriorCandidate(source=label, problem=f"cannot read its run file ({exc})")
    wait = _exit_record_wait()
    if not run.finished and wait > 0 and time.time() - run_file.stat().st_mtime < _JUST_WRITTEN:
        # A run that has just finished: run.finish() returns a few milliseconds before
        # wandb-core writes its exit record (a prior run read right after its sweep).
        logger.debug("prior run %s: waiting up to %.1f s for its exit record", run_file, wait)
        with contextlib.suppress(TimeoutError, CorruptFileError, OSError):
            wait_for_exit_record(run_file, timeout=wait)
            run = read_run_file(run_file)
    run_id = run.run_id or folder.name.rsplit("-", 1)[-1]
    mtime = datetime.fromtimestamp(run_file.stat().st_mtime, timezone.utc).replace(tzinfo=None)
    started = _history_time(run.history[0]) if run.history else None
    if not run.finished:
        return PriorCandidate(
            source=label,
            run_id=run_id,
            problem=_unfinished(run_file),
            history=run.history,  # the rows of an attempt that a resumed one continued
            created_at=started or mtime,
            dir=str(folder.resolve()),
        )
    state = "finished" if run.exit_code == 0 else "failed"
    hint = None
    if state == "failed" and run.sweep_id and run.sweep_id.startswith("ls-"):
        # A run a stopping rule ended exits non-zero too; only its sweep's database knows.
        hint = (
            f"it ran in sweep {run.sweep_id}: if hyperband or a plateau stopped it, take it "
            f"from that sweep's database, which knows (--prior-runs DB#{run.sweep_id})"
        )
    return PriorCandidate(
        source=label,
        run_id=run_id,
        name=run.name or run_id,
        state=state,
        config=run.config,
        # As the agent keeps a program-mode run's summary: without wandb's bookkeeping.
        summary={k: v for k, v in run.summary.items() if k != "_wandb"},
        history=run.history,
        created_at=started or mtime,
        finished_at=mtime,
        # Absolute: read later from anywhere (Run.dir, Run.config, sync), it is the same.
        dir=str(folder.resolve()),
        state_hint=hint,
    )


def _unfinished(run_file: Path) -> str:
    """Why a run file without an exit record gives no run: it is empty, or ends part-way
    through a record (cut short: a copy or a full disk; wandb writes whole records, so a
    killed run's file ends at one), or its run is still running or was killed."""
    from localsweep.wandb_bridge import CorruptFileError, RecordReader

    size = run_file.stat().st_size
    if size == 0:
        return f"its run file {run_file.name} is empty (0 bytes): it holds no run"
    try:
        with RecordReader(run_file) as reader:
            while reader.read_new():
                pass
            read = reader.offset
    except (CorruptFileError, OSError):
        read = size
    if read < size:
        return (
            f"its run file {run_file.name} ends part-way through a record, without an exit "
            "record: it is truncated or incomplete (cut short by a copy or a full disk, its "
            "process killed mid-write, or the run still writing it)"
        )
    return "has no exit record: the run is still running, or its process was killed"


def _history_time(row: dict[str, Any]) -> datetime | None:
    stamp = row.get("_timestamp")
    if not isinstance(stamp, (int, float)):
        return None
    return datetime.fromtimestamp(stamp, timezone.utc).replace(tzinfo=None)


# ------------------------------------------------------------------------ databases


def _from_other_database(text: str, db: str, ident: str) -> SourceRuns:
    from localsweep.store import Store
    from localsweep.store._damage import CHECK_DB_SETTING

    try:
        other = Store(db, create=False)
    except StoreError as exc:
        # The store words it for --db; here the database is the one the source names.
        said = str(exc).replace(CHECK_DB_SETTING, "check the database named before '#'")
        raise _error(text, f"cannot open the database {shown_url(db)}: {said}") from exc
    try:
        # The label is stored with each prior run (its source): never the password.
        return _from_database(text, other, ident, label=other.shown_url)
    finally:
        other.close()


def _from_database(text: str, store: Store, ident: str, label: str | None) -> SourceRuns:
    where = f" in {label}" if label else ""
    try:
        sweep = store.get_sweep(ident)
    except NotFoundError:
        pass
    else:
        records = store.list_runs(sweep.id)
        runs = tuple(
            _from_record(store, r, f"run {r.id} of sweep {sweep.id}{where}") for r in records
        )
        return SourceRuns(shown_url(text), f"sweep {sweep.id}{where}", runs)
    try:
        record = store.get_run(ident)
    except NotFoundError:
        if label is not None:
            raise _error(text, f"no sweep or run {ident!r} in {label}") from None
        if (found_folders := _wandb_run_folders(text)) is not None:
            return found_folders
        raise _error(
            text,
            f"no file or folder {text!r}, no sweep or run {ident!r} in {store.shown_url}, nor "
            f"a wandb run folder of that id ({_run_folders_looked_in(text)}) (a sweep of "
            "another database is DB#ID: other.db#SWEEP_ID); " + _WHAT_A_SOURCE_IS,
        ) from None
    label = f"run {record.id}{where}"
    return SourceRuns(shown_url(text), label, (_from_record(store, record, label),))


def _from_record(store: Store, record: RunRecord, label: str) -> PriorCandidate:
    history = store.history(record.id)
    return PriorCandidate(
        source=record.prior_source if record.prior and record.prior_source else label,
        run_id=record.prior_run_id or record.id,
        # The name the run has in its database (``Run.name``): an offline run has none
        # stored and is ``run-<number>`` there, as an export of it writes it; the prior
        # run would be named by its id instead.
        name=record.name or f"run-{record.number}",
        state=record.state.value,
        config=record.config,
        summary=record.summary,
        history=history,
        created_at=record.created_at,
        finished_at=record.finished_at,
        stopped_at_band=record.stopped_at_band,
        dir=record.dir,
    )
