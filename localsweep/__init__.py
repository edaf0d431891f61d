"""localsweep: W&B sweeps without a W&B server."""

from __future__ import annotations

__version__ = "0.1.0"
