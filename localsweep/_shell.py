"""Command lines the user may paste: words quoted for a POSIX shell."""

from __future__ import annotations

import os
import shlex

__all__ = ["shell_quote"]


def shell_quote(word: str) -> str:
    """``word`` quoted for the shell, as :func:`shlex.quote` does; a word with bytes that
    are not UTF-8 (a path from another locale, which Python holds as lone surrogates) as
    ``$'...'`` with those bytes as ``\\xNN``, which bash and zsh turn back into them:
    ``shlex.quote`` put Python's surrogates in, which no shell reads as the file's name."""
    try:
        word.encode("utf-8")
    except UnicodeEncodeError:
        body = "".join(
            chr(b) if 32 <= b < 127 and chr(b) not in "\\'" else f"\\x{b:02x}"
            for b in os.fsencode(word)
        )
        return f"$'{body}'"
    return shlex.quote(word)
