"""Serving the UI with uvicorn, and the rules for binding to an address."""

from __future__ import annotations

import errno
import ipaddress
import logging
import socket

import click

from localsweep.store import Store
from localsweep.ui._app import UiSettings, create_app

__all__ = ["bind", "is_loopback", "serve"]

logger = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` keeps the server on this machine."""
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        try:
            return all(
                ipaddress.ip_address(info[4][0]).is_loopback
                for info in socket.getaddrinfo(host, None)
            )
        except OSError:
            return False


def warm_up() -> None:
    """Import what the pages need (plotly, scikit-learn, Optuna: about a second) and load
    plotly's JavaScript before serving, so that no page's first request waits for it."""
    import optuna  # noqa: F401  (parameter importance, on its thread)

    from localsweep.report._extra import require
    from localsweep.report._page import _template
    from localsweep.ui._app import _plotly_js

    require("sklearn", "the sweep page")
    _template()
    _plotly_js()


def bind(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` for :func:`serve`, bound before the command says
    where to open the UI: a port another program holds is an error said at once (uvicorn
    would print the URL's owner's pages' address first, then fail with exit 3)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        why = exc.strerror or str(exc)
        hint = (
            "another program has it (another `localsweep ui`?): choose a free port with --port"
            if exc.errno == errno.EADDRINUSE
            else "check --host and --port"
        )
        raise click.ClickException(f"cannot listen on {host}:{port}: {why}; {hint}") from None
    sock.set_inheritable(True)
    return sock


def serve(
    store: Store, *, host: str, port: int, settings: UiSettings, sock: socket.socket | None = None
) -> None:
    """Serve the UI until interrupted (Ctrl-C), on ``sock`` when given (see :func:`bind`)."""
    import uvicorn

    warm_up()

    config = uvicorn.Config(
        create_app(store, settings),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    uvicorn.Server(config).run(sockets=[sock] if sock is not None else None)
