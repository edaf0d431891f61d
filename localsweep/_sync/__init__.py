"""``localsweep sync``: upload a finished offline sweep to W&B as one sweep with all its runs.

See :func:`sync` and docs/sync.md. The names load on first use, so that the CLI lists its
commands without importing SQLAlchemy and wandb.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from localsweep._lazy import lazy_names

if TYPE_CHECKING:
    from localsweep._sync._report import RunSync, SyncReport
    from localsweep._sync._sync import sync
    from localsweep.wandb_bridge._server import ServerError

__getattr__ = lazy_names(
    __name__,
    {
        "RunSync": "localsweep._sync._report",
        "SyncReport": "localsweep._sync._report",
        "sync": "localsweep._sync._sync",
        "ServerError": "localsweep.wandb_bridge._server",
    },
)

__all__ = ["RunSync", "ServerError", "SyncReport", "sync"]
