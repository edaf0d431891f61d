"""Search methods: grid, random and bayes propose the next run from the runs so far (no I/O)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from localsweep._lazy import lazy_names
from localsweep.config import Method, SweepConfig
from localsweep.search._base import Search

if TYPE_CHECKING:
    from localsweep.search._custom import UserStudy

__all__ = ["Search", "UserStudy", "make_search"]

# Optuna (and through it tqdm, which warns in a notebook without ipywidgets) is imported
# by the searches that use it, not by every sweep.
__getattr__ = lazy_names(__name__, {"UserStudy": "localsweep.search._custom"})


def make_search(config: SweepConfig, user_study: UserStudy | None = None) -> Search:
    """The search object for ``config.method``.

    ``method: custom`` runs the user's Optuna code (``user_study``, loaded by the agent
    from ``scheduler.source``) when the config names any; otherwise, and for its
    multi-objective ``metrics``, bayes's study, with one direction per metric."""
    if config.method is Method.GRID:
        from localsweep.search._grid import GridSearch

        return GridSearch(config)
    if config.method is Method.RANDOM:
        from localsweep.search._random import RandomSearch

        return RandomSearch(config)
    if config.method is Method.CUSTOM and user_study is not None:
        from localsweep.search._custom import CustomSearch

        return CustomSearch(config, user_study)
    from localsweep.search._bayes import BayesSearch

    return BayesSearch(config)
