"""The CLI's rich consoles: fitted to a terminal, written whole when piped.

Output that is not a terminal (``localsweep ls | grep``, ``show ID > runs.txt``, a CI log)
has no width to fit. rich would take 80 columns and fold long lines and table cells over
two, which breaks grep and copying. So when piped, and ``COLUMNS`` is not set, text lines
are written whole (soft wrap) and tables at their natural width. A terminal, or
``COLUMNS`` set, keeps its width.

The agent's own stdout and stderr can stop taking writes under it: their reader went away
(``localsweep agent ... 2>&1 | head -1``), or they go to a full device. :func:`output_fault`
says so, without writing anything, so that the agent records the run in progress as its
own fault, not the training's, and stops (see :mod:`localsweep.agent._agent`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import stat
import sys
import threading
from typing import Any

from rich.console import Console
from rich.markup import escape

__all__ = [
    "CliConsole",
    "OutputStreamError",
    "note_output_fault",
    "output_fault",
    "print_table",
    "safe_text",
    "silence_output",
]


class CliConsole(Console):
    """A rich ``Console`` that soft-wraps (writes lines whole) when not a terminal."""

    _soft_wrap: bool

    @property
    def soft_wrap(self) -> bool:
        return self._soft_wrap or _piped(self)

    @soft_wrap.setter
    def soft_wrap(self, value: bool) -> None:
        self._soft_wrap = value


def _piped(console: Console) -> bool:
    return not console.is_terminal and "COLUMNS" not in os.environ


def print_table(console: Console, table: Any) -> None:
    """Print a table on ``console``; piped, at its natural width, one line per row."""
    if not _piped(console):
        console.print(table)
        return
    wide = console.options.update_width(10_000)
    width = max(console.width, console.measure(table, options=wide).maximum)
    Console(width=width, file=console.file).print(table)


def safe_text(value: Any) -> str:
    """Text from configs, runs and errors, safe to print: rich would read ``[report]`` in
    it as markup and drop it."""
    return escape(str(value))


# ------------------------------------------------------------------ failing streams

#: The errors that say a stream takes no more writes (rather than a passing or odd state:
#: a descriptor the user closed, ``>&-``, is left alone, as before).
_FAULTS = (errno.EPIPE, errno.ENOSPC, errno.EDQUOT)

_noted: dict[int, OSError] = {}
_noted_lock = threading.Lock()


class OutputStreamError(OSError):
    """The agent's stdout or stderr takes no more writes (a full device): what stops it.
    Its reader going away is a :class:`BrokenPipeError` instead, which the command ends
    on quietly with exit 141, as for every command."""


def note_output_fault(fd: int, exc: OSError) -> None:
    """Remember that a write of localsweep's own to ``fd`` (1 or 2) failed with ``exc``: a
    file on a full disk fails only on a write of some bytes, which :func:`output_fault`
    does not make."""
    if exc.errno in _FAULTS:
        with _noted_lock:
            _noted.setdefault(fd, exc)


def output_fault() -> OSError | None:
    """Why this process's stdout or stderr (descriptors 1 and 2) takes no more writes, if
    it does not: a :class:`BrokenPipeError` when its reader went away (a pipe or socket
    whose other end is closed), an :class:`OutputStreamError` when it fails otherwise (a
    full device); ``None`` when both are fine. Nothing is written: a pipe is polled, any
    other stream given a write of no bytes (which ``/dev/full`` refuses)."""
    for fd, name, stream in ((1, "stdout", sys.stdout), (2, "stderr", sys.stderr)):
        fault = _noted.get(fd) or (_fault(fd) if _writes_to(stream, fd) else None)
        if fault is None:
            continue
        if fault.errno == errno.EPIPE:
            return BrokenPipeError(errno.EPIPE, f"the reader of the agent's {name} went away")
        return OutputStreamError(
            fault.errno, f"the agent's {name} cannot be written ({fault.strerror or fault})"
        )
    return None


def _writes_to(stream: Any, fd: int) -> bool:
    """Whether ``stream`` (``sys.stdout``, ``sys.stderr``) writes to descriptor ``fd``: a
    notebook's streams, or the user's redirect, do not, and what fd 1 or 2 is then (the
    kernel's launcher's pipe, long gone) says nothing of where the agent writes."""
    try:
        return bool(stream.fileno() == fd)
    except (AttributeError, OSError, ValueError):
        return False


def _fault(fd: int) -> OSError | None:
    try:
        mode = os.fstat(fd).st_mode
    except OSError:  # closed (`>&-`): nothing is written there, and nothing fails
        return None
    try:
        if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            if not hasattr(select, "poll"):  # Windows: not told without writing
                return None
            poller = select.poll()
            poller.register(fd, select.POLLOUT)
            # A pipe without a reader polls POLLERR (Linux), a socket whose peer closed
            # POLLHUP; a write there would fail with EPIPE.
            if any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0)):
                return BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))
            return None
        os.write(fd, b"")
    except OSError as exc:
        return exc if exc.errno in _FAULTS else None
    return None


def silence_output() -> None:
    """Send what is still buffered for stdout and stderr, and anything more, to /dev/null:
    a failing stream would fail again as Python flushes it at exit, and say so there."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            os.dup2(devnull, stream.fileno())
    os.close(devnull)
