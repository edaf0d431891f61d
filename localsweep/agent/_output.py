"""A run's child process's output (program mode, or a function with
``isolation="process"``): kept in files and, as ``wandb agent`` leaves it on the terminal,
streamed to the agent's own stdout and stderr as it comes, a partial line too (a tqdm
bar animates); when several workers interleave, whole lines only, each prefixed with the
run id.

A requeued run resumed with the same id keeps its files: each later attempt's output is
added after the earlier ones', after a line ``--- localsweep: attempt N (resumed) ---``."""

from __future__ import annotations

import codecs
import contextlib
import logging
import os
import re
import sys
import threading
from collections import deque
from typing import IO

from localsweep._main import is_utf8

logger = logging.getLogger(__name__)

__all__ = ["OutputTee", "attempt_marker", "open_output", "shown", "this_attempt", "unfinished"]

#: Lines of the child's recent output (stdout and stderr together) kept for messages.
RECENT_LINES = 20

#: One lock for every tee of the process, so lines of different runs do not mix mid-line.
_WRITE_LOCK = threading.Lock()


_MARKER = re.compile(r"^--- localsweep: attempt \d+ \(resumed\) ---$", re.MULTILINE)


def attempt_marker(attempt: int) -> str:
    """The line that starts attempt ``attempt`` (2 and later) of a run in its output files."""
    return f"--- localsweep: attempt {attempt} (resumed) ---"


def open_output(path: str | os.PathLike[str], attempt: int = 1) -> IO[bytes]:
    """A run's ``.out`` or ``.err`` file, open for writing: new for a first attempt; for a
    resumed one (``attempt`` above 1), the earlier attempts' output is kept and this one's
    goes after it, after :func:`attempt_marker`. Open for appending either way: another
    writer may add lines to it meanwhile (a function run's process writes there the
    warnings its agent says itself), and each write goes after them, not over them."""
    if attempt <= 1:
        file = open(path, "ab")  # noqa: SIM115 - the caller closes it
        file.truncate(0)
        return file
    newline = b""
    try:
        with open(path, "rb") as old:
            if old.seek(0, os.SEEK_END):
                old.seek(-1, os.SEEK_END)
                newline = b"" if old.read(1) == b"\n" else b"\n"
    except FileNotFoundError:
        pass
    file = open(path, "ab")  # noqa: SIM115 - the caller closes it
    file.write(newline + f"{attempt_marker(attempt)}\n".encode())
    file.flush()
    return file


def this_attempt(text: str) -> str:
    """The part of a run's output that its last attempt wrote (after the last marker)."""
    *_, last = _MARKER.split(text)
    return last.lstrip("\n")


def shown(text: str) -> str:
    """What a terminal shows of a line written as ``text``: what follows its last carriage
    return (tqdm redraws its bar as ``\\r`` and the new frame, padded over the old one), or,
    if it ends with one, the last part written."""
    parts = [part for part in text.split("\r") if part]
    return parts[-1] if parts else ""


def unfinished(text: str) -> str:
    """A line still being written, as it is kept: its last frame (:func:`shown`), and a
    trailing carriage return, which the next part writes over. A tqdm bar redraws itself
    on one line for as long as it runs: its earlier frames are neither kept nor shown."""
    last = shown(text)
    return last + "\r" if text.endswith("\r") and last else last


class _Pump(threading.Thread):
    """Copies one pipe to its file and to one of the agent's streams."""

    def __init__(self, tee: OutputTee, pipe: IO[bytes], file: IO[bytes], to_stderr: bool):
        super().__init__(name=f"localsweep-output-{tee.run_id}", daemon=True)
        self.tee = tee
        self.pipe = pipe
        self.file = file
        self.to_stderr = to_stderr
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""

    def run(self) -> None:
        fd = self.pipe.fileno()
        writing = True
        try:
            while True:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                if writing:
                    writing = self._write(chunk)
                self._echo(self._decoder.decode(chunk))
            self._echo(self._decoder.decode(b"", final=True), final=True)
        finally:
            self.pipe.close()
            with contextlib.suppress(OSError):  # a full disk: what it could not write is lost
                self.file.close()

    def _write(self, chunk: bytes) -> bool:
        """Copy ``chunk`` to the run's file; ``False`` once that failed (a full disk): the
        output is then only echoed, and the pipe still read, so the run is not hurt by it
        (a closed pipe would kill it with EPIPE at its next print)."""
        try:
            self.file.write(chunk)
            self.file.flush()
            return True
        except OSError as exc:
            logger.warning(
                "run %s: cannot write its output to %s (%s); it is only shown from now on",
                self.tee.run_id,
                getattr(self.file, "name", "its file"),
                exc.strerror or exc,
            )
            return False

    def _echo(self, text: str, final: bool = False) -> None:
        held = self._partial + text
        *done, rest = held.split("\n")
        lines = [shown(line) for line in done]
        if final:
            lines = [line for line in (*lines, shown(rest)) if line]
        self._partial = "" if final else unfinished(rest)
        if lines:
            self.tee.remember(lines)
        if not self.tee.echo:
            return
        if self.tee.prefix:
            # Several runs' output interleaves: only whole lines, each with its run id
            # (a partial line, a tqdm bar's frame, waits for its newline).
            prefix = f"{self.tee.run_id} | "
            out = "".join(f"{prefix}{line}\n" for line in lines)
        else:
            # One run: its output as it comes, as on its own terminal (a tqdm bar's
            # frames, a line printed in parts); a last line without a newline gets one.
            out = text + ("\n" if final and held and not held.endswith("\n") else "")
        if not out:
            return
        stream: IO[str] = sys.stderr if self.to_stderr else sys.stdout
        # A closed or broken terminal must not stop the run.
        with _WRITE_LOCK, contextlib.suppress(OSError, ValueError):
            _write(stream, out)


