"""Helpers for the store tests: a store on every backend, configs, and claims made through
the real search, as an agent makes them."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from localsweep.config import SweepConfig, parse_config
from localsweep.records import Proposal, RunView
from localsweep.search import make_search
from localsweep.store import AgentInfo, Claim, Store


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=[pytest.mark.postgres, pytest.mark.slow]),
    ]
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """An empty store: a SQLite file, and a fresh database on a real PostgreSQL server."""
    if request.param == "sqlite":
        url = str(tmp_path / "sweeps.db")
    else:
        url = request.getfixturevalue("postgres_db")
    s = Store(url)
    yield s
    s.close()


def _grid(n: int = 3, **top: Any) -> SweepConfig:
    raw: dict[str, Any] = {
        "method": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"x": {"values": list(range(n))}},
    }
    raw.update(top)
    return parse_config(raw)


def _random(**top: Any) -> SweepConfig:
    raw: dict[str, Any] = {
        "method": "random",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"x": {"min": 0.0, "max": 1.0}},
    }
    raw.update(top)
    return parse_config(raw)


@pytest.fixture
def grid() -> Callable[..., SweepConfig]:
    """``grid(n, **top)``: a grid over ``x`` in ``0..n-1``, metric ``loss`` minimized."""
    return _grid


@pytest.fixture
def random_sweep() -> Callable[..., SweepConfig]:
    """``random_sweep(**top)``: random ``x`` in [0, 1], metric ``loss`` minimized."""
    return _random


def _claim(store: Store, sweep_id: str, agent: AgentInfo | None = None) -> Claim:
    config = store.get_sweep(sweep_id).config
    search = make_search(config)

    def propose(runs: Sequence[RunView], number: int) -> Proposal | None:
        return search.propose(runs, random.Random(number))

    return store.claim_run(sweep_id, agent or AgentInfo.current(), propose, nest=config.nest)


@pytest.fixture
def claim() -> Callable[..., Claim]:
    """``claim(store, sweep_id, agent=None)``: claim the next run through the real search."""
    return _claim
