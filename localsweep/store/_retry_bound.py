"""How long the store retries transient errors: the bound a caller gives (checked here,
once for ``Store(retry_timeout=...)`` and for the ``Store.retry_timeout`` setter), else
``LOCALSWEEP_STORE_TIMEOUT``, else :data:`DEFAULT_RETRY_TIMEOUT`."""

from __future__ import annotations

import math
import os

__all__ = [
    "DEFAULT_RETRY_TIMEOUT",
    "checked_retry_timeout",
    "chosen_timeout",
    "retry_timeout_from_env",
]

#: How long transient errors are retried before a call gives up (``LOCALSWEEP_STORE_TIMEOUT``
#: seconds overrides it): long enough for a database restart, short enough to say so.
DEFAULT_RETRY_TIMEOUT = 180.0


def checked_retry_timeout(seconds: float) -> float:
    """``seconds`` as a retry bound: a number of seconds, at least 0 (``inf``: no bound);
    ``nan`` or a negative number is refused (``nan`` failed in the first transaction, as
    "cannot convert float NaN to integer")."""
    if not seconds >= 0:  # nan compares false
        raise ValueError(f"retry_timeout must be a number of seconds >= 0, not {seconds}")
    return seconds


def chosen_timeout() -> float | None:
    """``LOCALSWEEP_STORE_TIMEOUT`` in seconds when it is one (``inf``: retry as long as it
    takes), else ``None`` (unset, or no number of seconds: ``abc``, ``nan``, negative)."""
    raw = os.environ.get("LOCALSWEEP_STORE_TIMEOUT")
    try:
        value = float(raw) if raw else math.nan
    except ValueError:
        return None
    return value if value >= 0 else None  # nan compares false


def retry_timeout_from_env() -> float:
    """``LOCALSWEEP_STORE_TIMEOUT`` in seconds, else :data:`DEFAULT_RETRY_TIMEOUT`."""
    chosen = chosen_timeout()
    return DEFAULT_RETRY_TIMEOUT if chosen is None else chosen
