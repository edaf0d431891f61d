"""Attaching a run the server already holds to the server's sweep, without its rows.

A sweep's own run may be on the server already: a sync of another sweep made with
``--prior-runs`` from this one uploaded it as *its* prior run (sweep B made with ``-R A``
and synced before A). ``wandb sync`` of its folder again would append every row a
second time (wandb-core writes history at the server's line count), so the run is
staged as an *attach copy*: its run file holds the run's header, Run record (with the
server's sweep id), config, summary, metric, telemetry, environment and exit records,
and none of its history, console output, system metrics, files or artifacts. Uploaded
with ``wandb sync``, it upserts the run with the sweep id (wandb's ``UpsertBucket``
takes a ``sweep`` for a run that exists, as it does when an agent resumes a run) and
sends the same summary and exit code again; the server keeps the run once, now in the
sweep, with its rows as they were.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import Engine

from localsweep._sync._priors import PRIOR_ATTACHED, PRIOR_UPLOADED
from localsweep._sync._stage import StagedRun, unstage
from localsweep.store import _sync_state as state

__all__ = ["KEPT_RECORDS", "on_server_elsewhere", "stage_attach_copy"]

#: The records an attach copy keeps: what says what the run is and how it ended. Every
#: other one (history, output, stats, files, artifacts, alerts) the server holds
#: already, and would be appended again.
KEPT_RECORDS = frozenset(
    {
        "header",
        "run",
        "config",
        "summary",
        "metric",
        "telemetry",
        "environment",
        "exit",
        "final",
        "footer",
        "preempting",
    }
)


def stage_attach_copy(folder: Path, run_file: Path, staging_root: Path, sweep_id: str) -> StagedRun:
    """Write the attach copy of ``run_file`` (in ``folder``) under ``staging_root``, with
    the Run records' sweep id set to ``sweep_id``, read it back and return it. Raises
    :class:`~localsweep.wandb_bridge._logformat.CorruptFileError` if the original is
    damaged or the copy does not read back as written."""
    from localsweep.wandb_bridge._logformat import CorruptFileError
    from localsweep.wandb_bridge._records import Record
    from localsweep.wandb_bridge._writer import RecordWriter, read_raw_records

    target = StagedRun.at(staging_root, folder, run_file)
    unstage(target.folder)
    # wandb sync writes the files it makes (config.yaml, the summary) under files/.
    (target.folder / "files").mkdir(parents=True)
    kept: list[bytes] = []
    for data in read_raw_records(run_file):
        record = Record()
        record.ParseFromString(data)
        kind = record.WhichOneof("record_type")
        if kind not in KEPT_RECORDS:
            continue
        if kind == "run" and record.run.sweep_id != sweep_id:
            record.run.sweep_id = sweep_id
            data = record.SerializeToString()
        kept.append(data)
    with RecordWriter(target.run_file) as writer:
        for data in kept:
            writer.write(data)
    if read_raw_records(target.run_file) != kept:
        raise CorruptFileError(target.run_file, 0, "the attach copy does not read back as written")
    return target


def on_server_elsewhere(
    engine: Engine,
    base_url: str,
    entity: str,
    project: str,
    run_ids: Sequence[str],
    this_sweep: str | None = None,
) -> dict[str, str]:
    """The sweep's own runs among ``run_ids`` that a sync of another sweep of this
    database already uploaded to ``entity/project`` at ``base_url`` (as its prior run),
    each with the words saying so; ``this_sweep`` (the server's sweep of this sync) is
    not another sweep."""
    found = state.synced_elsewhere(
        engine,
        base_url,
        entity,
        project,
        run_ids,
        prior_outcomes=(PRIOR_UPLOADED, PRIOR_ATTACHED),
    )
    notes = {}
    for run_id, (sweep, as_prior, _entity) in found.items():
        if sweep == this_sweep:
            continue
        how = f"as a prior run of sweep {sweep}" if as_prior else f"into sweep {sweep}"
        notes[run_id] = (
            f"on W&B already (uploaded {how} by an earlier localsweep sync): attached to "
            "the sweep, its rows not sent again"
        )
    return notes
