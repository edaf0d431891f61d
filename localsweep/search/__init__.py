"""Search methods: grid, random and bayes propose the next run from the runs so far (no I/O)."""

from __future__ import annotations

from localsweep.config import Method, SweepConfig
from localsweep.search._base import Search

__all__ = ["Search", "make_search"]


def make_search(config: SweepConfig) -> Search:
    """The search object for ``config.method``."""
    if config.method is Method.GRID:
        from localsweep.search._grid import GridSearch

        return GridSearch(config)
    if config.method is Method.RANDOM:
        from localsweep.search._random import RandomSearch

        return RandomSearch(config)
    from localsweep.search._bayes import BayesSearch

    return BayesSearch(config)
