"""Everything that touches wandb internals, in one place.

Config injection and metric capture for in-process runs (``_session``), and the
reader of wandb's offline ``run-<id>.wandb`` files (``_datastore``; their framing in
``_logformat``), their writer (``_writer``, which sets a copy's sweep id for
``localsweep sync``) and its fast path (``_patch``: a one-pass scan, and a patch of the
Run records in place), and the W&B server calls of ``localsweep sync`` (``_server`` and
``_server_child``: sweep creation and ``wandb sync``, in a child process). Tested against
wandb 0.31 (the range pinned in pyproject.toml).
"""

from __future__ import annotations

from typing import Any

from localsweep.wandb_bridge._forced_offline import (
    keep_child_offline,
    online_failure_hint,
    report_child,
)
from localsweep.wandb_bridge._init_watch import InitWatch
from localsweep.wandb_bridge._offline import keep_offline, workspace_settings_path
from localsweep.wandb_bridge._session import (
    DEFAULT_PROJECT,
    EARLY_STOPPING_ARGUMENTS,
    FinishedRun,
    LogSink,
    StopRun,
    WandbRunSession,
    install_hooks,
    param_file_text,
)
from localsweep.wandb_bridge._sweep_path import sweep_entity, sweep_project

# The offline-file reader needs wandb's protobuf classes, which take half a second to
# import; only program mode uses it, so it is imported on first use.
_DATASTORE_NAMES = frozenset(
    {
        "CorruptFileError",
        "RecordReader",
        "RunFileFollower",
        "RunFileSummary",
        "find_run_file",
        "read_run_file",
        "sweep_entity",
        "sweep_project",
        "report_child",
        "wait_for_exit_record",
    }
)


def __getattr__(name: str) -> Any:
    if name in _DATASTORE_NAMES:
        from localsweep.wandb_bridge import _datastore

        return getattr(_datastore, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "DEFAULT_PROJECT",
    "EARLY_STOPPING_ARGUMENTS",
    "CorruptFileError",
    "FinishedRun",
    "InitWatch",
    "LogSink",
    "RecordReader",
    "RunFileFollower",
    "RunFileSummary",
    "StopRun",
    "WandbRunSession",
    "find_run_file",
    "install_hooks",
    "keep_child_offline",
    "keep_offline",
    "online_failure_hint",
    "param_file_text",
    "read_run_file",
    "report_child",
    "sweep_entity",
    "sweep_project",
    "wait_for_exit_record",
    "workspace_settings_path",
]
