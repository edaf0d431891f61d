"""The ``localsweep`` command's entry point: Ctrl-C is taken care of before anything heavy
is imported, so an early one ends in ``Interrupted.`` (exit 130), not a traceback from
inside an import, and a swallowed one is still seen (see :mod:`localsweep._interrupt`).
Its output is readable on any terminal: see :func:`safe_output_streams`."""

from __future__ import annotations

import codecs
import contextlib
import errno
import io
import os
import sys

from localsweep import _interrupt

__all__ = ["is_utf8", "main", "safe_output_streams"]


def main() -> None:
    _interrupt.install()
    safe_output_streams()
    try:
        from localsweep.cli import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        sys.exit(130)
    from localsweep._console import OutputStreamError, output_fault, silence_output

    try:
        cli_main()
    except OutputStreamError:
        # The agent's stdout or stderr takes no more writes (`2>/dev/full`): it stopped
        # with its run recorded, and there is nowhere to say so. Exit 1, and nothing
        # more written: Python would fail to flush the stream at exit and say so there.
        silence_output()
        sys.exit(1)
    except OSError as exc:
        # Any command's output to a full device (`ls > /dev/full`, `--version` too): one
        # line on stderr if it still takes one, not a traceback.
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT) or output_fault() is None:
            raise
        with contextlib.suppress(OSError, ValueError):
            sys.stderr.write(f"Error: the output cannot be written ({os.strerror(exc.errno)})\n")
            sys.stderr.flush()
        silence_output()
        sys.exit(1)


def safe_output_streams() -> None:
    """Make ``sys.stdout`` and ``sys.stderr`` write a character their encoding has no byte
    for as an escape (``adam\\xe9``), as Python's own stderr does, instead of raising
    ``UnicodeEncodeError`` mid-table (``PYTHONIOENCODING=ascii``, a latin-1 locale: a
    name or value with ``é`` or ``✓`` ended ``show``, ``ls`` and ``run`` in a traceback).
    A UTF-8 stream, which can write anything, is left as it is. Called by the CLI only:
    the library never changes the process's streams."""
    for stream in (sys.stdout, sys.stderr):
        if not isinstance(stream, io.TextIOWrapper) or is_utf8(stream.encoding):
            continue
        if stream.errors in ("strict", "surrogateescape"):
            with contextlib.suppress(ValueError):  # closed
                stream.reconfigure(errors="backslashreplace")


def is_utf8(encoding: str | None) -> bool:
    """Whether ``encoding`` is UTF-8 under any of its names (an unknown one is not)."""
    try:
        return codecs.lookup(encoding or "").name == "utf-8"
    except LookupError:
        return False


if __name__ == "__main__":
    main()
