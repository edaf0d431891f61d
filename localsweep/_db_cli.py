"""``localsweep db``: database maintenance (``db upgrade``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from localsweep._console import CliConsole
from localsweep._console import safe_text as _e

__all__ = ["register_db_commands"]

console = CliConsole()


def register_db_commands(group: click.Group, **decorators: Callable[[Any], Any]) -> None:
    """Add the ``db`` group to the CLI; ``decorators`` are the CLI's ``friendly`` (errors as
    messages) and ``db_option``."""
    friendly, db_option = decorators["friendly"], decorators["db_option"]

    @group.group()
    def db() -> None:
        """Database maintenance."""

    @db.command("upgrade")
    @db_option
    @click.option(
        "--force",
        is_flag=True,
        help="Upgrade from before schema 0004 although runs are running (their agents are dead).",
    )
    @friendly
    def db_upgrade(db: str | None, force: bool) -> None:
        """Bring an older localsweep database to this version's schema."""
        from localsweep.store._engine import make_engine, resolve_url
        from localsweep.store._migrate import upgrade
        from localsweep.store._urls import shown_url

        url = resolve_url(db)
        done = upgrade(make_engine(url), force=force)
        before = done.before or ("no localsweep schema" if done.other_tables else "empty")
        console.print(f"{_e(shown_url(url))}: schema {before} -> {done.after}", highlight=False)
        if done.recounted:
            console.print(
                f"recounted the run counters of sweep(s) {', '.join(done.recounted)}: they did "
                "not match the runs"
            )
