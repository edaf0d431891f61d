"""A Ctrl-C that is never lost.

Python turns SIGINT into a ``KeyboardInterrupt`` raised wherever the main thread happens to
be. Where that is a weakref callback or a ``__del__`` (an import's module lock, a garbage
collection), Python prints ``Exception ignored in ...`` and carries on: the agent would go
on to claim and run a whole training the user asked it not to. So the handler here also
remembers the interrupt, and the agent checks at its safe points (before claiming, before
starting a run, while waiting on a run's process): a swallowed Ctrl-C stops it there, as a
delivered one would have.

No I/O, no imports beyond the standard library: the ``localsweep`` command installs it
before it imports anything heavy.
"""

from __future__ import annotations

import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import concurrent.futures

__all__ = [
    "clear",
    "deferred",
    "handed_back",
    "install",
    "pending",
    "presses",
    "raise_if_pending",
    "uninstall",
    "wait_done",
]

_pending = False
_presses = 0


def _handler(signum: int, frame: FrameType | None) -> None:
    global _pending, _presses
    _pending = True
    _presses += 1
    raise KeyboardInterrupt


def install() -> bool:
    """Remember every Ctrl-C from now on (main thread, SIGINT at Python's default only: an
    ignored or user-handled SIGINT is left alone). Returns whether it was installed."""
    if threading.current_thread() is not threading.main_thread():
        return False
    try:
        if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            return False
        signal.signal(signal.SIGINT, _handler)
    except ValueError:  # not the main interpreter
        return False
    return True


def uninstall() -> None:
    """Put Python's default back (if ours is there) and forget an unseen interrupt."""
    if threading.current_thread() is threading.main_thread():
        try:
            if signal.getsignal(signal.SIGINT) is _handler:
                signal.signal(signal.SIGINT, signal.default_int_handler)
        except ValueError:  # pragma: no cover - not the main interpreter
            pass
    clear()


def pending() -> bool:
    """Whether a Ctrl-C came that nobody has acted on yet, asked from the main thread
    (elsewhere always ``False``: a ``KeyboardInterrupt`` there would stop one thread, not
    the agent; the main thread stops the others)."""
    return _pending and threading.current_thread() is threading.main_thread()


def presses() -> int:
    """How many Ctrl-Cs came so far (asked from the main thread; elsewhere always 0), the
    swallowed ones too: a second Ctrl-C lost on its way must still hurry a stopping run."""
    return _presses if threading.current_thread() is threading.main_thread() else 0


def clear() -> None:
    """The interrupt was acted on (the agent is stopping for it)."""
    global _pending
    _pending = False


def raise_if_pending() -> None:
    """Raise the ``KeyboardInterrupt`` of a Ctrl-C that was swallowed on its way (see
    :func:`pending`)."""
    if pending():
        raise KeyboardInterrupt


@contextmanager
def deferred() -> Iterator[None]:
    """Hold a Ctrl-C while inside, and raise its ``KeyboardInterrupt`` on leaving.

    For imports: one interrupted half way leaves its package half initialized, and every
    later import of it in this process fails (``partially initialized module 'wandb'``);
    the agent would then fail to read the run it is stopping, and a notebook could not
    use wandb again. Main thread with SIGINT at Python's default or ours only (Python
    runs signal handlers in the main thread; an ignored or user-handled SIGINT is left
    alone).
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous is not signal.default_int_handler and previous is not _handler:
        yield
        return
    held = False

    def hold(signum: int, frame: FrameType | None) -> None:
        nonlocal held
        global _pending, _presses
        held = _pending = True
        _presses += 1

    signal.signal(signal.SIGINT, hold)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if held:
        raise KeyboardInterrupt


@contextmanager
def handed_back() -> Iterator[None]:
    """Run the user's code (a training called in this thread) without losing Ctrl-C to it.

    A training may install a SIGINT handler of its own, to end its epoch loop and finish
    its wandb run cleanly. Left in place, that handler would take every later Ctrl-C from
    the agent: the agent would never stop, and each Ctrl-C would cut a run short that is
    then recorded as a whole one. So the SIGINT handling in place on entering is put back
    on leaving, and a SIGINT that came meanwhile counts as a Ctrl-C (:func:`pending`)
    whichever handler took it: the agent stops before it claims another run, as it does
    when the run has a process of its own.

    Python's signal wakeup fd says that it came: its C-level handler writes the signal's
    number there, whatever Python handler then runs (a training's own included). Only
    while the agent's Ctrl-C handling is in place on entering (a caller's own handler, or
    SIGINT ignored, is left alone, as :func:`install` does), in the main thread, and
    while no one else (an asyncio loop's signal handlers) uses the wakeup fd.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    watch = _SignalWatch.start() if previous in (_handler, signal.default_int_handler) else None
    presses_before = _presses
    try:
        yield
    finally:
        if signal.getsignal(signal.SIGINT) is not previous and previous is not None:
            signal.signal(signal.SIGINT, previous)
        if watch is not None:
            with deferred():  # a Ctrl-C now is held (and counted) until the watch is closed
                came = watch.stop()
                _remember(came - (_presses - presses_before))


def _remember(unseen: int) -> None:
    """Count ``unseen`` SIGINTs that a handler other than ours took as Ctrl-Cs."""
    global _pending, _presses
    if unseen > 0:
        _pending = True
        _presses += unseen


class _SignalWatch:
    """Python's signal wakeup fd, pointed at a socket of ours: how many SIGINTs came."""

    def __init__(self, reader: socket.socket, writer: socket.socket) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    def start(cls) -> _SignalWatch | None:
        reader, writer = socket.socketpair()
        reader.setblocking(False)
        writer.setblocking(False)
        try:
            before = signal.set_wakeup_fd(writer.fileno(), warn_on_full_buffer=False)
        except ValueError:  # not the main interpreter
            before = None
        if before != -1:  # someone else's (an event loop's): theirs, not ours to take
            if before is not None:
                signal.set_wakeup_fd(before)
            reader.close()
            writer.close()
            return None
        return cls(reader, writer)

    def stop(self) -> int:
        """Stop watching; how many SIGINTs came since :meth:`start`."""
        signal.set_wakeup_fd(-1)
        came = b""
        try:
            while chunk := self._reader.recv(4096):
                came += chunk
        except (BlockingIOError, InterruptedError):
            pass
        self._reader.close()
        self._writer.close()
        return came.count(bytes([signal.SIGINT]))


def wait_done(future: concurrent.futures.Future[Any], timeout: float | None = None) -> bool:
    """Wait until ``future`` is done or ``timeout`` seconds have passed; whether it is done.

    ``concurrent.futures.wait`` holds the future's lock while it sets up and tears down
    its wait: a ``KeyboardInterrupt`` raised in there leaves that lock held, and the thread
    that would finish the future blocks on it for good (and so does every later wait on
    it). Here each short wait holds Ctrl-C back (:func:`deferred`), so its interrupt is
    raised between them, with no lock held, at most a quarter of a second late."""
    import concurrent.futures

    deadline = None if timeout is None else time.monotonic() + timeout
    while not future.done():
        left = 0.25 if deadline is None else min(0.25, deadline - time.monotonic())
        if left <= 0:
            return False
        with deferred():
            concurrent.futures.wait([future], timeout=left)
    return True
