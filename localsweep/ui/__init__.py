"""``localsweep ui``: W&B's sweep page, live and local, over a localsweep database.

>>> from localsweep.ui import UiSettings, serve                          # doctest: +SKIP
>>> serve(Store("localsweep.db"), host="127.0.0.1", port=8080, settings=UiSettings())

Needs the ``localsweep[ui]`` extra (Starlette, uvicorn, plotly, scikit-learn). Importing
this package imports none of them: the names below load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["CONTROL_ACTIONS", "UiSettings", "create_app", "is_loopback", "serve"]

_WHERE = {
    "CONTROL_ACTIONS": "localsweep.ui._app",
    "UiSettings": "localsweep.ui._app",
    "create_app": "localsweep.ui._app",
    "is_loopback": "localsweep.ui._server",
    "serve": "localsweep.ui._server",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'localsweep.ui' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
