"""Tables printed whole: every cell a user reads as a number, an id or a state is kept on
one line (a number folded over lines reads as another: ``0.0|457|302`` as 0.0), and on a
terminal too narrow for every column, columns are left out with a note saying which and
the width that shows them (``localsweep show`` and ``ls``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from localsweep._console import CliConsole, _piped, print_table

__all__ = ["print_runs", "print_sweeps", "print_whole", "width"]


#: The columns ``ls`` leaves out, in this order, on a terminal too narrow for every
#: column whole.
_LS_DROPPED_FIRST = ("created", "method", "runs", "name")


def print_sweeps(console: Any, head: list[str], rows: list[list[str]]) -> None:
    """The sweeps table, each cell whole but the name's (text, folded at need): ids and
    states are what users copy and read, and a best value folded over lines reads as
    another (``loss=0`` over ``.4``). On a terminal too narrow for every column, columns
    are left out (:data:`_LS_DROPPED_FIRST`), saying which and how to see them."""
    from rich.measure import Measurement
    from rich.table import Table

    def table_of(names: list[str]) -> Table:
        table = Table()
        for name in names:
            i = head.index(name)
            if name == "name":
                table.add_column(name, overflow="fold")
            else:
                table.add_column(name, no_wrap=True, min_width=width(r[i] for r in rows))
        for row in rows:
            table.add_row(*(row[head.index(name)] for name in names))
        return table

    unbounded = console.options.update_width(10_000)
    names = list(head)
    table = table_of(names)
    whole = need = Measurement.get(console, unbounded, table).minimum
    left: list[str] = []
    for drop in _LS_DROPPED_FIRST:
        if _piped(console) or need <= console.width:
            break
        names.remove(drop)
        left.append(drop)
        table = table_of(names)
        need = Measurement.get(console, unbounded, table).minimum
    print_whole(console, table)
    if left:
        console.print(
            f"({', '.join(left)} left out to fit {console.width} columns; a terminal {whole} "
            f"columns wide (or COLUMNS={whole}) shows them)",
            highlight=False,
        )


def print_runs(
    console: Any, head: list[str], params: list[str], rows: list[list[str]], sweep: str
) -> None:
    """The runs table: the ``head`` columns (run, state, metrics), then the ``params``
    columns, each cell whole: run ids and states are what users copy and read, and a number
    folded over lines reads as another (0.0|457|302 as 0.0). On a terminal too narrow for
    every column, the last parameter columns are left out, saying which and how to see
    them; when even the ``head`` columns do not fit, the table is printed wider than the
    terminal, which wraps its lines."""
    from rich.measure import Measurement
    from rich.table import Table

    def table_of(keep: int) -> Table:
        table = Table()
        for i, name in enumerate([*head, *params[:keep]]):
            number = 2 <= i < len(head) and name != "Pareto"  # a metric's column
            justify: Any = "right" if number else "left"
            table.add_column(
                name, justify=justify, no_wrap=True, min_width=width(row[i] for row in rows)
            )
        for row in rows:
            table.add_row(*row[: len(head) + keep])
        return table

    # Its least width without cutting a word: measured unbounded (rich clamps to the width).
    unbounded = console.options.update_width(10_000)
    keep = len(params)
    table = table_of(keep)
    need = whole = Measurement.get(console, unbounded, table).minimum
    while not _piped(console) and need > console.width and keep > 0:
        keep -= 1
        table = table_of(keep)
        need = Measurement.get(console, unbounded, table).minimum
    print_whole(console, table)
    if keep < len(params):
        left = params[keep:]
        console.print(
            f"({len(left)} parameter column{'s' if len(left) != 1 else ''} left out to fit "
            f"{console.width} columns: {', '.join(left)}; a terminal {whole} columns wide "
            f"(or COLUMNS={whole}) shows them; `localsweep export {sweep}` has every value)",
            highlight=False,
        )


def width(cells: Iterable[str]) -> int:
    """The width of a column's widest cell (markup, as ``safe_text`` escapes, left out).
    Given as the ``min_width`` of a ``no_wrap`` column, rich neither folds nor cuts it."""
    from rich.text import Text

    return max((Text.from_markup(cell).cell_len for cell in cells), default=1)


def print_whole(console: Any, table: Any) -> None:
    """Print ``table`` fitted to the terminal, or, where it cannot fit without cutting a
    word or a number (a folded ``0.0|457|302`` reads as 0.0), at its natural width, wider
    than the terminal, which wraps its lines."""
    from rich.measure import Measurement

    least = Measurement.get(console, console.options.update_width(10_000), table)
    if _piped(console) or least.minimum <= console.width:
        print_table(console, table)
    else:
        CliConsole(width=least.maximum, file=console.file).print(table)
