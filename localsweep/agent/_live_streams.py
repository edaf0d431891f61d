"""sys.stdout and sys.stderr while the sweep's progress bar is live in a terminal: what is
printed shows as it would without the bar, and the bar stays at the bottom.

rich's own redirect (``Progress(redirect_stdout=True)``) prints a flushed part of a line as a
line of its own: a tqdm bar (a frame per flush, each starting with ``\\r``) became hundreds
of lines, ``print(..., end=" ", flush=True)`` one line per part. Here a complete line is
printed above the live display as the terminal would show it (the text after its last
``\\r``; ANSI colours kept), and the line being written, flushed or not, is drawn as part of
the live display, just above the bar: tqdm animates there, a partial print shows at once,
and its newline prints it above. What is left of a line when the bar stops is printed then.

A stream that is not a terminal (``> file``) is left alone: what goes there never mixes with
the bar. The proxies look like the streams they stand for (encoding, ``isatty``,
``fileno``...: tqdm draws its unicode bar and wandb its sparklines as they would), and once
removed, one kept by someone (a tqdm made meanwhile) writes to its stream directly.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.progress import Progress
from rich.text import Text

from localsweep.agent._output import shown, unfinished
from localsweep.wandb_bridge._console_capture import capture_as_wandb_does, write_past_capture

__all__ = ["LiveProgress", "LiveStreams"]


def _line_text(line: str) -> Text:
    text = Text.from_ansi(shown(line))
    text.no_wrap = False  # drawn in the live display: wrapped, so its height is known
    text.overflow = "fold"
    return text


class StreamProxy:
    """Stands for ``sys.stdout`` or ``sys.stderr`` (``real``) while the bar is live."""

    def __init__(self, owner: LiveStreams, real: Any, name: str):
        self._owner = owner
        self.real = real
        self.stream_name = name
        #: The line being written: what follows its last newline, cut to its last frame.
        self.partial = ""
        #: Whether the live display has not drawn the partial line as it is now.
        self.changed = False
        #: Removed: writes go to the real stream.
        self.detached = False
        #: Whether wandb copies what is written here (then not again on the real stream).
        self.captured = False

    # What callers read of a stream (tqdm reads encoding; wandb's printer too).
    @property
    def encoding(self) -> str:
        return str(self.real.encoding)

    @property
    def errors(self) -> str | None:
        return getattr(self.real, "errors", None)

    @property
    def closed(self) -> bool:
        return bool(self.real.closed)

    def isatty(self) -> bool:
        return bool(self.real.isatty())

    def fileno(self) -> int:
        return int(self.real.fileno())

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def __getattr__(self, name: str) -> Any:
        if name == "real":  # not set yet (a copy being made): no recursion
            raise AttributeError(name)
        return getattr(self.real, name)

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if self.detached:
            if self.captured:  # wandb copied it already: not once more
                return write_past_capture(self.real, text)
            return int(self.real.write(text))
        self._owner.write(self, text)
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if self.detached:
            self.real.flush()
        else:
            self._owner.flush(self)


class LiveStreams:
    """The proxies of one live display (``console`` prints above it; ``refresh`` redraws
    it). Drawn in the display (it is a rich renderable): each stream's partial line."""

    def __init__(self, console: Console, refresh: Callable[[], None]):
        self.console = console
        self._refresh = refresh
        self._lock = threading.RLock()
        self._proxies: list[StreamProxy] = []
        self._handlers: list[tuple[logging.StreamHandler[Any], Any]] = []

    def install(self) -> None:
        """Put the proxies in place of sys.stdout / sys.stderr, where they are terminals,
        and in the logging handlers that write to them (``logging.basicConfig``'s holds
        sys.stderr as it was: its warnings would be written over the bar)."""
        for name in ("stdout", "stderr"):
            real = getattr(sys, name)
            if real is None or isinstance(real, StreamProxy) or not _is_tty(real):
                continue
            proxy = StreamProxy(self, real, name)
            proxy.captured = capture_as_wandb_does(proxy, name)
            self._proxies.append(proxy)
            setattr(sys, name, proxy)
        by_stream = {id(proxy.real): proxy for proxy in self._proxies}
        for handler in _stream_handlers():
            stands_in = by_stream.get(id(handler.stream))
            if stands_in is not None:
                self._handlers.append((handler, handler.stream))
                handler.setStream(stands_in)

    def remove(self) -> None:
        """Put the streams back; print what is left of a line being written."""
        with self._lock:
            for handler, stream in self._handlers:
                if handler.stream in self._proxies:
                    handler.setStream(stream)
            self._handlers.clear()
            for proxy in self._proxies:
                if getattr(sys, proxy.stream_name) is proxy:
                    setattr(sys, proxy.stream_name, proxy.real)
                left, proxy.partial = shown(proxy.partial), ""
                proxy.detached = True
                if left:
                    self._print([left])
            self._proxies.clear()

    def write(self, proxy: StreamProxy, text: str) -> None:
        with self._lock:
            *lines, rest = (proxy.partial + text).split("\n")
            proxy.partial = unfinished(rest)
            proxy.changed = True
            if lines:
                proxy.changed = False  # printing redraws the display, the partial with it
                self._print(lines)

    def flush(self, proxy: StreamProxy) -> None:
        """Show a partial line now (tqdm and ``print(..., flush=True)`` flush each part)."""
        with self._lock:
            if proxy.changed:
                proxy.changed = False
                self._refresh()

    def _print(self, lines: list[str]) -> None:
        with contextlib.suppress(OSError, ValueError):  # a closed terminal: nothing to show
            self.console.print(Text("\n").join(Text.from_ansi(shown(line)) for line in lines))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        # Read without the lock (the refresh thread draws holding rich's own): each
        # partial is one str, replaced whole.
        for proxy in list(self._proxies):
            partial = proxy.partial
            if shown(partial):
                yield _line_text(partial)


class LiveProgress(Progress):
    """rich's Progress, drawing the lines being written (:class:`LiveStreams`) above its
    bar."""

    streams: LiveStreams | None = None

    def get_renderables(self) -> Iterator[Any]:
        if self.streams is not None:
            yield self.streams
        yield from super().get_renderables()


def _is_tty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, OSError, ValueError):
        return False


def _stream_handlers() -> list[logging.StreamHandler[Any]]:
    loggers: list[Any] = [logging.getLogger()]
    loggers += list(logging.Logger.manager.loggerDict.values())
    found = []
    for logger in loggers:
        for handler in getattr(logger, "handlers", ()):
            if isinstance(handler, logging.StreamHandler):
                found.append(handler)
    return found
