"""A resumed run's attempts, read from a glob or a folder of runs: a folder per attempt
(``offline-run-<start>-<id>``) joined into one run; the same attempt reached twice (a
copy of its folder, a link to it) counted once."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from localsweep.priors._match import PriorCandidate

__all__ = ["join_attempts"]


def join_attempts(candidates: list[PriorCandidate]) -> list[PriorCandidate]:
    """One run resumed (``wandb.init(id=..., resume=...)``, or a preempted sweep run) has
    a folder per attempt: they are one run, whose history is every attempt's rows, oldest
    first, and whose end is the last attempt's (an attempt that was killed has no exit
    record, and is no run of its own). Other candidates pass unchanged, in order. The
    same attempt reached twice (a copy of its folder, a link to it) counts once: see
    :func:`_drop_copies`."""
    candidates = _drop_copies(candidates)
    by_id: dict[str, list[PriorCandidate]] = {}
    for c in candidates:
        if c.run_id is not None and c.dir is not None:
            by_id.setdefault(c.run_id, []).append(c)
    out: list[PriorCandidate] = []
    for c in candidates:
        attempts = by_id.get(c.run_id or "", [])
        if len(attempts) < 2:
            out.append(c)
            continue
        if c is not attempts[0]:
            continue  # joined into the first one's place
        # Folders are named offline-run-<start time>-<id>: by name is by start.
        ordered = sorted(attempts, key=lambda a: Path(a.dir or "").name)
        last = ordered[-1]
        history = [row for a in ordered for row in a.history]
        out.append(
            replace(
                last,
                history=history,
                created_at=ordered[0].created_at or last.created_at,
                source=f"{last.source} (with {len(ordered) - 1} earlier attempt"
                + ("s" if len(ordered) > 2 else "")
                + ")",
            )
        )
    return out


def _drop_copies(candidates: list[PriorCandidate]) -> list[PriorCandidate]:
    """``candidates`` with each attempt once: folders of one run id that are the same
    folder (through a link, ``src/linkback -> src``), or that share their name, which is
    the attempt's start to the second and its id (``offline-run-<time>-<id>``: a backup
    copy beside ``wandb/``) and start at the same logged time, are one attempt, not one
    resumed. One is kept (:func:`_keep_first`); the others are skipped, the reason naming
    it."""
    groups: dict[tuple[str, str], list[PriorCandidate]] = {}
    for c in candidates:
        if c.run_id is not None and c.dir is not None:
            groups.setdefault((c.run_id, Path(c.dir).name), []).append(c)
    copies: dict[int, str] = {}  # id() of a copy: why it is left out
    for group in groups.values():
        while len(group) > 1:
            kept = min(group, key=_keep_first)
            for c in group:
                if c is kept or not _same_attempt(c, kept):
                    continue
                if c.dir == kept.dir:
                    copies[id(c)] = f"is the run folder {kept.source} again, through a link"
                else:
                    copies[id(c)] = f"is a copy of the run folder {kept.source} (same name, start)"
                copies[id(c)] += ": taken once"
            group = [c for c in group if c is not kept and id(c) not in copies]
    return [
        # No run id: matching would otherwise call it "the same run" as the joined one.
        PriorCandidate(source=c.source, problem=copies[id(c)]) if id(c) in copies else c
        for c in candidates
    ]


def _same_attempt(a: PriorCandidate, b: PriorCandidate) -> bool:
    """Whether two folders of one name and run id are one attempt: the same real folder,
    or rows that start at the same time (a folder without rows has nothing to double)."""
    if a.dir == b.dir or not a.history or not b.history:
        return True
    return a.history[0].get("_timestamp") == b.history[0].get("_timestamp")


def _keep_first(c: PriorCandidate) -> tuple[bool, int, bool, bool]:
    """Which of one attempt's folders is kept: finished, the most rows, reached without a
    link (its path is its real one), in a ``wandb`` folder (where wandb wrote it, not a
    backup); ``min`` keeps the first of equals."""
    linked = os.path.realpath(c.source) != os.path.abspath(c.source)
    in_wandb = Path(c.dir or "").parent.name == "wandb"
    return c.problem is not None, -len(c.history), linked, not in_wandb
