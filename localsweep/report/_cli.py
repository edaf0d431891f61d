"""``localsweep report`` and ``localsweep export``: click commands the main CLI group adds
with ``cli.add_command(report_command)`` and ``cli.add_command(export_command)``."""

from __future__ import annotations

import contextlib
import io
import logging
import shlex
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TextIO, cast

import click
from rich.markup import escape

from localsweep._cli_common import check_output_path, nonempty_db
from localsweep._console import CliConsole
from localsweep._main import is_utf8
from localsweep.errors import (
    ConfigError,
    DatabasePathError,
    DatabaseURLError,
    LocalsweepError,
    NotFoundError,
)
from localsweep.report._extra import MissingExtraError

if TYPE_CHECKING:
    from localsweep.api import Sweep

__all__ = ["export_command", "report_command"]

logger = logging.getLogger(__name__)

# Results go to stderr: `localsweep export ... --format csv` writes the data to stdout.
_console = CliConsole(stderr=True, highlight=False)


def _say(text: str) -> None:
    # Paths and URLs stay on one line, so they can be copied.
    _console.print(text, soft_wrap=True)


class _BadInput(click.ClickException):
    """An unknown sweep id or database path: bad input, exit code 2 as everywhere."""

    exit_code = 2


@contextlib.contextmanager
def _clean_errors() -> Iterator[None]:
    """Show what went wrong as one line, never as a traceback."""
    try:
        yield
    except MissingExtraError as exc:
        raise click.ClickException(str(exc)) from exc
    except (NotFoundError, DatabasePathError, DatabaseURLError, ConfigError) as exc:
        raise _BadInput(str(exc)) from exc
    except LocalsweepError as exc:
        raise click.ClickException(str(exc)) from exc
    except BrokenPipeError:
        raise  # `localsweep export ID | head`: click ends quietly, as the reader meant
    except UnicodeEncodeError as exc:  # a ValueError: the stream's encoding cannot say it
        text = exc.object[exc.start : exc.end]
        raise click.ClickException(
            f"the output's encoding ({exc.encoding}) cannot write {text!a} of the sweep's "
            "runs: write them to a file with -o FILE (UTF-8), or set PYTHONIOENCODING=utf-8"
        ) from exc
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        raise click.ClickException(f"{exc.strerror or exc}{where}") from exc
    except Exception as exc:
        # What a database says (an Optuna storage that is no SQLite file, a server that
        # refuses to create its tables) is said in one line, as by the other commands.
        if not type(exc).__module__.startswith("sqlalchemy"):
            raise
        from localsweep.store._urls import shown_url

        reason = shown_url(" ".join(str(getattr(exc, "orig", None) or exc).split()))
        raise click.ClickException(f"database error: {reason}") from exc


@contextlib.contextmanager
def _utf8_stdout() -> Iterator[TextIO]:
    """stdout for exported data: in UTF-8, as ``-o FILE`` writes it, whatever the locale
    (``PYTHONIOENCODING=ascii``, latin-1): the data, not escapes of it, goes to the file
    or the next program."""
    stdout = sys.stdout
    buffer = getattr(stdout, "buffer", None)
    if buffer is None or is_utf8(stdout.encoding or "utf-8"):
        yield stdout
        stdout.flush()
        return
    stdout.flush()
    utf8 = io.TextIOWrapper(buffer, encoding="utf-8", newline="")
    try:
        yield utf8
        utf8.flush()
    finally:
        utf8.detach()  # stdout keeps its buffer open


def _sweep(sweep_id: str, db: str | None) -> Sweep:
    from localsweep.api import Api

    return Api(db).sweep(sweep_id)


_db_option = click.option(
    "--db",
    metavar="URL",
    default=None,
    help="The localsweep database: a path or SQLAlchemy URL (default: $LOCALSWEEP_DB or "
    "./localsweep.db).",
    callback=nonempty_db,
)


def _check_storage(url: str, own: str) -> None:
    """Refuse an Optuna storage URL (``--to``) that cannot work, as ``--db`` refuses it:
    a dialect or driver SQLAlchemy cannot load, a SQLite file where none can be written
    (its missing folders are made, as for ``--db``), a server that turns the login away
    (exit code 2, naming --to); a server that does not answer is waited for as long as
    for ``--db`` (exit code 1). Nor the sweep's own database (``own``, its URL), into
    which Optuna would put its tables, nor a file that is no SQLite database."""
    from sqlalchemy.engine import make_url

    from localsweep.store._urls import create_engine_for, shown_url

    if _same_database(url, own):
        raise click.BadParameter(
            f"{shown_url(url)} is the sweep's own localsweep database (--db): Optuna would "
            "put its tables into it; give a file of its own, such as the default "
            "optuna-SWEEP_ID.db",
            param_hint="--to",
        )
    try:
        engine = create_engine_for(url)  # the dialect and driver, before any wait
        sqlite = engine.dialect.name == "sqlite"
        engine.dispose()
        database = make_url(url).database or ""
        if not sqlite:
            from localsweep.store import reach

            if reach(url, "--to"):
                raise click.BadParameter(
                    f"{shown_url(url)} is a localsweep database: Optuna would put its tables "
                    "into it; give a database of its own (on this server: CREATE DATABASE "
                    "optuna), or a file such as the default optuna-SWEEP_ID.db",
                    param_hint="--to",
                )
        elif database in ("", ":memory:"):
            raise click.BadParameter(
                "an in-memory Optuna storage is gone when the command ends: give a file "
                "(the default is optuna-SWEEP_ID.db)",
                param_hint="--to",
            )
        elif not database.startswith("file:"):
            from localsweep.store import holds_localsweep_tables, sqlite_head

            check_output_path(database, "--to", "the Optuna storage")
            if holds_localsweep_tables(Path(database)):
                raise click.BadParameter(
                    f"{database} is a localsweep database: Optuna would put its tables into "
                    "it; give a file of its own, such as the default optuna-SWEEP_ID.db",
                    param_hint="--to",
                )
            path = Path(database)
            if sqlite_head(path) is False and path.stat().st_size > 0:
                raise click.BadParameter(
                    f"{database} is a file that is no SQLite database: give the path of an "
                    "Optuna storage or of a new file",
                    param_hint="--to",
                )
            Path(database).parent.mkdir(parents=True, exist_ok=True)
    except DatabaseURLError as exc:
        raise click.BadParameter(str(exc), param_hint="--to") from exc
    except OSError as exc:
        raise click.BadParameter(
            f"cannot write the Optuna storage {shown_url(url)}: {exc.strerror or exc}",
            param_hint="--to",
        ) from exc


