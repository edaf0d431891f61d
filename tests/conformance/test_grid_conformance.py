"""Grid search enumerates exactly the points wandb's engine does, in the same order.

Golden data: ``tests/golden/grid.json`` (see ``tools/golden/README.md``).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from localsweep.config import SweepConfig, parse_config
from localsweep.errors import ConfigError
from localsweep.records import Proposal, RunState, RunView
from localsweep.search._grid import GridSearch

CASES: list[dict[str, Any]] = json.loads(
    (Path(__file__).resolve().parent.parent / "golden" / "grid.json").read_text(encoding="utf-8")
)
GRIDS = [c for c in CASES if "error" not in c]
ERRORS = [c for c in CASES if "error" in c]

# Grid values come from the config or from min + i*q; allow only float-printing noise.
REL = 1e-12

# The engine's flattened-name separator, which its error messages show for nested names.
_ENGINE_NEST = ".wbnest[599c28ca25da]."

Same = Callable[[Any, Any, float], str | None]


def enumerate_grid(cfg: SweepConfig, existing: Sequence[RunView] = ()) -> list[Proposal]:
    """Propose until the grid is exhausted, recording each proposal as a finished run."""
    search = GridSearch(cfg)
    runs = list(existing)
    rng = random.Random(0)
    out: list[Proposal] = []
    # Far more than any golden grid has, so a grid that never ends fails instead of hanging.
    for _ in range(10_000):
        proposal = search.propose(runs, rng)
        if proposal is None:
            return out
        out.append(proposal)
        runs.append(
            RunView(
                id=str(len(runs)),
                state=RunState.FINISHED,
                params=proposal.params,
                grid_key=proposal.grid_key,
            )
        )
    pytest.fail("grid search never returned None")


def check_runs(
    cfg: SweepConfig, proposals: list[Proposal], expected: list[Any], same: Same
) -> None:
    actual = [cfg.nest(p.params) for p in proposals]
    for i, (a, e) in enumerate(zip(actual, expected, strict=False)):
        problem = same(a, e, REL)
        assert problem is None, f"run {i}: {problem}\n  localsweep: {a}\n  engine:     {e}"
    assert len(actual) == len(expected), (
        f"localsweep proposed {len(actual)} runs, the engine {len(expected)}; "
        f"extra or missing: {actual[len(expected) :] or expected[len(actual) :]}"
    )


@pytest.mark.parametrize("case", GRIDS, ids=[c["id"] for c in GRIDS])
def test_grid_enumerates_like_the_engine(case: dict[str, Any], same: Same) -> None:
    cfg = parse_config(case["config"])
    if "existing" in case:
        # Existing runs need real grid keys, so take them from a full enumeration.
        full = enumerate_grid(cfg)
        existing = []
        for i, nested in enumerate(case["existing"]):
            matches = [p for p in full if same(cfg.nest(p.params), nested, REL) is None]
            assert matches, f"existing run {nested} is not a point of localsweep's grid"
            p = matches[0]
            existing.append(
                RunView(id=str(i), state=RunState.FINISHED, params=p.params, grid_key=p.grid_key)
            )
        proposals = enumerate_grid(cfg, existing)
    else:
        proposals = enumerate_grid(cfg)
    check_runs(cfg, proposals, case["runs"], same)


@pytest.mark.parametrize("case", GRIDS, ids=[c["id"] for c in GRIDS])
def test_grid_keys_are_distinct_per_point(case: dict[str, Any]) -> None:
    cfg = parse_config(case["config"])
    keys = [p.grid_key for p in enumerate_grid(cfg)]
    assert None not in keys
    assert len(set(keys)) == len(keys)


@pytest.mark.parametrize("case", ERRORS, ids=[c["id"] for c in ERRORS])
def test_grid_rejects_what_the_engine_cannot_enumerate(case: dict[str, Any]) -> None:
    found = re.match(r"Parameter (\S+) is a disallowed type", case["error"])
    assert found, f"unexpected engine message: {case['error']}"
    name = found.group(1).replace(_ENGINE_NEST, ".")
    with pytest.raises(ConfigError) as info:
        GridSearch(parse_config(case["config"]))
    # The last part of the name is enough (a path may be shown as opt.rate or parameters.opt...).
    leaf = name.split(".")[-1]
    assert leaf in str(info.value), f"the error does not name {name}: {info.value}"
