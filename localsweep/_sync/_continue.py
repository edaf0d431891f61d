"""Going on with a run that a failed ``wandb sync`` had begun, without sending a row twice.

A ``wandb sync`` that fails or is stopped (a crash, ``--upload-timeout``, Ctrl-C) while
a run is in flight leaves the server with the run's first rows, and no ``.synced``
marker. Sent again whole, the run would reach W&B with those rows twice: wandb-core
writes a run's history at the line count the server answers (``historyLineCount``,
which sets the file_stream offset: ``lockedUpdateFromUpsert`` in wandb-core's
``core/internal/runupserter/runupserter.go`` for a folder whose ``wandb.init`` was not
told to resume, ``processResponse`` in ``core/internal/runbranch/resume.go`` for one
that was), so its first row lands after the rows the server has.

So, before a run such a sync may have begun is sent again, :func:`ask_history` asks the
server how many history lines it holds of it, with the query wandb-core asks before
resuming a run (``RunResumeStatus``), and :func:`continue_copy` stages the copy of the
attempt that was in flight without the rows the server holds: the server's lines count
the rows of the whole run, and the attempts whose ``.synced`` marker exists were sent
whole. The rows left keep their ``_step`` (a History record carries its own; wandb-core
sends it as recorded: ``core/internal/filestream/updatehistory.go``), so they land on the
server right after its rows, with the steps the store holds. The run's summary, config,
console output, files and exit code are sent again (the server keeps the last summary
and config; console lines and files are written at their offset or under their name,
so they are not doubled).

The cut is made only when the server's answer fits the run: it has no more lines than
the run's rows, and its last row's ``_step`` is that of the run's row at that line.
Otherwise (no answer, a query that fails, an answer that does not fit) the run is sent
whole as before, and its row says that W&B may hold rows twice (:data:`RETRIED`).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localsweep._sync._copies import attempts_of
from localsweep._sync._plan import RunCheck
from localsweep._sync._report import FAILED
from localsweep._sync._stage import StagedRun
from localsweep.store import _sync_state as state

__all__ = [
    "RETRIED",
    "HeldRows",
    "Resend",
    "ask_history",
    "continue_copy",
    "continued_note",
]

logger = logging.getLogger(__name__)

#: The query wandb-core asks before it resumes a run (its
#: ``core/api/graphql/query_run_resume_status.graphql``), trimmed to what is read here.
_QUERY = """
query RunResumeStatus($project: String, $entity: String, $name: String!) {
  model(name: $project, entityName: $entity) {
    bucket(name: $name, missingOk: true) {
      name
      historyLineCount
      historyTail
    }
  }
}
"""

RETRIED = (
    "uploaded on a retry, after a wandb sync that failed while it held this run: if that "
    "one had sent some of its rows, W&B holds them twice (the server's count of them could "
    "not be had, so the run was sent again from its first row, as wandb's own sync does "
    "after a failed upload); compare the run's steps on W&B with `localsweep show`"
)


def continued_note(lines: int) -> str:
    """The row's note for a run sent on after the ``lines`` rows the server held."""
    return (
        f"continued after the {lines} row(s) a failed wandb sync had sent (the server's "
        "history line count): each row is on W&B once"
    )


@dataclass(frozen=True)
class HeldRows:
    """What the server holds of a run's history: ``lines`` rows, the last of which has
    ``last_step`` as its ``_step`` (``None`` when the server did not say)."""

    lines: int
    last_step: int | None


