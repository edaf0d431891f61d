"""Random search: every parameter drawn from its distribution, independently of past runs."""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from typing import Any

from localsweep.config import ParamPath
from localsweep.records import Proposal, RunView
from localsweep.search._base import Search

__all__ = ["RandomSearch"]

log = logging.getLogger(__name__)


class RandomSearch(Search):
    """``method: random``: one uniform draw per parameter, mapped through its distribution.

    Parameters are drawn in the config's order (names sorted at every nesting level),
    and constants use up a draw too, exactly as wandb's engine does; so with
    ``random.Random(s)`` the values match the engine's after ``random.seed(s)``. The
    search never runs out, and ignores ``runs``.

    >>> import random
    >>> from localsweep.config import parse_config
    >>> cfg = parse_config({"method": "random", "parameters": {"x": {"values": [1, 2, 3]}}})
    >>> RandomSearch(cfg).propose([], random.Random(0)).params[("x",)] in (1, 2, 3)
    True
    """

    def propose(self, runs: Sequence[RunView], rng: random.Random) -> Proposal:
        """A fresh random point; ``runs`` are not consulted."""
        params: dict[ParamPath, Any] = {}
        for param in self.config.parameters:
            params[param.path] = param.ppf(rng.random())
        log.debug("random proposal %s", params)
        return Proposal(params=params)