def _same_database(url: str, own: str) -> bool:
    """Whether two database URLs name the same database (SQLite: the same file)."""
    from sqlalchemy.engine import make_url

    from localsweep.store._urls import url_without_password

    try:
        a, b = make_url(url), make_url(own)
    except Exception:  # an unparsable --to is said by the checks that follow
        return False
    if a.get_backend_name() == b.get_backend_name() == "sqlite":
        if not a.database or not b.database:
            return False
        try:
            return Path(a.database).resolve() == Path(b.database).resolve()
        except OSError:
            return False
    return url_without_password(url) == url_without_password(own)


@click.command("report")
@click.argument("sweep_id")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Where to write the HTML file (default: report-<SWEEP_ID>.html).",
)
@_db_option
def report_command(sweep_id: str, output: Path | None, db: str | None) -> None:
    """Write one self-contained HTML report of a sweep: overview, metric over runs,
    parameter importance, parallel coordinates, slice plots, learning curves and a
    sortable runs table. Opens offline in any browser."""
    with _clean_errors():
        sweep = _sweep(sweep_id, db)
        target = output or Path(f"report-{sweep.id}.html")
        check_output_path(target, "-o", "the report")
        from localsweep.report._page import write_report

        started = time.perf_counter()
        path = write_report(sweep, target)
        size = path.stat().st_size / 1e6
        from localsweep._hints import sweep_metric_hint

        hint = sweep_metric_hint(sweep)
        if hint:
            _say(f"[yellow]Warning:[/] {escape(hint)}")
    _say(
        f"[green]Wrote[/] {escape(str(path))} ([bold]{len(sweep.runs)}[/] "
        + ("run" if len(sweep.runs) == 1 else "runs")
        + (f" and {len(sweep.prior_runs)} prior runs" if sweep.prior_runs else "")
        + f", {size:.1f} MB, "
        f"{time.perf_counter() - started:.1f}s)"
    )


@click.command("export")
@click.argument("sweep_id")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "json", "optuna"]),
    default=None,
    help="csv or json: one row per run; optuna: an Optuna storage for optuna-dashboard "
    "[default: json for -o FILE.json, else csv].",
)
@click.option(
    "-o",
    "--output",
    metavar="FILE",
    default="-",
    help="For csv and json: the file to write ('-', the default, is stdout).",
)
@click.option(
    "--to",
    "to",
    metavar="URL",
    default=None,
    help="For optuna: the storage URL or SQLite file (default: optuna-<SWEEP_ID>.db).",
)
@_db_option
def export_command(
    sweep_id: str, fmt: str | None, output: str, to: str | None, db: str | None
) -> None:
    """Export a sweep's runs as CSV or JSON (id, name, state, parameters, metric, summary),
    or into an Optuna storage that `optuna-dashboard URL` shows."""
    from localsweep.report._export import export_optuna, export_runs, storage_url

    if fmt is None:  # the file's name says which (-o runs.json writes JSON)
        fmt = "json" if output.lower().endswith(".json") else "csv"

    with _clean_errors():
        sweep = _sweep(sweep_id, db)
        if fmt == "optuna":
            if output != "-":
                raise click.UsageError("--format optuna writes to --to URL, not -o")
            url = storage_url(to or f"optuna-{sweep.id}.db")
            _check_storage(url, sweep._store.url)
            study = export_optuna(sweep, url)
            from localsweep.store._urls import has_password, shown_url, url_without_password

            view = f"optuna-dashboard {shlex.quote(url_without_password(url))}"
            trials = len(study.get_trials(deepcopy=False))
            priors = trials - len(sweep.runs)
            with_priors = f" (with {priors} prior runs)" if priors > 0 else ""
            _say(
                f"[green]Exported[/] {trials} runs{with_priors} of {sweep.id} to "
                f"{escape(shown_url(url))}\n"
                f"View them with: [bold]{escape(view)}[/]"
            )
            if has_password(url):
                _say("(the password is left out: put it in ~/.pgpass or PGPASSWORD)")
            return
        if to is not None:
            raise click.UsageError("--to is for --format optuna; use -o FILE")
        if output != "-":
            check_output_path(output, "-o", f"the {fmt} file")
        table_format = cast(Literal["csv", "json"], fmt)
        if output == "-":
            with _utf8_stdout() as stdout:
                count = export_runs(sweep, table_format, stdout)
        else:
            count = export_runs(sweep, table_format, output)
    where = "stdout" if output == "-" else output
    _say(f"[green]Exported[/] {count} runs of {sweep.id} as {fmt} to {escape(where)}")
