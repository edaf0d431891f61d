"""The CLI's rich consoles: fitted to a terminal, written whole when piped.

Output that is not a terminal (``localsweep ls | grep``, ``show ID > runs.txt``, a CI log)
has no width to fit. rich would take 80 columns and fold long lines and table cells over
two, which breaks grep and copying. So when piped, and ``COLUMNS`` is not set, text lines
are written whole (soft wrap) and tables at their natural width. A terminal, or
``COLUMNS`` set, keeps its width.
"""

from __future__ import annotations

import os
from typing import Any

from rich.console import Console
from rich.markup import escape

__all__ = ["CliConsole", "print_table", "safe_text"]


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
