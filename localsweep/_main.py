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


#: The error handler :func:`safe_output_streams` gives the streams.
ESCAPE = "localsweep.escape"


def _escape(exc: UnicodeError) -> tuple[str, int]:
    """Python's ``backslashreplace``, but a byte of a file name that was not UTF-8 (which
    Python decodes as a lone surrogate, U+DC80 to U+DCFF) is shown as the byte it was:
    ``b\\xffd``, not ``b\\udcffd``, which names no byte of the name."""
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    shown = []
    for char in exc.object[exc.start : exc.end]:
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:
            code -= 0xDC00
        if code < 0x100:
            shown.append(f"\\x{code:02x}")
        elif code < 0x10000:
            shown.append(f"\\u{code:04x}")
        else:
            shown.append(f"\\U{code:08x}")
    return "".join(shown), exc.end


codecs.register_error(ESCAPE, _escape)


def safe_output_streams() -> None:
    """Make ``sys.stdout`` and ``sys.stderr`` write a character their encoding has no byte
    for as an escape (``adam\\xe9``), as Python's own stderr does, instead of raising
    ``UnicodeEncodeError`` mid-table (``PYTHONIOENCODING=ascii``, a latin-1 locale: a
    name or value with ``é`` or ``✓`` ended ``show``, ``ls`` and ``run`` in a traceback).
    A UTF-8 stream can write any character, but not the bytes of a file name that is not
    UTF-8 (``--db`` in such a folder): they are shown as ``\\xff`` too. A stream that
    writes them back as bytes (``surrogateescape``, as ``ls`` does) is left so. Called by
    the CLI only: the library never changes the process's streams."""
    for stream in (sys.stdout, sys.stderr):
        if not isinstance(stream, io.TextIOWrapper):
            continue
        if is_utf8(stream.encoding):
            change = stream.errors in ("strict", "backslashreplace")
        else:
            change = stream.errors in ("strict", "surrogateescape", "backslashreplace")
        if change:
            with contextlib.suppress(ValueError):  # closed
                stream.reconfigure(errors=ESCAPE)


def is_utf8(encoding: str | None) -> bool:
    """Whether ``encoding`` is UTF-8 under any of its names (an unknown one is not)."""
    try:
        return codecs.lookup(encoding or "").name == "utf-8"
    except LookupError:
        return False


if __name__ == "__main__":
    main()
