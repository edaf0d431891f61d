"""wandb's copy of the console to a run's ``output.log``, as the agent's live display needs it.

When imported, ``wandb.sdk.lib.console_capture`` replaces the ``write`` of ``sys.stdout``
and ``sys.stderr`` (an attribute of each stream object, wrapping the class's ``write``)
with one that calls the running runs' callbacks after each write. While localsweep's
progress bar is live in a terminal, its stand-ins for the two streams (see
:mod:`localsweep.agent._live_streams`) take the run's prints; the bar's own frames go to the
real stream. So the stand-ins get wandb's wrapping (:func:`capture_as_wandb_does`), and
what must not reach ``output.log`` is written past it (:func:`write_past_capture`,
:class:`PastCapture`). All of it is private to wandb (0.31): if it changed, the display is
as right and only ``output.log`` misses the prints.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

__all__ = ["PastCapture", "capture_as_wandb_does", "write_past_capture"]


def capture_as_wandb_does(stream: Any, name: str) -> bool:
    """Give ``stream`` (standing for ``sys.stdout`` or ``sys.stderr``, ``name``) wandb's
    console capture, as wandb gave the real one; whether it took."""
    capture = sys.modules.get("wandb.sdk.lib.console_capture")
    patch = getattr(capture, "_patch", None)
    callbacks = getattr(capture, f"_{name}_callbacks", None)
    if patch is None or not isinstance(callbacks, dict):
        return False
    with contextlib.suppress(Exception):
        patch(stream, callbacks)
        return True
    return False


def write_past_capture(stream: Any, text: str) -> int:
    """Write ``text`` to ``stream`` through its class's ``write``, not wandb's wrapper."""
    return int(type(stream).write(stream, text))


class PastCapture:
    """``stream``, written past wandb's capture: the live display's frames are not the run's
    output."""

    def __init__(self, stream: Any):
        self.stream = stream

    def write(self, text: str) -> int:
        return write_past_capture(self.stream, text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)
