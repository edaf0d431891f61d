"""Agents as a SLURM job array: the sbatch script, the single-node rule for SQLite, submission.

One array task runs one ``localsweep agent`` on the sweep, all against the same database.
The script ``exec``s the agent, so the agent *is* the batch shell: SLURM's warning signal
before the time limit (``--signal=B:TERM@SECONDS``, sent to the batch shell only) reaches
it, and it ends its running run as preempted, to be resumed by the next agent, instead of
being killed mid-run. The rest of the environment (virtual env, loaded modules, ``WANDB_*``)
is the submitting shell's, which sbatch passes on by default (``--export=ALL``); the agent
runs with the Python that ran ``localsweep slurm``.
"""

from __future__ import annotations

import logging
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from localsweep.errors import LocalsweepError

__all__ = [
    "TIME_FORMS",
    "SlurmError",
    "SlurmJob",
    "UnknownPartitionError",
    "expand_hostlist",
    "partition_nodes",
    "partitions",
    "render_script",
    "submit_script",
    "time_limit_seconds",
]

logger = logging.getLogger(__name__)

#: Seconds before the time limit at which SLURM sends the agent SIGTERM (by default).
DEFAULT_SIGNAL_BEFORE = 120


class SlurmError(LocalsweepError):
    """sbatch, sinfo or scontrol is missing or refused what was asked (the message says)."""


@dataclass(frozen=True)
class SlurmJob:
    """A job array of ``agents`` localsweep agents on one sweep.

    ``sbatch_options`` are ``(name, value)`` pairs written as ``#SBATCH --name=value`` (a
    ``None`` value writes the bare flag); ``sbatch_args`` are written as given, one
    ``#SBATCH`` line each. ``agent_args`` follow ``localsweep agent SWEEP_ID``.
    ``setup`` lines run in each task before the agent (``module load ...``, ``source
    venv/bin/activate``). ``gpus_from_slurm`` gives the agent's workers the GPUs SLURM
    assigned to the task.
    """

    sweep_id: str
    agents: int
    db_url: str
    workdir: str
    log_dir: str
    python: str = field(default_factory=lambda: sys.executable)
    max_running: int | None = None
    job_name: str | None = None
    signal_before: int = DEFAULT_SIGNAL_BEFORE
    sbatch_options: tuple[tuple[str, str | None], ...] = ()
    sbatch_args: tuple[str, ...] = ()
    agent_args: tuple[str, ...] = ()
    setup: tuple[str, ...] = ()
    gpus_from_slurm: bool = False
    allow_network_fs: bool = False

    @property
    def array(self) -> str:
        """The ``--array`` value: one index per agent, ``%P`` if at most P run at once."""
        limit = f"%{self.max_running}" if self.max_running else ""
        return f"0-{self.agents - 1}{limit}"

    @property
    def output_pattern(self) -> str:
        """Where each task's output goes (``%A`` is the job id, ``%a`` the task index)."""
        return f"{self.log_dir.rstrip('/')}/%A_%a.out"


#: The forms of ``--time`` that sbatch accepts, as its error should have named them.
TIME_FORMS = (
    "MINUTES, MINUTES:SECONDS, HOURS:MINUTES:SECONDS, DAYS-HOURS, DAYS-HOURS:MINUTES, "
    "DAYS-HOURS:MINUTES:SECONDS, or UNLIMITED (also INFINITE, 0 or -1: no limit)"
)

_NO_LIMIT = ("unlimited", "infinite", "-1")


def time_limit_seconds(text: str) -> int | None:
    """A SLURM time limit in seconds, read as sbatch reads ``--time``: ``minutes``,
    ``minutes:seconds``, ``hours:minutes:seconds``, ``days-hours``, ``days-hours:minutes``
    or ``days-hours:minutes:seconds``; ``None`` for no limit (``UNLIMITED``, ``INFINITE``,
    ``0``, ``-1``).

    Raises :class:`SlurmError` for any other text (naming the forms above), which sbatch
    would refuse.

    >>> time_limit_seconds("1-12"), time_limit_seconds("90"), time_limit_seconds("infinite")
    (129600, 5400, None)
    """
    if text.lower() in _NO_LIMIT:
        return None
    # White space is refused, as sbatch refuses it (" 30" is an invalid --time).
    day_text, dash, rest = text.rpartition("-") if "-" in text else ("", "", text)
    parts = rest.split(":")
    numbers = [day_text] * bool(dash) + parts
    if not all(p.isascii() and p.isdigit() for p in numbers) or len(parts) > 3:
        raise SlurmError(
            f"{text!r} is not a time limit sbatch accepts: give {TIME_FORMS}, "
            "e.g. --time 90 (minutes), --time 12:00:00 or --time 1-12"
        )
    values = [int(p) for p in parts]
    if dash:  # after "days-": hours[:minutes[:seconds]]
        hours, minutes, seconds = (*values, 0, 0)[:3]
    elif len(values) == 1:
        hours, minutes, seconds = 0, values[0], 0
    elif len(values) == 2:
        hours, minutes, seconds = 0, values[0], values[1]
    else:
        hours, minutes, seconds = values
    days = int(day_text) if dash else 0
    total = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    return total or None  # 0 means no limit


def _line_safe(text: str, what: str) -> str:
    if "\n" in text or "\r" in text:
        from localsweep.store._urls import shown_url

        raise SlurmError(f"{what} must be one line, got {shown_url(text)!r}")
    return text


def _value(text: str) -> str:
    # sbatch splits #SBATCH lines at white space, and takes a double-quoted value whole.
    if not any(c.isspace() for c in text):
        return text
    if '"' in text:
        raise SlurmError(f"an sbatch option value with both spaces and quotes: {text!r}")
    return f'"{text}"'


