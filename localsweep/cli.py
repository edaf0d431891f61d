"""The ``localsweep`` command: the offline twins of ``wandb sweep`` and ``wandb agent``.

Thin over the Python API. Errors are printed as one clear message (exit 2 for bad input,
1 for anything else); a traceback is shown only with ``--debug``.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from localsweep._cli_common import (
    ALLOW_NETWORK_FS,
    db_option,
    err_console,
    execution_options,
    function_example,
    function_options,
    load_function,
    max_failures_option,
)
from localsweep._cli_common import friendly as _friendly
from localsweep._cli_habits import (
    ClosedPipeGroup,
    db_for_elsewhere,
    forward_signals_option,
    wandb_sweep_flags,
    with_program,
)
from localsweep._console import CliConsole, print_table
from localsweep._console import safe_text as _e
from localsweep._control_cli import control_flags, control_sweep, register_control_commands
from localsweep._db_cli import register_db_commands
from localsweep._hints import FUNCTION_PLACEHOLDER, suggested_db_flag
from localsweep._hints import agent_command as suggested_agent_command
from localsweep._show_cli import register_read_commands, show_sweep
from localsweep.errors import ConfigError
from localsweep.priors._cli import PriorRunsCommand, prior_runs_option

__all__ = ["cli", "main"]

logger = logging.getLogger(__name__)

console = CliConsole()


@click.group(cls=ClosedPipeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="localsweep")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logging.")
def cli(debug: bool) -> None:
    """W&B sweeps without a W&B server.

    \b
      localsweep sweep sweep.yaml          create a sweep, print its id
      localsweep agent SWEEP_ID            run it (program/command configs)
      localsweep run sweep.yaml -f mod:fn  create and run in one go
      localsweep show SWEEP_ID             runs, best first, and the best config
    """
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )


# ------------------------------------------------------------------------------ config


@cli.command()
@click.argument("config_file", type=click.Path(dir_okay=False))
@_friendly
def validate(config_file: str) -> None:
    """Check CONFIG_FILE as wandb would; print the search space or every problem."""
    from localsweep.agent._scheduler_source import check_source
    from localsweep.config import load_config

    config = load_config(_existing(config_file))
    check_source(config)  # as an agent would read it: the config file's folder is known here
    _print_warnings([*config.warnings, *_command_warnings(config)])
    from rich.table import Table

    scheduler = config.scheduler
    space = scheduler.search_space if scheduler is not None else None
    if space and not config.parameters:
        # A define-by-run space is the user's code: an empty table would say "no parameters".
        assert scheduler is not None and scheduler.source is not None
        console.print(
            f"{config.method.value} sweep: parameters come from scheduler.search_space "
            f"({_e(scheduler.source)}:{_e(space)})",
            highlight=False,
        )
    else:
        table = Table(title=f"{config.method.value} sweep", show_lines=False)
        table.add_column("parameter")
        table.add_column("distribution")
        table.add_column("settings", overflow="fold")
        for p in config.parameters:
            table.add_row(_e(p.name), p.distribution.value, _e(_param_settings(p)))
        print_table(console, table)
    if config.metric is not None:
        target = f", target {config.metric.target}" if config.metric.target is not None else ""
        console.print(f"metric: {_e(config.metric.name)} ({config.metric.goal.value}{target})")
    if config.method.value == "grid":
        from localsweep.store import grid_size

        console.print(f"grid points: {grid_size(config)}")
    if config.early_terminate is not None:
        from localsweep.stopping import bands

        hb = config.early_terminate
        found = bands(hb)
        # With max_iter the bands end there (wandb's engine gives exactly these); from
        # min_iter alone they grow by eta without a last one that matters.
        finite = hb.max_iter is not None
        shown = ", ".join(str(b) for b in (found if finite else found[:8]))
        more = "" if finite else "..."
        console.print(f"early_terminate: hyperband, eta {hb.eta:g}, bands {shown}{more}")
    early = config.options.early_stopping
    if early is not None:
        console.print(
            f"early_stopping: a run stops after {early.patience} value(s) of "
            f"{_e(early.metric)} ({early.goal.value}) without improving by more than "
            f"{early.threshold:g}"
        )
    console.print("[green]valid[/]")


def _param_settings(p: Any) -> str:
    keys = ("value", "values", "probabilities", "min", "max", "q", "mu", "sigma", "a", "b")
    parts = []
    for key in keys:
        value = getattr(p, key)
        if (
            value is None
            or (key == "values" and not value)
            or (key == "value" and not p.is_constant)
        ):
            continue
        parts.append(f"{key}={json.dumps(list(value) if isinstance(value, tuple) else value)}")
    return " ".join(parts)


def _print_warnings(warnings: Sequence[str]) -> None:
    for warning in warnings:
        err_console.print(f"[yellow]Warning:[/] {_e(warning)}", highlight=False)


_CONFIG_SUFFIXES = (".yaml", ".yml", ".json")


def _command_warnings(config: Any) -> list[str]:
    """Why the config's ``command`` would fail to start its runs from here (only warned:
    wandb starts them the same way, and the agents may run elsewhere)."""
    from localsweep._hints import unstartable_command_messages

    return unstartable_command_messages(config.program, config.command, os.getcwd())


def _existing(path: str) -> str:
    # Not is_file(): a pipe (`localsweep validate <(...)`, /dev/stdin) is a file to read.
    if Path(path).is_dir():
        raise click.UsageError(f"{path} is a folder; give the sweep config's YAML file")
    if not Path(path).exists():
        if path.startswith("ls-") and Path(path).suffix.lower() not in _CONFIG_SUFFIXES:
            raise click.UsageError(
                f"no such file: {path}; it looks like a sweep id: run it with "
                f"`localsweep agent {path}`, or control it with "
                f"`localsweep sweep --pause/--resume/--stop/--cancel {path}`"
            )
        raise click.UsageError(f"no such file: {path}")
    return path


def ConfigError_from(message: str) -> ConfigError:
    from localsweep.errors import Violation

    return ConfigError([Violation("", message)])


# ------------------------------------------------------------------------------ sweeps


@cli.command(cls=PriorRunsCommand)
@click.argument("config_file", metavar="CONFIG_FILE|SWEEP_ID", type=click.Path(dir_okay=False))
@click.option("--project", "-p", default=None, help="wandb project the runs are filed under.")
@click.option("--entity", "-e", default=None, help="wandb entity (kept for `localsweep sync`).")
@click.option("--name", default=None, help="Name of the sweep.")
@click.option("--program", default=None, help="Run this program instead of the config's `program`.")
@wandb_sweep_flags
@control_flags
@prior_runs_option
@db_option
@_friendly
def sweep(
    config_file: str,
    project: str | None,
    entity: str | None,
    name: str | None,
    program: str | None,
    prior_runs: tuple[str, ...],
    db: str | None,
    control: str | None = None,
) -> None:
    """Create a sweep from CONFIG_FILE (like `wandb sweep`) and print its id; with --pause,
    --resume, --stop or --cancel, control the sweep SWEEP_ID instead."""
    if control is not None:
        return control_sweep(config_file, control, db)
    from localsweep.agent._scheduler_source import check_source
    from localsweep.config import load_config
    from localsweep.priors._cli import create_sweep

    config = load_config(_existing(config_file))
    check_source(config)  # else the sweep is made and every agent of it fails at start
    if program is not None:
        config = with_program(config, program)
    _print_warnings([*config.warnings, *_command_warnings(config)])
    store, record = create_sweep(
        db, config, prior_runs, err_console, project=project, entity=entity, name=name
    )
    # wandb's words, the id last on its line: scripts written for `wandb sweep` take it
    # from there (`awk '/sweep with ID:/{print $NF}'`).
    err_console.print(f"Creating sweep with ID: [bold]{record.id}[/]")
    err_console.print(f"Database: {_e(store.shown_url)}", highlight=False, soft_wrap=True)
    needs_function = config.program is None and config.command is None
    missing = None
    if needs_function:
        # Without a program the agent has nothing to start: it needs the training function.
        err_console.print(
            "The config has no `program`: give the agent your training function, "
            f"for example {function_example(os.getcwd())}.",
            highlight=False,
        )
    else:
        from localsweep._hints import missing_program_message

        missing = missing_program_message(config.program, config.command, os.getcwd())
        if missing is not None:
            # Only a warning: the agents may start elsewhere (another node, a job's folder).
            err_console.print(
                f"Warning: {_e(missing)}", style="yellow", highlight=False, soft_wrap=True
            )
    agent_command, db_note = suggested_agent_command(
        record.id,
        db_for_elsewhere(db) if missing is not None else db,
        FUNCTION_PLACEHOLDER if needs_function else None,
        entity=record.entity,
        project=record.project,
    )
    err_console.print(f"Run sweep agent with: [bold]{_e(agent_command)}[/]", soft_wrap=True)
    if db_note:
        err_console.print(_e(db_note), highlight=False, soft_wrap=True)
    click.echo(record.id)


@cli.command()
@click.argument("sweep_id")
@click.option("--count", type=click.IntRange(min=1), default=None, help="Runs to start at most.")
@function_options
@forward_signals_option
@max_failures_option
@execution_options
@db_option
@_friendly
def agent(
    sweep_id: str,
    count: int | None,
    function_ref: str | None,
    project: str | None,
    entity: str | None,
    max_consecutive_failed_runs: int | None,
    db: str | None,
    **execution: Any,
) -> None:
    """Run the sweep's runs (like `wandb agent`): the config's program, or --function."""
    from localsweep._agent_options import split_sweep_path
    from localsweep.store import Store, require_database

    if Path(sweep_id).is_file() or Path(sweep_id).suffix.lower() in _CONFIG_SUFFIXES:
        raise click.UsageError(
            f"{sweep_id} is a config file, not a sweep id: create the sweep with "
            f"`localsweep sweep {sweep_id}` and give its id to the agent (or create and run "
            f"it in one go with `localsweep run {sweep_id}`)"
        )
    try:
        bare_id, path_project, path_entity = split_sweep_path(sweep_id)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="SWEEP_ID") from None
    store = Store(require_database(db))
    record = store.get_sweep(bare_id)
    _run_agent(
        store,
        record.id,
        _function_for(record.config, function_ref),
        db=db,
        function_ref=function_ref,
        count=count,
        # As wandb agent: the project and entity of an E/P/ID path win.
        project=path_project or project,
        entity=path_entity or entity,
        max_failures=max_consecutive_failed_runs,
        **execution,
    )


@cli.command("run", cls=PriorRunsCommand)
@click.argument("config_file", type=click.Path(dir_okay=False))
@click.option("--count", type=click.IntRange(min=1), default=None, help="Runs to start at most.")
@function_options
@forward_signals_option
@max_failures_option
@prior_runs_option
@execution_options
@db_option
@_friendly
def run_command(
    config_file: str,
    count: int | None,
    function_ref: str | None,
    project: str | None,
    entity: str | None,
    max_consecutive_failed_runs: int | None,
    prior_runs: tuple[str, ...],
    db: str | None,
    **execution: Any,
) -> None:
    """Create a sweep from CONFIG_FILE and run it here (the CLI twin of localsweep.run)."""
    from localsweep.config import load_config
    from localsweep.priors._cli import create_sweep, discard_if_unstarted

    config = load_config(_existing(config_file))
    _print_warnings(config.warnings)
    # Before the sweep is made: a sweep whose runs could not start is no use to anyone.
    function = _function_for(config, function_ref)
    _check_execution(function, **execution)
    if function is None:
        from localsweep.agent._workers import require_program

        require_program(config)
    store, record = create_sweep(
        db, config, prior_runs, err_console, project=project, entity=entity
    )
    err_console.print(f"Created sweep [bold]{record.id}[/] in {_e(store.shown_url)}")
    with discard_if_unstarted(store, record.id, err_console):
        _run_agent(
            store,
            record.id,
            function,
            db=db,
            function_ref=function_ref,
            count=count,
            project=project,
            entity=entity,
            max_failures=max_consecutive_failed_runs,
            **execution,
        )
    flag, note = suggested_db_flag(db)
    show = f"localsweep show {record.id}{flag}"
    show_sweep(
        store,
        record.id,
        limit=10,
        show_more=lambda n: f"{show} --limit {n}" + (f" {note}" if note else ""),
    )


def _check_execution(
    function: Callable[..., Any] | None,
    *,
    isolation: str = "thread",
    timeout: float | None = None,
    workers: int | None = None,
    **_: Any,
) -> None:
    """Refuse, as a usage error, options a function run in the agent's own process cannot
    honour (before ``run`` creates a sweep for them)."""
    if function is None or isolation == "process":
        return
    if timeout is not None:
        raise click.UsageError(
            "--timeout needs each run in its own process: add --isolation process (a "
            "function running in the agent's own process cannot be stopped from outside)"
        )
    if (workers or 1) > 1:
        raise click.UsageError(
            f"--workers {workers} needs each run of the function in its own process: add "
            "--isolation process (runs in the agent's own process would share wandb's "
            "global run and its memory)"
        )


def _function_for(config: Any, function_ref: str | None) -> Callable[..., Any] | None:
    """The --function to run, or ``None`` for the config's program (which it must have)."""
    function = load_function(function_ref) if function_ref else None
    if function is None and config.program is None and config.command is None:
        raise click.UsageError(
            "this sweep's config has no `program` or `command`, so the agent has nothing "
            "to start; give a Python function with --function MODULE:FUNC"
        )
    return function