def ask_history(
    entity: str,
    project: str,
    run_ids: Sequence[str],
    *,
    workdir: Path,
    timeout: float,
) -> dict[str, HeldRows]:
    """Ask the server (``WANDB_BASE_URL`` and the API key, as ``wandb sync`` uses them)
    what history it holds of each of ``run_ids`` in ``entity/project``, through wandb's
    own client in a child process (this one never imports wandb). A run the server does
    not have holds no rows; a run left out of the answer could not be asked about (the
    query failed, or the child did)."""
    from localsweep.wandb_bridge._server import sync_env

    request = {"entity": entity, "project": project, "runs": list(run_ids), "timeout": timeout}
    try:
        workdir.mkdir(parents=True, exist_ok=True)  # wandb's logs go there
        done = subprocess.run(
            [sys.executable, "-m", "localsweep._sync._continue"],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            env=sync_env({"WANDB_SILENT": "true", "WANDB_DIR": str(workdir)}),
            cwd=workdir,
            # wandb's start and login, then one answer per run: a bound, not a wait.
            timeout=60.0 + timeout * (1 + len(run_ids)),
            check=False,
        )
        lines = done.stdout.strip().splitlines()
        answers: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    except (OSError, subprocess.SubprocessError, ValueError) as exc:
        logger.warning("could not ask the server for runs' history: %s", exc)
        return {}
    if done.returncode != 0:
        logger.warning("could not ask the server for runs' history: %s", done.stderr[-500:])
    return {
        run_id: HeldRows(int(held["lines"]), held.get("last_step"))
        for run_id, held in answers.items()
        if isinstance(held, dict) and isinstance(held.get("lines"), int)
    }


def _child() -> None:
    """``python -m localsweep._sync._continue``: one JSON request on stdin, one JSON line
    of answers on stdout (see :func:`ask_history`)."""
    import wandb

    request = json.loads(sys.stdin.read())
    timeout = float(request["timeout"])
    api = wandb.Api(timeout=int(max(timeout, 1)))
    answers: dict[str, dict[str, Any]] = {}
    for run_id in request["runs"]:
        try:
            data: Any = api._service_api.execute_graphql(
                _QUERY,
                variables={
                    "entity": request["entity"],
                    "project": request["project"],
                    "name": run_id,
                },
                timeout=timeout,
            )
        except Exception as exc:  # this run's count is not known: sent as before
            print(f"{run_id}: {type(exc).__name__}: {exc}", file=sys.stderr)
            continue
        model = (data or {}).get("model")
        if not isinstance(model, dict):
            continue  # no answer about the project: not known
        bucket = model.get("bucket")
        if bucket is None:
            answers[run_id] = {"lines": 0, "last_step": None}  # the server has no such run
            continue
        lines = bucket.get("historyLineCount")
        if isinstance(lines, int):
            answers[run_id] = {"lines": lines, "last_step": _last_step(bucket.get("historyTail"))}
    sys.stdout.write(json.dumps(answers) + "\n")
    sys.stdout.flush()
    os._exit(0)  # wandb's shutdown takes a second and has nothing to do


def _last_step(tail: Any) -> int | None:
    """The ``_step`` of the last row of a ``historyTail`` (a JSON list of JSON rows, as
    wandb-core's ``processHistory`` reads it)."""
    try:
        rows = json.loads(tail) if isinstance(tail, str) else None
        last = json.loads(rows[-1]) if rows else None
        step = last.get("_step") if isinstance(last, dict) else None
    except (ValueError, TypeError):
        return None
    return int(step) if isinstance(step, int | float) else None


def _history_steps(run_file: Path) -> list[int | None]:
    """The ``_step`` of each History record of ``run_file``, in order."""
    from localsweep.wandb_bridge._records import Record
    from localsweep.wandb_bridge._writer import read_raw_records

    steps: list[int | None] = []
    for data in read_raw_records(run_file):
        record = Record()
        record.ParseFromString(data)
        if record.WhichOneof("record_type") != "history":
            continue
        step = None
        for item in record.history.item:
            key = item.key or ".".join(item.nested_key)
            if key == "_step":
                step = int(json.loads(item.value_json))
        if step is None and record.history.HasField("step"):
            step = record.history.step.num
        steps.append(step)
    return steps


def continue_copy(
    originals: Sequence[Path], copies: Sequence[StagedRun], held: HeldRows
) -> int | None:
    """Make the staged ``copies`` of a run's attempts (oldest first, with the
    ``originals`` run files they were made from) send only the rows after the ``held``
    ones: the copy of the first attempt not sent whole (no ``.synced`` marker) loses
    its first rows, as many as the server holds beyond the attempts sent whole. Returns
    how many rows of that attempt were left out (``0``: none to leave), or ``None``
    when the server's answer does not fit the run (the copies are left whole). Raises
    :class:`~localsweep.wandb_bridge._logformat.CorruptFileError` if the copy does not
    read back as written."""
    sent = 0
    for original, copy in zip(originals, copies, strict=True):
        if copy.synced:
            sent += len(_history_steps(original))
            continue
        skip = held.lines - sent
        if skip == 0:
            return 0
        steps = _history_steps(original)
        if skip < 0 or skip > len(steps) or steps[skip - 1] != held.last_step:
            logger.warning(
                "the server holds %d history line(s) of %s (last step %s), which do not fit "
                "its run files: sending it whole",
                held.lines,
                original,
                held.last_step,
            )
            return None
        _drop_history(copy.run_file, skip)
        return skip
    return 0


