"""``localsweep sync``: the click command the main CLI group adds with
``cli.add_command(sync_command)``."""

from __future__ import annotations

import sys

import click
from rich.markup import escape
from rich.table import Table

from localsweep._cli_common import check_output_path, nonempty_db
from localsweep._console import CliConsole, print_table
from localsweep.errors import ConfigError, DatabaseURLError, LocalsweepError, NotFoundError

__all__ = ["sync_command"]

_console = CliConsole(highlight=False)
_err = CliConsole(stderr=True, highlight=False)

_STYLES = {
    "synced": "green",
    "already synced": "green",
    "would sync": "cyan",
    "running": "yellow",
    "prior: uploaded and attached": "green",
    "prior: attached": "green",
    "prior: already attached": "green",
    "prior: already uploaded": "green",
    "prior: would upload": "cyan",
    "prior: would attach": "cyan",
    "prior: left": "yellow",
    "superseded": "yellow",
    "left": "yellow",
    "attached": "green",
    "would attach": "cyan",
}


@click.command("sync")
@click.argument("sweep_id")
@click.option("--entity", "-e", default=None, help="W&B entity (user or team) to upload to.")
@click.option("--project", "-p", default=None, help="W&B project to upload to.")
@click.option(
    "--wandb-dir",
    "wandb_dirs",
    multiple=True,
    metavar="DIR",
    # A folder that is not there is a typo or a copy not made: refused (exit 2) before
    # anything starts, at --dry-run too, rather than its runs reported missing.
    type=click.Path(exists=True, file_okay=False),
    help="A folder holding run folders (a machine's wandb/ folder, copied here); repeatable. "
    "Searched before the folders the agents recorded and ./wandb.",
)
@click.option("--dry-run", is_flag=True, help="Check and print the plan; no network, no writes.")
@click.option(
    "--include-running", is_flag=True, help="Also upload runs still running here (as they are)."
)
@click.option(
    "--keep-running", is_flag=True, help="Leave the server's sweep running even if finished here."
)
@click.option(
    "--prior-runs",
    "prior_runs",
    is_flag=True,
    help="Upload runs without a sweep id and attach them as the sweep's prior runs "
    "(taken by itself when the server refuses runs inside the sweep).",
)
@click.option(
    "--retries",
    type=click.IntRange(min=0),
    default=2,
    show_default=True,
    help="Times a failed run is uploaded again.",
)
@click.option(
    "--parallel",
    "-n",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Runs wandb sync uploads at a time.",
)
@click.option(
    "--staging-dir",
    default=None,
    metavar="DIR",
    help="Where the copies to upload are made (default ./.localsweep-sync/SWEEP_ID).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=1),
    default=20.0,
    show_default=True,
    help="Seconds to wait for the W&B server's answers.",
)
@click.option(
    "--upload-timeout",
    type=click.FloatRange(min=1),
    default=3600.0,
    show_default=True,
    help="Seconds one wandb sync may take before its unfinished runs count as failed.",
)
@click.option(
    "--db",
    envvar="LOCALSWEEP_DB",
    default=None,
    callback=nonempty_db,
    metavar="URL",
    help="The localsweep database [env LOCALSWEEP_DB; default ./localsweep.db].",
)
def sync_command(
    sweep_id: str,
    entity: str | None,
    project: str | None,
    wandb_dirs: tuple[str, ...],
    dry_run: bool,
    include_running: bool,
    keep_running: bool,
    prior_runs: bool,
    retries: int,
    parallel: int,
    staging_dir: str | None,
    timeout: float,
    upload_timeout: float,
    db: str | None,
) -> None:
    """Upload local sweep SWEEP_ID to W&B as one sweep, every run attached.

    Creates the sweep on the server (once: a rerun reuses it), uploads copies of the
    offline run folders that carry the server's sweep id with wandb's own sync code
    (what `wandb sync` runs), and marks the sweep finished when it is finished here.
    The offline folders are never changed. Interrupted, run it again: it uploads only what is left.
    """
    from localsweep._sync import ServerError, sync

    if staging_dir is not None:
        check_output_path(staging_dir, "--staging-dir", "the copies to upload", folder=True)
    try:
        report = sync(
            sweep_id,
            entity=entity,
            project=project,
            db=db,
            wandb_dirs=wandb_dirs,
            dry_run=dry_run,
            include_running=include_running,
            keep_running=keep_running,
            prior_runs=prior_runs,
            retries=retries,
            parallel=parallel,
            staging_dir=staging_dir,
            timeout=timeout,
            upload_timeout=upload_timeout,
            progress=lambda text: _err.print(escape(text)),
        )
    except (ConfigError, NotFoundError, DatabaseURLError) as exc:
        _err.print(f"[bold red]Error:[/] {escape(str(exc))}")
        sys.exit(2)
    except ServerError as exc:
        _err.print(f"[bold red]Error:[/] {escape(str(exc))}")
        sys.exit(1)
    except LocalsweepError as exc:
        _err.print(f"[bold red]Error:[/] {escape(str(exc))}")
        sys.exit(1)
    except KeyboardInterrupt:
        _err.print("Interrupted. Run the same command again to upload the rest.")
        sys.exit(130)

    from localsweep._sync._plan import LEFT, WITHOUT_WANDB

    # Runs that ran without wandb are said once, not a row each: there may be thousands.
    without = [r for r in report.runs if r.outcome == LEFT and r.message == WITHOUT_WANDB]
    rows = [r for r in report.runs if not (r.outcome == LEFT and r.message == WITHOUT_WANDB)]
    if rows:
        table = Table(title=f"{'Dry run: ' if dry_run else ''}runs of {escape(report.sweep_id)}")
        table.add_column("run")
        table.add_column("state")
        table.add_column("outcome")
        table.add_column("note", overflow="fold")
        for run in rows:
            style = _STYLES.get(run.outcome, "red")
            table.add_row(
                escape(run.run_id),
                run.state,
                f"[{style}]{escape(run.outcome)}[/]",
                escape(run.message or ""),
            )
        print_table(_console, table)
    if without:
        _console.print(
            f"{len(without)} run(s) {escape(WITHOUT_WANDB)} (left, not a failure)",
            soft_wrap=True,
        )
    for line in report.prior_lines:
        _console.print(escape(line), soft_wrap=True)
    for warning in report.warnings:
        _err.print(f"[yellow]Warning:[/] {escape(warning)}")
    where = f"{report.entity or '(your default entity)'}/{report.project}"
    left = sum(1 for r in report.runs if r.outcome not in _STYLES)
    if report.nothing_to_upload:
        _console.print(
            f"Nothing to upload: no sweep {'would be' if report.dry_run else 'was'} created "
            f"in {escape(where)}"
        )
        if left:
            _err.print(
                f"[bold red]{left} run(s) could not be uploaded[/]; fix what the table says."
            )
            sys.exit(1)
        return
    if report.dry_run:
        if report.server_sweep:
            _console.print(f"Would reuse sweep {report.server_sweep} in {escape(where)}")
        else:
            _console.print(f"Would create a sweep in {escape(where)}")
        if left:
            # What the sync itself would exit with for what the checks found: a dry run
            # is a pre-check a script can rely on.
            _err.print(
                f"[bold red]{left} run(s) could not be uploaded[/]; fix what the table says "
                "(the sync would upload the rest and exit 1)."
            )
            sys.exit(1)
        return
    path = "runs in the sweep" if report.path == "sweep" else "prior runs of the sweep"
    state = "finished" if report.finished_on_server else "running"
    _console.print(
        f"Sweep {report.server_sweep} in {escape(where)} ({path}, {state}): "
        f"{escape(report.url or '')}",
        soft_wrap=True,
    )
    if not report.ok:
        _err.print(
            f"[bold red]{left} run(s) not uploaded[/]; fix what the table says and run "
            "`localsweep sync` again (synced runs are not uploaded twice)."
        )
        sys.exit(1)