def _run_agent(
    store: Any,
    sweep_id: str,
    function: Callable[..., Any] | None,
    *,
    db: str | None = None,
    function_ref: str | None = None,
    count: int | None,
    project: str | None,
    entity: str | None,
    max_failures: int | None = None,
    workers: int | None = None,
    gpus: str | None = None,
    isolation: str = "thread",
    timeout: float | None = None,
    grace_period: float = 10.0,
    quiet: bool = False,
) -> None:
    from localsweep._agent_options import gpu_list, max_failures_limit
    from localsweep._entry import execute
    from localsweep.config import Method

    _check_execution(function, isolation=isolation, timeout=timeout, workers=workers)
    config = store.get_sweep(sweep_id).config
    if config.method is Method.BAYES and logger.isEnabledFor(logging.DEBUG):
        # Which Optuna sampler and why: a detail for --debug. Only bayes (a custom sweep's
        # search needs the user's study, which the agent loads).
        from localsweep.search import make_search

        logger.debug("bayes: %s", getattr(make_search(config), "reason", None))
    report = execute(
        store,
        sweep_id,
        function,
        project=project,
        entity=entity,
        count=count,
        isolation="process" if isolation == "process" else "thread",
        timeout=timeout,
        workers=workers,
        gpus=gpu_list(gpus),  # checked by --gpus: None, or at least one GPU
        grace_period=grace_period,
        # None: WANDB_AGENT_MAX_INITIAL_FAILURES, else 5.
        max_consecutive_failures=max_failures_limit(max_failures, None),
        progress="quiet" if quiet else "auto",
        # Ctrl-C says how to go on: the same database, the same --function.
        db=db,
        go_on_function=function_ref if function is not None else None,
    )
    done = f"Agent done: {len(report.runs)} run(s); stopped because: {report.stop_reason}"
    if report.lease_lost:
        # Their results were not counted: another agent took them for dead (see above).
        done = done.replace(" run(s);", f" run(s), {report.lease_lost} not counted;", 1)
    err_console.print(_e(done), highlight=False)


