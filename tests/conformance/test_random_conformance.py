"""Random search draws exactly the values wandb's engine draws from the same seed.

The engine seeds Python's ``random`` module once and then, for each run, draws one
``uniform(0, 1)`` per parameter (constants included) in its parameter order and maps it
through the distribution's inverse CDF. ``RandomSearch`` given ``random.Random(seed)``
must give the same 50 runs. Golden data: ``tests/golden/random.json``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from localsweep.config import parse_config
from localsweep.search._random import RandomSearch

CASES: list[dict[str, Any]] = json.loads(
    (Path(__file__).resolve().parent.parent / "golden" / "random.json").read_text(encoding="utf-8")
)

# Same formulas, possibly another scipy/numpy build: allow last-digits noise only.
REL = 1e-9

Same = Callable[[Any, Any, float], str | None]


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_random_draws_like_the_engine(case: dict[str, Any], same: Same) -> None:
    cfg = parse_config(case["config"])
    search = RandomSearch(cfg)
    rng = random.Random(case["seed"])
    for i, expected in enumerate(case["samples"]):
        proposal = search.propose([], rng)
        actual = cfg.nest(proposal.params)
        problem = same(actual, expected, REL)
        assert problem is None, (
            f"sample {i}: {problem}\n  localsweep: {actual}\n  engine: {expected}"
        )
