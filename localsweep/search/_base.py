"""The seam between the agent and a search method."""

from __future__ import annotations

import abc
import random
from collections.abc import Sequence

from localsweep.config import SweepConfig
from localsweep.records import Proposal, RunView

__all__ = ["Search"]


class Search(abc.ABC):
    """Proposes the next run's parameters from the runs so far. No I/O.

    ``runs`` are all runs of the sweep, in creation order, in every state. A search
    object may keep state between calls (a cache), but must give the same answer as a
    fresh object would for the same ``runs`` and ``rng`` state, so that any agent can
    pick up a sweep. ``propose`` returns ``None`` when the method has nothing left to
    offer (a grid whose points have all been claimed).
    """

    def __init__(self, config: SweepConfig):
        self.config = config

    @abc.abstractmethod
    def propose(self, runs: Sequence[RunView], rng: random.Random) -> Proposal | None:
        """The next point to run, or ``None`` when the search space is exhausted."""