def _register_report_commands() -> None:
    from localsweep.cluster._cli import slurm_command
    from localsweep.report._cli import export_command, report_command
    from localsweep.ui._cli import ui_command

    sync_command = importlib.import_module("localsweep._sync._cli").sync_command
    # These modules declare their own --db; the flag that goes with it is added here,
    # where it is defined, so every command that opens a database takes it.
    for command in (report_command, export_command, ui_command, sync_command):
        command.params.append(click.Option(["--allow-network-fs"], **ALLOW_NETWORK_FS))
        cli.add_command(command)
    cli.add_command(slurm_command)
    # ui/_cli.py reads LOCALSWEEP_DB (click's envvar) but its help did not say so.
    for param in ui_command.params:
        if param.name == "db" and isinstance(param, click.Option):
            param.help = (
                "Database: a SQLite path or SQLAlchemy URL "
                "[env LOCALSWEEP_DB; default ./localsweep.db]."
            )
    # The ui serves until stopped; a store error on opening is said in one line.
    assert ui_command.callback is not None
    ui_command.callback = _friendly(ui_command.callback)


_register_report_commands()
register_control_commands(cli, friendly=_friendly, db_option=db_option)
register_db_commands(cli, friendly=_friendly, db_option=db_option)
register_read_commands(cli, friendly=_friendly, db_option=db_option)


def main(argv: Sequence[str] | None = None) -> None:
    cli.main(args=list(argv) if argv is not None else None, prog_name="localsweep")


if __name__ == "__main__":
    from localsweep._main import safe_output_streams

    safe_output_streams()
    main()
