"""The ``--prior-runs`` option of ``localsweep sweep`` and ``localsweep run`` (``-R``, as
``wandb sweep`` spells it), and the summary they print."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.markup import escape

if TYPE_CHECKING:
    from localsweep.config import SweepConfig
    from localsweep.priors import PriorRuns
    from localsweep.store import Store, SweepRecord

__all__ = ["PriorRunsCommand", "create_sweep", "discard_if_unstarted", "prior_runs_option"]

_FLAGS = ("-R", "--prior-runs", "--prior-run", "--prior_run")

prior_runs_option = click.option(
    "--prior-runs",
    "--prior-run",
    "--prior_run",
    "-R",
    "prior_runs",
    multiple=True,
    metavar="SOURCE",
    help="Runs done before to learn from (repeatable): a run or sweep id, DB#ID for another "
    "database, a wandb run folder or glob (wandb/offline-run-*), a CSV/JSON runs table.",
)


class PriorRunsCommand(click.Command):
    """A command taking ``-R``: an unquoted glob (``-R wandb/offline-run-*``) reaches it
    expanded by the shell, one folder to ``-R`` and the rest as stray arguments; the
    error then says to quote it."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        flagged = any(a in _FLAGS or a.startswith(("-R", "--prior-run")) for a in args)
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            if flagged and ("extra argument" in exc.message or "is a directory" in exc.message):
                exc.message += (
                    "\nIf -R was given a glob, quote it so that localsweep expands it, not "
                    "the shell: -R 'wandb/offline-run-*'"
                )
            raise


def create_sweep(
    db: str | None,
    config: SweepConfig,
    prior_runs: Sequence[str | os.PathLike[str]],
    console: Console,
    **create: Any,
) -> tuple[Store, SweepRecord]:
    """Open the database ``db`` and create the sweep with its prior runs, printing what was
    taken and skipped; a bad source leaves neither a sweep nor a new database behind."""
    from localsweep._entry import create_with_priors, read_priors_first
    from localsweep.store import Store

    def report(found: PriorRuns) -> None:
        for line in found.summary_lines():
            console.print(escape(line), highlight=False, soft_wrap=True)

    found = read_priors_first(db, config, prior_runs)
    store = Store(db)
    sweep_id, _ = create_with_priors(store, config, prior_runs, report, found=found, **create)
    return store, store.get_sweep(sweep_id)


@contextlib.contextmanager
def discard_if_unstarted(store: Store, sweep_id: str, console: Console) -> Iterator[None]:
    """:func:`localsweep._entry.discard_if_unstarted`, said on the CLI's ``console``."""
    from localsweep._entry import discard_if_unstarted as discard

    with discard(store, sweep_id, lambda text: console.print(escape(text), highlight=False)):
        yield
