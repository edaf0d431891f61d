"""``localsweep slurm``: start agents on a sweep as a SLURM job array (the main CLI adds
``slurm_command``)."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from localsweep._cli_common import check_gpus, nonempty_db, suggested_db_flag
from localsweep._console import CliConsole
from localsweep._shell import shell_quote
from localsweep.cluster._checks import (
    check_function,
    check_log_dir,
    check_partition,
    check_script_path,
    check_sweep_state,
    check_time,
    database_host_warnings,
    sqlite_single_node,
)
from localsweep.cluster._slurm import (
    DEFAULT_SIGNAL_BEFORE,
    SlurmError,
    SlurmJob,
    render_script,
    submit_script,
)
from localsweep.errors import (
    DatabaseURLError,
    LocalsweepError,
    NetworkFilesystemError,
    NotFoundError,
    ProgramNotFoundError,
)

__all__ = ["slurm_command"]

logger = logging.getLogger(__name__)

_console = CliConsole(stderr=True, highlight=False)

# sbatch options the command takes by name, in the order they are written.
_NAMED = (
    "partition",
    "time",
    "nodes",
    "nodelist",
    "cpus-per-task",
    "gpus-per-task",
    "gres",
    "mem",
    "account",
    "qos",
    "constraint",
)


def _say(text: str) -> None:
    _console.print(text, soft_wrap=True)


def _write_private(path: Path, text: str) -> None:
    # The script holds the database URL, password included if the URL has one.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)


@click.command("slurm")
@click.argument("sweep_id")
@click.option(
    "--agents", type=click.IntRange(min=1), required=True, help="Array tasks, one agent each."
)
@click.option(
    "--max-running",
    type=click.IntRange(min=1),
    default=None,
    help="At most this many agents at once (the array's %P).",
)
@click.option("--count", type=click.IntRange(min=1), default=None, help="Runs per agent, at most.")
@click.option(
    "--function",
    "-f",
    "function_ref",
    default=None,
    metavar="MODULE:FUNC",
    help="Run a Python function instead of the config's program.",
)
@click.option("--project", default=None, help="wandb project of the runs.")
@click.option("--entity", default=None, help="wandb entity of the runs.")
@click.option(
    "--workers", type=click.IntRange(min=1), default=None, help="Runs at a time in each agent."
)
@click.option(
    "--gpus",
    default=None,
    callback=check_gpus,
    metavar="0,1,...",
    help="The agent's --gpus [default with --workers and a GPU request: the task's GPUs].",
)
@click.option(
    "--isolation",
    type=click.Choice(["thread", "process"]),
    default=None,
    help="The agent's --isolation.",
)
@click.option(
    "--run-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="SECONDS",
    help="The agent's --timeout: end a run that takes longer.",
)
@click.option("--partition", default=None, help="sbatch --partition.")
@click.option(
    "--time",
    "time_limit",
    default=None,
    metavar="TIME",
    help="sbatch --time (each task's time limit).",
)
@click.option("--nodes", default=None, help="sbatch --nodes (per task; SQLite needs 1).")
@click.option("--nodelist", default=None, metavar="NODES", help="sbatch --nodelist.")
@click.option(
    "--cpus-per-task", type=click.IntRange(min=1), default=None, help="sbatch --cpus-per-task."
)
@click.option("--gpus-per-task", default=None, help="sbatch --gpus-per-task (e.g. 1, or a100:2).")
@click.option("--gres", default=None, help="sbatch --gres (e.g. gpu:1).")
@click.option("--mem", default=None, help="sbatch --mem (e.g. 16G).")
@click.option("--account", default=None, help="sbatch --account.")
@click.option("--qos", default=None, help="sbatch --qos.")
@click.option("--constraint", default=None, help="sbatch --constraint.")
@click.option("--job-name", default=None, help="sbatch --job-name [default: the sweep id].")
@click.option(
    "--signal-before",
    type=click.IntRange(min=1),
    default=DEFAULT_SIGNAL_BEFORE,
    show_default=True,
    metavar="SECONDS",
    help="Ask SLURM for SIGTERM this long before the time limit, so the running run is requeued.",
)
@click.option(
    "--sbatch-arg",
    "sbatch_args",
    multiple=True,
    metavar="ARG",
    help="Any other sbatch option, e.g. --sbatch-arg=--exclusive (repeatable).",
)
@click.option(
    "--setup",
    multiple=True,
    metavar="LINE",
    help="A shell line each task runs before its agent, e.g. 'module load cuda' (repeatable).",
)
@click.option(
    "--log-dir",
    default=None,
    type=click.Path(file_okay=False),
    help="Where the tasks' output goes [default: ./localsweep-logs/SWEEP_ID].",
)
@click.option("--dry-run", is_flag=True, help="Print the script; submit nothing.")
@click.option(
    "--script-only",
    default=None,
    type=click.Path(dir_okay=False),
    metavar="PATH",
    help="Write the script to PATH for you to submit; submit nothing.",
)
@click.option(
    "--allow-network-fs",
    is_flag=True,
    help="Let the agents use a SQLite file on a network file system.",
)
@click.option(
    "--db",
    envvar="LOCALSWEEP_DB",
    default=None,
    callback=nonempty_db,
    metavar="URL",
    help="Database [env LOCALSWEEP_DB; default ./localsweep.db].",
)
def slurm_command(
    sweep_id: str,
    agents: int,
    max_running: int | None,
    count: int | None,
    function_ref: str | None,
    project: str | None,
    entity: str | None,
    workers: int | None,
    gpus: str | None,
    isolation: str | None,
    run_timeout: float | None,
    time_limit: str | None,
    nodes: str | None,
    nodelist: str | None,
    partition: str | None,
    job_name: str | None,
    signal_before: int,
    sbatch_args: tuple[str, ...],
    setup: tuple[str, ...],
    log_dir: str | None,
    dry_run: bool,
    script_only: str | None,
    allow_network_fs: bool,
    db: str | None,
    **named: Any,
) -> None:
    """Start agents on SWEEP_ID as a SLURM job array: --agents N tasks, one `localsweep
    agent` each, on the same database.

    \b
      localsweep slurm SWEEP_ID --agents 8 --gpus-per-task 1 --time 12:00:00
      localsweep slurm SWEEP_ID --agents 4 --dry-run      print the script only
    """
    from localsweep._agent_options import check_sweep_path, split_sweep_path
    from localsweep.store import Store

    if allow_network_fs:
        os.environ["LOCALSWEEP_ALLOW_NETWORK_FS"] = "1"
    check_time(time_limit, signal_before)
    for arg in sbatch_args:
        if not arg.startswith("-"):
            raise click.BadParameter(
                f"{arg!r} is not an sbatch option (they start with -)", param_hint="--sbatch-arg"
            )
        if arg.split("=")[0] in ("--array", "-a"):
            raise click.BadParameter(
                "the array is --agents (and --max-running)", param_hint="--sbatch-arg"
            )
    if script_only:
        check_script_path(Path(script_only))
    try:
        store = Store(db)
        try:
            bare_id, path_project, path_entity = split_sweep_path(sweep_id)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="SWEEP_ID") from None
        try:
            sweep = store.get_sweep(bare_id)
        finally:
            store.close()
        # Before any job is queued: each of its agents would refuse it.
        check_sweep_path(sweep, path_project or project, path_entity or entity)
        logs = Path(log_dir or Path("localsweep-logs") / sweep.id).expanduser().absolute()
        check_log_dir(logs)
        warnings = check_sweep_state(sweep)
        if function_ref is None and sweep.config.program is None and sweep.config.command is None:
            raise click.UsageError(
                "this sweep's config has no `program` or `command`, so the agents would have "
                "nothing to start; give a Python function with --function MODULE:FUNC"
            )
        if function_ref is None and not setup:
            # Each task starts in this folder (--chdir); a --setup line may change folder.
            from localsweep.agent._workers import require_program

            require_program(sweep.config, sweep.id)
        if function_ref is not None:
            warnings += check_function(function_ref, setup)
        check_partition(partition)
        warnings += sqlite_single_node(store.url, nodes, nodelist, partition)
        warnings += database_host_warnings(store.url, nodes, nodelist, partition)
        for warning in warnings:
            _say(f"[yellow]Warning:[/] {escape(warning)}")

        options: list[tuple[str, str | None]] = []
        values = {
            **named,
            "partition": partition,
            "time": time_limit,
            "nodes": nodes,
            "nodelist": nodelist,
        }
        for name in _NAMED:
            value = values.get(name.replace("-", "_"))
            if value is not None:
                options.append((name, str(value)))
        agent_args: list[str] = []
        for flag, value in (
            ("--count", count),
            ("--function", function_ref),
            ("--project", project),
            ("--entity", entity),
            ("--workers", workers),
            ("--gpus", gpus),
            ("--isolation", isolation),
            ("--timeout", run_timeout),
        ):
            if value is not None:
                agent_args += [flag, str(value)]
        gpu_request = named.get("gpus_per_task") or named.get("gres")
        job = SlurmJob(
            sweep_id=sweep.id,
            agents=agents,
            db_url=store.url,
            workdir=os.getcwd(),
            log_dir=str(logs),
            python=sys.executable,
            max_running=max_running,
            job_name=job_name,
            signal_before=signal_before,
            sbatch_options=tuple(options),
            sbatch_args=sbatch_args,
            agent_args=tuple(agent_args),
            setup=setup,
            gpus_from_slurm=bool(workers and workers > 1 and gpu_request and not gpus),
            allow_network_fs=allow_network_fs,
        )
        try:
            script = render_script(job)
        except SlurmError as exc:  # a value that cannot go into the script
            raise click.UsageError(str(exc)) from exc
        if dry_run:
            click.echo(script, nl=False)
            return
        try:
            logs.mkdir(parents=True, exist_ok=True)  # sbatch does not create it
        except OSError as exc:  # checked above; this is what the check cannot foresee
            raise click.BadParameter(f"cannot make {logs}: {exc}", param_hint="--log-dir") from exc
        if script_only:
            path = Path(script_only)
            try:
                _write_private(path, script)
            except OSError as exc:
                raise click.BadParameter(
                    f"cannot write the script to {path}: {exc}", param_hint="--script-only"
                ) from exc
            _say(
                f"Wrote {escape(str(path))}; submit it with: "
                f"sbatch {escape(shell_quote(str(path)))}"
            )
            _say(f"Logs will go to {escape(job.output_pattern)}")
            return
        job_id = submit_script(script)
    except (NotFoundError, NetworkFilesystemError, ProgramNotFoundError, DatabaseURLError) as exc:
        raise click.UsageError(str(exc)) from exc
    except LocalsweepError as exc:
        raise click.ClickException(str(exc)) from exc
    except Exception as exc:
        # SQLAlchemy's errors, recognised without importing SQLAlchemy for `--help`.
        if not type(exc).__module__.startswith("sqlalchemy"):
            raise
        raise click.ClickException(f"database error: {getattr(exc, 'orig', None) or exc}") from exc
    _write_private(logs / f"{job_id}.sbatch", script)
    db_hint, db_note = suggested_db_flag(db if os.environ.get("LOCALSWEEP_DB") != db else None)
    _say(
        f"Submitted job [bold]{job_id}[/]: {agents} agent(s) on sweep {sweep.id} "
        f"(array {job_id}_[{job.array}])"
    )
    _say(
        f"Logs: {escape(str(logs))}/{job_id}_<task>.out "
        f"(script: {escape(str(logs))}/{job_id}.sbatch)"
    )
    _say(f"Watch: squeue -j {job_id}   and   localsweep show {sweep.id}{escape(db_hint)}")
    if db_note:
        _say(escape(db_note))
    _say(
        f"Stop: scancel --batch --signal=TERM {job_id} (each agent requeues its running run "
        "as preempted and exits)"
    )
    click.echo(job_id)
