"""What the arguments of ``wandb agent`` / ``wandb.agent`` mean here, read and checked
before an agent starts: ``count``, the failure limit (and wandb's variable for it), the
grace period under wandb's name, the workers' GPUs, and the sweep path ``E/P/ID`` with the
project and entity it names; and the working folder the agent runs in, which its runs
need."""

from __future__ import annotations

import logging
import numbers
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from localsweep.agent._defaults import DEFAULT_GRACE_PERIOD
from localsweep.errors import AgentError, NotFoundError, RunSetupError

if TYPE_CHECKING:
    from localsweep.store import SweepRecord

__all__ = [
    "MAX_FAILURES_VARIABLE",
    "absolute_path",
    "check_count",
    "check_sweep_path",
    "folder_gone",
    "gpu_list",
    "grace",
    "max_failures_limit",
    "names_no_gpu",
    "split_gpus",
    "split_sweep_path",
]

logger = logging.getLogger(__name__)


def check_count(count: object) -> None:
    """``count`` is a whole number of runs, at least 1, or ``None`` (no limit): the CLI's rule."""
    if count is None:
        return
    if isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < 1:
        raise ValueError(
            f"count must be a whole number of runs, at least 1 (or None for no limit), "
            f"not {count!r}"
        )


def split_gpus(text: str) -> list[str]:
    """The GPUs of ``--gpus 0,1``, or of ``gpus="0,1"``: the comma-separated ids, stripped,
    empty ones left out (none: the option names no GPU, see :func:`names_no_gpu`)."""
    return [g.strip() for g in text.split(",") if g.strip()]


def names_no_gpu(given: object, example: str) -> str:
    """What is wrong with GPUs ``given`` that name no device, and the fix (``example``)."""
    return (
        f"names no GPU ({given!r}): give the CUDA device indices or UUIDs the workers take "
        f"in turn, such as {example}"
    )


#: How to give ``gpus``, said by :func:`gpu_list` when it refuses them.
_GPUS_FIX = (
    'gpus=["0", "1"] (or "0,1", as --gpus takes it); gpus=None (the default) leaves '
    "CUDA_VISIBLE_DEVICES as it is"
)


def gpu_list(gpus: str | Sequence[str | int] | None) -> list[str] | None:
    """``gpus`` of ``agent``/``run``: worker ``i``'s ``CUDA_VISIBLE_DEVICES`` is entry
    ``i % len``. A string is read as ``--gpus`` reads it (``"0,1"``: ``["0", "1"]``); a
    list entry may name several devices (``["0,1", "2,3"]``: two GPUs a worker). Raises
    ``ValueError`` for GPUs that name no device: ``""``, ``[]`` (each left every GPU
    visible) or an empty entry (``["", ""]`` hid them all), as ``--gpus ,,`` is refused."""
    if gpus is None:
        return None
    if isinstance(gpus, str):
        listed = split_gpus(gpus)
    elif isinstance(gpus, Sequence) and not isinstance(gpus, (bytes, bytearray)):
        listed = [_worker_gpus(entry, gpus) for entry in gpus]
    else:
        raise ValueError(
            f"gpus must be a list of CUDA device indices or UUIDs, not {gpus!r}: give {_GPUS_FIX}"
        )
    if not listed:
        raise ValueError(f"gpus {names_no_gpu(gpus, _GPUS_FIX)}")
    return listed


def _worker_gpus(entry: object, gpus: object) -> str:
    """One worker's ``CUDA_VISIBLE_DEVICES``, entry ``entry`` of ``gpus``."""
    if isinstance(entry, numbers.Integral) and not isinstance(entry, bool):
        return str(int(entry))
    if not isinstance(entry, str):
        raise ValueError(
            f"gpus must give each worker's CUDA devices as text or a device index, not "
            f"{entry!r} (in {gpus!r}): give {_GPUS_FIX}"
        )
    parts = [part.strip() for part in entry.split(",")]
    if not all(parts):
        # CUDA reads CUDA_VISIBLE_DEVICES up to the first id it cannot read: "" hid every
        # GPU from the worker's runs, "0,,1" all but GPU 0.
        raise ValueError(
            f"gpus has an entry that names no GPU ({entry!r} in {gpus!r}): each entry is a "
            f"worker's CUDA_VISIBLE_DEVICES; give {_GPUS_FIX}"
        )
    return ",".join(parts)


