"""Everything that touches wandb internals, in one place.

Config injection and metric capture for in-process runs (``_session``), and the
reader of wandb's offline ``run-<id>.wandb`` files (``_datastore``). Tested against
wandb 0.31 (the range pinned in pyproject.toml).
"""

from __future__ import annotations

from localsweep.wandb_bridge._datastore import (
    CorruptFileError,
    RecordReader,
    RunFileFollower,
    RunFileSummary,
    find_run_file,
    read_run_file,
    wait_for_exit_record,
)
from localsweep.wandb_bridge._session import (
    FinishedRun,
    LogSink,
    StopRun,
    WandbRunSession,
    install_hooks,
    param_file_text,
)

__all__ = [
    "CorruptFileError",
    "FinishedRun",
    "LogSink",
    "RecordReader",
    "RunFileFollower",
    "RunFileSummary",
    "StopRun",
    "WandbRunSession",
    "find_run_file",
    "install_hooks",
    "param_file_text",
    "read_run_file",
    "wait_for_exit_record",
]