def render_script(job: SlurmJob) -> str:
    """The sbatch script for ``job``; the same job always gives the same text."""
    q = shlex.quote
    directives: list[str] = [
        f"--job-name={_value(job.job_name or job.sweep_id)}",
        f"--array={job.array}",
        f"--output={_value(job.output_pattern)}",
        # A task SLURM requeues (scontrol requeue, PreemptMode=REQUEUE) writes the same
        # file again: appended, its earlier attempt's lines are kept (sbatch truncates).
        "--open-mode=append",
        f"--chdir={_value(job.workdir)}",
        f"--signal=B:TERM@{job.signal_before}",
    ]
    for name, value in job.sbatch_options:
        directives.append(f"--{name}" if value is None else f"--{name}={_value(value)}")
    directives.extend(job.sbatch_args)
    lines = [
        "#!/bin/bash",
        f"# localsweep agents on sweep {job.sweep_id}: one per array task "
        "(written by `localsweep slurm`).",
    ]
    lines += [f"#SBATCH {_line_safe(d, 'an sbatch option')}" for d in directives]
    lines += [
        "",
        "# The environment (virtual env, modules, WANDB_* variables) is the submitting",
        "# shell's: sbatch passes it on (--export=ALL). Every agent uses the same database.",
        f"export LOCALSWEEP_DB={q(_line_safe(job.db_url, 'the database URL'))}",
    ]
    if job.allow_network_fs:
        lines.append("export LOCALSWEEP_ALLOW_NETWORK_FS=1")
    if job.setup:
        lines += ["", "# --setup"]
        lines += [_line_safe(line, "a --setup line") for line in job.setup]
    agent = [q(job.python), "-m", "localsweep", "agent", q(job.sweep_id)]
    agent += [q(_line_safe(a, "an agent option")) for a in job.agent_args]
    if job.gpus_from_slurm:
        # Each worker of the agent gets one of the GPUs SLURM gave this task.
        agent.append('${CUDA_VISIBLE_DEVICES:+--gpus "$CUDA_VISIBLE_DEVICES"}')
    lines += [
        "",
        'echo "localsweep agent: task ${SLURM_ARRAY_TASK_ID} of job ${SLURM_ARRAY_JOB_ID}'
        ' on $(hostname), $(date)"',
        "# exec: the agent becomes the batch shell, so the SIGTERM that --signal=B:TERM sends",
        "# before the time limit reaches it: it requeues its running run as preempted and exits.",
        "exec " + " ".join(agent),
        "",
    ]
    return "\n".join(lines)


def _run(args: Sequence[str], *, stdin: str | None = None) -> str:
    if shutil.which(args[0]) is None:
        raise SlurmError(
            f"{args[0]} not found on PATH: run this on a SLURM login node, or write the "
            "script with --script-only PATH and submit it there with sbatch"
        )
    try:
        done = subprocess.run(
            list(args), input=stdin, capture_output=True, text=True, timeout=120, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise SlurmError(f"{args[0]} did not answer in {exc.timeout:g} s") from exc
    if done.returncode != 0:
        # The last line says what went wrong; the lines before are how it got there.
        lines = (done.stderr or done.stdout).strip().splitlines()
        said = lines[-1] if lines else f"exit code {done.returncode}"
        raise SlurmError(f"{args[0]} failed: {said}")
    return done.stdout


def submit_script(script: str) -> str:
    """Submit ``script`` with ``sbatch`` (on its standard input); the job id."""
    out = _run(["sbatch", "--parsable"], stdin=script).strip()
    job_id = out.splitlines()[-1].split(";")[0].strip() if out else ""
    if not job_id:
        raise SlurmError(f"sbatch did not print a job id (it printed {out!r})")
    return job_id


def expand_hostlist(hostlist: str) -> list[str]:
    """The node names in a SLURM host list such as ``gpu[01-03],cpu7`` (via ``scontrol
    show hostnames``; a plain comma-separated list needs no SLURM)."""
    if "[" not in hostlist:
        return [h for h in (p.strip() for p in hostlist.split(",")) if h]
    return _run(["scontrol", "show", "hostnames", hostlist]).split()


class UnknownPartitionError(SlurmError):
    """The partition asked for is not one that ``sinfo`` lists (or there is no default)."""


def partitions() -> tuple[dict[str, list[str]], str | None]:
    """Every partition ``sinfo`` lists with its nodes, and the default partition's name
    (``None`` if the cluster has none)."""
    out = _run(["sinfo", "-h", "-N", "-o", "%N %P"])
    table: dict[str, list[str]] = {}
    default: str | None = None
    for line in out.splitlines():
        parts = line.split()
        if len(parts) != 2:
            continue
        node, part = parts
        if part.endswith("*"):
            part = part.rstrip("*")
            default = part
        nodes = table.setdefault(part, [])
        if node not in nodes:
            nodes.append(node)
    return table, default


def partition_nodes(partition: str | None) -> list[str]:
    """The nodes of ``partition`` (the default partition if ``None``), asked of ``sinfo``.

    Raises :class:`UnknownPartitionError` for a partition ``sinfo`` does not list (or no
    default partition), naming the partitions it lists, as sbatch refuses it.
    """
    table, default = partitions()
    known = ", ".join(f"{p} (default)" if p == default else p for p in table) or "none"
    if partition is None:
        if default is None:
            raise UnknownPartitionError(
                f"this cluster has no default partition: give --partition (sinfo lists: {known})"
            )
        return table[default]
    if partition not in table:
        raise UnknownPartitionError(
            f"partition {partition!r} does not exist (sbatch would refuse it: invalid "
            f"partition specified): sinfo lists {known}; check --partition"
        )
    return table[partition]