def max_failures_limit(ours: int | None, wandbs: int | None) -> int:
    """``max_consecutive_failures``, also taken under wandb's name
    (``wandb.agent(max_consecutive_failed_runs=...)``); when neither is given,
    :func:`_max_failures_default`."""
    if ours is not None and wandbs is not None:
        raise TypeError(
            "give max_consecutive_failures or max_consecutive_failed_runs (wandb's name for "
            f"it), not both (got {ours!r} and {wandbs!r})"
        )
    value = ours if ours is not None else wandbs
    if value is None:
        return _max_failures_default()
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        name = "max_consecutive_failures" if ours is not None else "max_consecutive_failed_runs"
        raise ValueError(f"{name} must be a whole number of runs, at least 1, not {value!r}")
    return int(value)


#: wandb's agent's variable for its limit of failed runs ("To change this value set
#: WANDB_AGENT_MAX_INITIAL_FAILURES=val"): here the limit of failed runs in a row when the
#: user gave none (wandb_agent.py stops at that many failures, as many as the finished runs
#: or more; its WANDB_AGENT_DISABLE_FLAPPING turns off a check localsweep does not have).
MAX_FAILURES_VARIABLE = "WANDB_AGENT_MAX_INITIAL_FAILURES"


def _max_failures_default() -> int:
    """The limit of failed runs in a row when none is given: ``WANDB_AGENT_MAX_INITIAL_FAILURES``
    (a whole number, as wandb's agent reads it), else 5."""
    value = os.environ.get(MAX_FAILURES_VARIABLE, "").strip()
    if not value:
        return 5
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if limit < 1:
        logger.warning(
            "%s=%r is not a whole number of runs, at least 1: an agent stops after 5 failed "
            "runs in a row",
            MAX_FAILURES_VARIABLE,
            value,
        )
        return 5
    return limit


def split_sweep_path(path: str) -> tuple[str, str | None, str | None]:
    """``(id, project, entity)`` of ``ID``, ``P/ID`` or ``E/P/ID``, as wandb's agent reads
    its sweep id (an empty part is not given)."""
    parts = path.split("/")
    if len(parts) > 3 or not parts[-1].strip():
        # wandb's parse_sweep_id refuses it too; taking the last parts would name a
        # project or a sweep the user never wrote.
        raise ValueError(
            f"sweep id {path!r}: expected SWEEP_ID, PROJECT/SWEEP_ID or "
            "ENTITY/PROJECT/SWEEP_ID, as wandb's agent takes it"
        )
    entity = parts[-3] if len(parts) >= 3 else None
    project = parts[-2] if len(parts) >= 2 else None
    return parts[-1], project or None, entity or None


def grace(grace_period: float, term_timeout: float | None) -> float:
    """``grace_period``, also taken as wandb.agent's ``term_timeout``."""
    if term_timeout is None:
        return grace_period
    if grace_period != DEFAULT_GRACE_PERIOD:
        raise TypeError(
            "give grace_period or term_timeout (wandb's name for it), not both "
            f"(got {grace_period!r} and {term_timeout!r})"
        )
    if isinstance(term_timeout, bool) or not isinstance(term_timeout, numbers.Real):
        raise ValueError(f"term_timeout must be a number of seconds, not {term_timeout!r}")
    if term_timeout < 0:
        raise ValueError(f"term_timeout must be at least 0 seconds, not {term_timeout!r}")
    return float(term_timeout)


def check_sweep_path(sweep: SweepRecord, project: str | None, entity: str | None) -> None:
    """Refuse an agent's ``project`` or ``entity`` (``-p``/``-e``, or the ``E/P/`` of
    ``E/P/ID``) other than the sweep's: its runs are filed under the sweep's, where the
    database (``Api``, ``show``, ``sync``) has them, and wandb's agent finds a sweep only
    in its own project. ``None``: not given."""
    wrong, there = [], []
    for what, given, own in (
        ("project", project, sweep.project or sweep.config.project),
        ("entity", entity, sweep.entity or sweep.config.entity),
    ):
        if what == "entity" and not own:
            # A sweep made without an entity is W&B's default entity's, which may well be
            # the one given (wandb's scripts often name it to the agent only): unknown
            # offline, so taken.
            continue
        # A sweep with no project files its runs under wandb's "uncategorized".
        if given is not None and given != (own or (what == "project" and "uncategorized")):
            # Named as the docs name it: a sweep made without a project is "uncategorized"'s.
            its = repr(own) if own else "'uncategorized' (made without one)"
            wrong.append(f"{what} {given!r} (the sweep's {what} is {its})")
            there.append(f"--{what} {given}")
    if wrong:
        # Not known here whether they came from the ENTITY/PROJECT/ of the sweep path or
        # from --project/--entity (project=, entity=): name both ways of giving them.
        raise NotFoundError(
            f"no sweep {sweep.id} in {' and '.join(wrong)}: an agent files a sweep's runs "
            "under the sweep's own project and entity, and wandb's agent finds a sweep only "
            f"there. Give the bare sweep id {sweep.id} (without the ENTITY/PROJECT/ of a "
            "sweep path) and leave out --project and --entity (project=, entity=), or give "
            f"the sweep's; for runs filed there, create a sweep there (localsweep sweep "
            f"{' '.join(there)} CONFIG)."
        )


