"""``localsweep ui``: the click command the main CLI group adds."""

from __future__ import annotations

import secrets

import click

from localsweep._cli_common import nonempty_db

__all__ = ["ui_command"]


class _MissingExtra(click.ClickException):
    """The ``ui`` extra is not installed: the user's setup to fix, exit code 2."""

    exit_code = 2


@click.command("ui")
@click.option(
    "--db",
    metavar="URL",
    envvar="LOCALSWEEP_DB",
    default=None,
    callback=nonempty_db,
    help="The database: a SQLite path or SQLAlchemy URL (default ./localsweep.db).",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. Anything but loopback needs the printed token.",
)
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535))
@click.option(
    "--no-token",
    is_flag=True,
    help="Serve a non-loopback address without a token (anyone who can reach "
    "it can read and control your sweeps).",
)
@click.option("--read-only", is_flag=True, help="No pause/resume/stop/cancel buttons.")
def ui_command(db: str | None, host: str, port: int, no_token: bool, read_only: bool) -> None:
    """Serve W&B's sweep page, live, for the sweeps of a database.

    Open the printed URL in a browser; from a laptop, forward the port of a login node
    first: ssh -L 8080:127.0.0.1:8080 login-node.
    """
    from localsweep.report._extra import MissingExtraError, require

    # Before anything imports them: without the extra, say which one to install.
    try:
        for module in ("starlette", "uvicorn"):
            require(module, "localsweep ui", extra="ui")
    except MissingExtraError as exc:
        raise _MissingExtra(str(exc)) from None

    from localsweep.store import Store, require_database
    from localsweep.ui._app import UiSettings
    from localsweep.ui._server import bind, is_loopback, serve

    loopback = is_loopback(host)
    token = None if loopback or no_token else secrets.token_urlsafe(24)
    store = Store(require_database(db))  # a viewer never creates a database
    # On loopback (127/8, ::1, or a name for them) no token is needed, and the Host check
    # keeps out other sites' pages (DNS rebinding); it answers to the --host it printed.
    settings = UiSettings(token=token, read_only=read_only, loopback_only=loopback, host=host)
    sock = bind(host, port)  # before saying where to open it: the port may be taken
    port = sock.getsockname()[1]  # --port 0: the one the system gave
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    if ":" in shown and not shown.startswith("["):
        shown = f"[{shown}]"  # an IPv6 address, as URLs write it
    url = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")

    shown_db = store.shown_url
    click.echo(f"localsweep ui for {shown_db}", err=True)
    click.echo(f"open {url}", err=True)
    if not loopback and no_token:
        click.echo(
            "warning: no token: anyone who can reach this address can control your sweeps", err=True
        )
    click.echo("Ctrl-C to stop", err=True)
    serve(store, host=host, port=port, settings=settings, sock=sock)