def _drop_history(run_file: Path, skip: int) -> None:
    """Rewrite ``run_file`` (a staged copy) without its first ``skip`` History records,
    every other record as it is, and read it back."""
    from localsweep.wandb_bridge._logformat import CorruptFileError
    from localsweep.wandb_bridge._records import Record
    from localsweep.wandb_bridge._writer import RecordWriter, read_raw_records

    kept: list[bytes] = []
    left = skip
    for data in read_raw_records(run_file):
        if left:
            record = Record()
            record.ParseFromString(data)
            if record.WhichOneof("record_type") == "history":
                left -= 1
                continue
        kept.append(data)
    partial = run_file.with_name(run_file.name + ".part")
    partial.unlink(missing_ok=True)
    with RecordWriter(partial) as writer:
        for data in kept:
            writer.write(data)
    if read_raw_records(partial) != kept:
        raise CorruptFileError(partial, 0, "the continued copy does not read back as written")
    os.replace(partial, run_file)


class Resend:
    """The runs of one sync that a failed ``wandb sync`` may have begun, and what became
    of each once sent again: ``continued`` (run id to the rows the server held, the
    rows sent after them) or ``unsure`` (the server's count could not be had: sent
    whole, see :data:`RETRIED`)."""

    def __init__(self) -> None:
        self.begun: set[str] = set()
        self.held: dict[str, HeldRows] = {}
        self.continued: dict[str, int] = {}
        self.unsure: set[str] = set()

    def left_by_earlier_sync(self, run_id: str, copies: Sequence[StagedRun], failed: bool) -> None:
        """Count run ``run_id`` (its id on the server) as begun if an earlier sync to
        this target failed to upload it (``failed``: it was stopped, or its wandb sync
        failed) or left a copy of it (``copies``: where its attempts are staged; it was
        killed before it could record the run)."""
        if failed or any(c.folder.exists() for c in copies):
            self.begun.add(run_id)

    def left_by_earlier_syncs(
        self,
        outcomes: Mapping[str, state.SyncRunOutcome],
        checks: Sequence[RunCheck],
        staging_root: Path,
    ) -> None:
        """:meth:`left_by_earlier_sync` for each of a sweep's own ``checks``, by their
        stored ``outcomes``."""
        for c in checks:
            copies = [StagedRun.at(staging_root, a.folder, a.run_file) for a in attempts_of(c)]
            done = outcomes.get(c.run.id)
            self.left_by_earlier_sync(c.run.id, copies, done is not None and done.outcome == FAILED)

    def ask(
        self, entity: str, project: str, run_ids: Sequence[str], workdir: Path, timeout: float
    ) -> None:
        """Ask the server about the runs among ``run_ids`` that may have been begun (no
        question when there are none)."""
        wanted = sorted(r for r in run_ids if r in self.begun)
        if wanted:
            self.held = ask_history(entity, project, wanted, workdir=workdir, timeout=timeout)

    def stage(self, run_id: str, originals: Sequence[Path], copies: Sequence[StagedRun]) -> None:
        """Cut the staged ``copies`` of run ``run_id`` after the rows the server holds."""
        if run_id not in self.begun:
            return
        held = self.held.get(run_id)
        skipped = None if held is None else continue_copy(originals, copies, held)
        self.continued.pop(run_id, None)
        self.unsure.discard(run_id)
        if skipped is None:
            self.unsure.add(run_id)
        elif skipped:
            assert held is not None
            self.continued[run_id] = held.lines

    def note(self, run_id: str) -> str | None:
        """What a run sent again says in its row, if anything."""
        if run_id in self.unsure:
            return RETRIED
        if run_id in self.continued:
            return continued_note(self.continued[run_id])
        return None


if __name__ == "__main__":
    _child()
