"""``localsweep sync``: upload a finished offline sweep to W&B as one sweep with all its runs.

See :func:`sync` and docs/sync.md.
"""

from __future__ import annotations

from localsweep._sync._sync import RunSync, SyncReport, sync
from localsweep.wandb_bridge._server import ServerError

__all__ = ["RunSync", "ServerError", "SyncReport", "sync"]
