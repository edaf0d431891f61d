"""A one-shot timer that writes a run's waiting rows when the run itself will not soon."""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["FlushTimer"]


class FlushTimer:
    """Calls ``flush`` on a daemon thread once, ``delay`` seconds after :meth:`arm`; armed
    again only after it fired. After :meth:`close` it never fires again."""

    def __init__(self, name: str, flush: Callable[[], None]):
        self.name = name
        self._flush = flush
        self._timer: threading.Timer | None = None
        self.closed = False

    def arm(self, delay: float) -> None:
        """Fire in ``delay`` seconds, unless already armed or closed."""
        if self._timer is not None or self.closed:
            return
        self._timer = threading.Timer(delay, self._fire)
        self._timer.name = self.name
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        self._timer = None
        self._flush()

    def close(self) -> None:
        """Never fire again (a flush already running goes on)."""
        self.closed = True
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