def _write(stream: IO[str], text: str) -> None:
    """Write a child's output ``text`` on ``stream``, whatever the stream's encoding: never
    dropped (a chunk with one character it cannot encode was lost whole).

    A file or pipe (``nohup``, SLURM's log, ``| tee``) that is not UTF-8 gets the child's
    UTF-8 bytes, as under ``wandb agent``, whose child writes to the inherited descriptor
    (and as the run's ``.out`` file keeps them). A terminal that cannot show a character
    gets it as an escape (``\\xe9``)."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    buffer = getattr(stream, "buffer", None)
    if buffer is not None and not is_utf8(encoding) and not _isatty(stream):
        stream.flush()  # what was written as text before goes first
        buffer.write(text.encode("utf-8"))
        buffer.flush()
        return
    try:
        stream.write(text)
    except UnicodeEncodeError:
        stream.write(text.encode(encoding, "backslashreplace").decode(encoding))
    stream.flush()


def _isatty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (OSError, ValueError):
        return False


class OutputTee:
    """Pumps a child's stdout and stderr pipes into ``stdout_path`` / ``stderr_path`` and,
    when ``echo``, into this process's stdout / stderr (``prefix``: each line starts with
    ``run_id |``). :meth:`recent` gives the last lines seen on either."""

    def __init__(self, run_id: str, *, echo: bool = True, prefix: bool = False):
        self.run_id = run_id
        self.echo = echo
        self.prefix = prefix
        self._recent: deque[str] = deque(maxlen=RECENT_LINES)
        self._lock = threading.Lock()
        self._pumps: list[_Pump] = []
        self._files: tuple[IO[bytes], IO[bytes]] | None = None

    def open(self, stdout_path: str, stderr_path: str, attempt: int = 1) -> None:
        """Open the files the output goes to (run attempt ``attempt``: see
        :func:`open_output`) before the child starts, when it may write to them itself;
        else :meth:`start` opens them. :meth:`close` closes them if :meth:`start` is not
        called."""
        out = open_output(stdout_path, attempt)
        try:
            self._files = (out, open_output(stderr_path, attempt))
        except BaseException:
            out.close()
            raise

    def close(self) -> None:
        """Close the files :meth:`open` opened and no pump took (the child did not start)."""
        files, self._files = self._files, None
        for file in files or ():
            file.close()

    def start(
        self,
        stdout: IO[bytes],
        stderr: IO[bytes],
        stdout_path: str,
        stderr_path: str,
        attempt: int = 1,
    ) -> None:
        """Start copying the child's pipes ``stdout`` and ``stderr`` (run attempt
        ``attempt``: see :func:`open_output`) to the files :meth:`open` opened, or that
        this opens."""
        if self._files is None:
            self.open(stdout_path, stderr_path, attempt)
        assert self._files is not None
        files, self._files = self._files, None
        for pipe, file, to_stderr in ((stdout, files[0], False), (stderr, files[1], True)):
            pump = _Pump(self, pipe, file, to_stderr)
            pump.start()
            self._pumps.append(pump)

    def remember(self, lines: list[str]) -> None:
        with self._lock:
            self._recent.extend(lines)

    def recent(self) -> str:
        """The child's last lines of output so far, stdout and stderr as they came."""
        with self._lock:
            return "\n".join(self._recent).rstrip()

    def join(self, timeout: float = 5.0) -> None:
        """Wait for the pipes to drain (the child has exited; a grandchild may hold them)."""
        for pump in self._pumps:
            pump.join(timeout)