def folder_gone(run_id: str | None = None) -> AgentError | None:
    """The error to stop on when the agent's working folder was deleted under it (``rm -rf``
    of the folder it was started in); ``None`` while it is there. No run can work there:
    wandb asks for the working folder as a run starts and as it finishes (its footer, in
    ``wandb.finish()``), and so do Python's ``multiprocessing`` and a program's process.
    That is not the run's failure: for run ``run_id`` a :class:`RunSetupError` (the run is
    recorded ``killed``, not counted, its point offered again); without one, the agent's
    own :class:`AgentError` (it starts no run)."""
    try:
        os.getcwd()
    except FileNotFoundError:
        pass
    else:
        return None
    folder = _deleted_folder()
    if run_id is None:
        return AgentError(
            f"working folder deleted: the folder {folder}, where the agent was started, "
            "no longer exists, and runs need their working folder (wandb asks for it as a run "
            "starts and ends). Start the agent from a folder that exists (cd to one first)"
        )
    return RunSetupError(
        f"working folder deleted: the folder {folder}, where the agent was started, was "
        f"deleted while it ran, and run {run_id} cannot work without it (wandb asks for the "
        "working folder as a run starts and ends). The run is not counted and its point is "
        "offered again: start the agent again from a folder that exists (cd to one first)"
    )


def folder_not_utf8() -> AgentError | None:
    """The error to stop on, before any run is claimed, when the folder the runs' wandb
    files go to (``WANDB_DIR``, else the working folder) has a name that is not valid UTF-8
    (bytes a UTF-8 locale cannot decode): wandb cannot start a run there (it passes paths
    on as UTF-8), nor can the store record the run's files; ``None`` otherwise."""
    given = os.environ.get("WANDB_DIR")
    try:
        path = given or os.getcwd()
    except OSError:
        return None  # a deleted folder is folder_gone's to say
    if path.isascii():
        return None
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(path).decode("utf-8", "backslashreplace")
        what, elsewhere = (
            ("WANDB_DIR", "set WANDB_DIR to another folder")
            if given
            else ("working folder", "start the agent from another folder (or set WANDB_DIR)")
        )
        return AgentError(
            f"the {what} {shown} has a name that is not valid UTF-8: wandb cannot start a "
            "run's files there (it passes paths on as UTF-8), nor can localsweep record "
            f"them. Rename it, or {elsewhere}"
        )
    return None


def no_home() -> AgentError | None:
    """The error to stop on, before any run is claimed, when wandb would find no home
    folder for its settings (every run would fail in ``wandb.init``); ``None`` otherwise."""
    from localsweep.wandb_bridge._sweep_path import no_home_message

    message = no_home_message()
    return None if message is None else AgentError(message)


def absolute_path(path: str) -> str:
    """``path`` made absolute against the working folder, also once that folder has been
    deleted (its old path: a run's files recorded, not a traceback)."""
    try:
        return os.path.abspath(path)
    except FileNotFoundError:
        return os.path.normpath(os.path.join(_deleted_folder(), path))


def _deleted_folder() -> str:
    """The path of this process's deleted working folder, as Linux still names it
    (``/proc/self/cwd``: ``PATH (deleted)``); elsewhere the shell's ``PWD``, when set."""
    try:
        link = os.readlink("/proc/self/cwd")
    except OSError:
        return os.environ.get("PWD") or "(its path is unknown)"
    return link.removesuffix(" (deleted)")
