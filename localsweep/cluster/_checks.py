"""What ``localsweep slurm`` checks before it writes or submits a job, so that a job whose
every task would fail (or wait, or wander off the database) is refused or warned of while
the user is still at the terminal, not after the queue wait.

Each check raises a :class:`click.UsageError` (exit code 2) for what cannot work, and
returns warnings, as text, for what may not.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

import click

from localsweep.cluster._slurm import (
    SlurmError,
    UnknownPartitionError,
    expand_hostlist,
    partition_nodes,
    time_limit_seconds,
)
from localsweep.records import SweepState

if TYPE_CHECKING:
    from localsweep.store import SweepRecord

__all__ = [
    "check_function",
    "check_log_dir",
    "check_partition",
    "check_script_path",
    "check_sweep_state",
    "check_time",
    "database_host_warnings",
    "loopback_host",
    "sqlite_single_node",
]

logger = logging.getLogger(__name__)

# Why a sweep that finished by itself runs no more (``finished_reason``).
_OVER = {
    "exhausted": "its grid is exhausted (every point has run)",
    "run_cap": "it reached its run_cap",
    "target_reached": "its metric.target was reached",
}


def _here() -> str:
    return socket.gethostname().split(".")[0]


def check_time(time_limit: str | None, signal_before: int) -> None:
    """Refuse a ``--time`` sbatch would refuse, and a ``--signal-before`` not shorter than it."""
    if time_limit is None:
        return
    try:
        limit = time_limit_seconds(time_limit)
    except SlurmError as exc:
        raise click.BadParameter(str(exc), param_hint="--time") from exc
    if limit is not None and signal_before >= limit:
        raise click.BadParameter(
            f"{signal_before} s is not shorter than the time limit --time {time_limit} "
            f"({limit} s): the agents would be told to stop as they start; give a shorter "
            "--signal-before or a longer --time",
            param_hint="--signal-before",
        )


def check_log_dir(logs: Path) -> None:
    """Refuse a log folder that cannot be made (sbatch does not make it: every task would
    fail to open its output)."""
    from localsweep._cli_common import check_output_path

    check_output_path(logs, "--log-dir", "the tasks' output", folder=True)


def check_script_path(path: Path) -> None:
    """Refuse a ``--script-only`` path whose folder does not exist or is not writable."""
    from localsweep._cli_common import check_output_path

    check_output_path(path, "--script-only", "the script", make_folders=False)


def check_sweep_state(sweep: SweepRecord) -> list[str]:
    """Refuse a sweep that can run no more (each task would start, find nothing to run and
    end, after its queue wait); a warning for a paused one (the tasks would hold their
    allocations waiting)."""
    state, reason = sweep.state, sweep.finished_reason
    if state is SweepState.PAUSED:
        return [
            f"sweep {sweep.id} is paused: each task will hold its allocation waiting, "
            f"running nothing, until you resume it (localsweep sweep --resume {sweep.id})"
        ]
    if state is SweepState.CANCELED or (state is SweepState.FINISHED and reason == "stopped"):
        said = "canceled" if state is SweepState.CANCELED else "finished (stopped)"
        raise click.UsageError(
            f"sweep {sweep.id} is {said}: the agents would start no run; "
            f"resume it first with: localsweep sweep --resume {sweep.id}"
        )
    if state is SweepState.FINISHED:
        why = _OVER.get(reason or "", f"it finished ({reason})" if reason else "it finished")
        raise click.UsageError(
            f"sweep {sweep.id} is finished: {why}, so the agents would start no run; for "
            "more runs create a new sweep (localsweep sweep CONFIG, with "
            f"--prior-runs {sweep.id} to learn from this one's runs)"
        )
    return []


def check_function(function_ref: str, setup: tuple[str, ...]) -> list[str]:
    """Import ``--function`` here, as ``localsweep agent --function`` will in each task (from
    the folder the tasks start in: this one), with the agent's message if it fails.

    With ``--setup`` lines (which may activate another environment or change folder) a
    failure is only a warning."""
    from localsweep._cli_common import load_function

    try:
        load_function(function_ref)
        return []
    except click.UsageError as exc:
        if not setup:
            raise
        return [f"{exc.format_message()} (here; your --setup lines may make it importable)"]


def check_partition(partition: str | None) -> None:
    """Refuse a ``--partition`` that ``sinfo`` does not list, naming those it lists (as
    sbatch refuses it); where ``sinfo`` does not answer (no SLURM here), sbatch judges."""
    if partition is None:
        return
    try:
        partition_nodes(partition)
    except UnknownPartitionError as exc:
        raise click.BadParameter(str(exc), param_hint="--partition") from exc
    except SlurmError as exc:
        logger.debug("partition %s not checked: %s", partition, exc)


def _job_nodes(
    nodes: str | None, nodelist: str | None, partition: str | None
) -> tuple[list[str], str]:
    """The nodes the job's tasks may run on, and how the user named them (``sinfo`` or
    ``scontrol`` answer; their errors are raised)."""
    if nodelist:
        return expand_hostlist(nodelist), f"--nodelist {nodelist}"
    where = f"partition {partition}" if partition else "the default partition"
    return partition_nodes(partition), where


def sqlite_single_node(
    url: str, nodes: str | None, nodelist: str | None, partition: str | None
) -> list[str]:
    """Refuse SQLite unless every task of the job runs on one and the same node."""
    if not url.startswith("sqlite:"):
        return []
    why = (
        "a SQLite database can only be shared by agents on one machine (its file is on that "
        "machine's local disk); for agents on several nodes use PostgreSQL "
        "(--db postgresql+psycopg://user:password@host:5432/sweeps, see docs/cluster.md)"
    )
    if nodes is not None and nodes.strip() not in ("1", "1-1"):
        raise click.BadParameter(f"{nodes} with {url}: {why}", param_hint="--nodes")
    try:
        names, where = _job_nodes(nodes, nodelist, partition)
    except UnknownPartitionError as exc:
        raise click.BadParameter(str(exc), param_hint="--partition") from exc
    except SlurmError as exc:
        raise click.UsageError(
            f"cannot tell which nodes the job may use ({exc}), and {why}; pin the job to "
            "one node with --nodelist NODE"
        ) from exc
    if len(names) != 1:
        raise click.UsageError(
            f"{where} has {len(names)} nodes ({', '.join(names[:5])}), so the array's tasks "
            f"could run on different machines: {why}; or pin the job to this machine with "
            "--nodelist NODE"
        )
    here = _here()
    if names[0] != here:
        return [
            f"the job runs on {names[0]}, not on this machine ({here}): the SQLite file must "
            f"be on {names[0]}'s disk at the same path."
        ]
    return []


def loopback_host(url: str) -> str | None:
    """The URL's PostgreSQL host if only this machine can reach it (a loopback address,
    ``localhost`` or a Unix socket), else ``None``."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if not parsed.drivername.startswith("postgresql"):
        return None
    query_host = parsed.query.get("host")
    if isinstance(query_host, tuple):
        query_host = query_host[0] if query_host else None
    host = parsed.host or query_host or os.environ.get("PGHOST") or ""
    name = host.split(",")[0].strip()  # libpq takes a list of hosts: the first is tried first
    if name.startswith("["):  # [::1]:5432
        name = name[1:].partition("]")[0]
    elif name.count(":") == 1:  # host:port
        name = name.partition(":")[0]
    if not name:
        return "the default Unix socket (no host in the URL)"
    if name.startswith("/"):
        return f"the Unix socket {name}"
    if name.lower() in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return name
    try:
        return name if ipaddress.ip_address(name).is_loopback else None
    except ValueError:  # a host name: the nodes resolve it themselves
        return None


def database_host_warnings(
    url: str, nodes: str | None, nodelist: str | None, partition: str | None
) -> list[str]:
    """A warning when the PostgreSQL URL names this machine's loopback (or a socket) and
    a task may run on another node, where that address is the node itself."""
    host = loopback_host(url)
    if host is None:
        return []
    here = _here()
    fix = (
        f"agents on other nodes cannot reach the database at {host}: put in the URL a name "
        f"of the server's machine that the nodes resolve (e.g. {here}, if the server runs "
        "here and listens on its network address: listen_addresses in postgresql.conf)"
    )
    if nodes is not None and nodes.strip() not in ("1", "1-1"):
        return [f"--nodes {nodes} puts each task on several nodes, and {fix}"]
    try:
        names, where = _job_nodes(nodes, nodelist, partition)
    except UnknownPartitionError as exc:
        raise click.BadParameter(str(exc), param_hint="--partition") from exc
    except SlurmError as exc:
        return [f"the job may run on another node (cannot tell which: {exc}), and {fix}"]
    others = [n for n in names if n != here]
    if not others:
        return []
    return [f"{where} has nodes other than this one ({', '.join(others[:5])}), and {fix}"]
