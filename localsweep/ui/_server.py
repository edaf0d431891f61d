"""Serving the UI with uvicorn, and the rules for binding to an address."""

from __future__ import annotations

import ipaddress
import logging
import socket

from localsweep.store import Store
from localsweep.ui._app import UiSettings, create_app

__all__ = ["is_loopback", "serve"]

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


def serve(store: Store, *, host: str, port: int, settings: UiSettings) -> None:
    """Serve the UI until interrupted (Ctrl-C)."""
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
    uvicorn.Server(config).run()
