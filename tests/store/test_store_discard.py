"""``Store.discard_unstarted_sweep``: ``localsweep run`` removes the sweep it made when its
agent could not start, and only such a sweep."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from localsweep.config import SweepConfig
from localsweep.errors import NotFoundError
from localsweep.store import Claim, Store


def test_a_sweep_without_runs_is_discarded(store: Store, grid: Callable[..., SweepConfig]) -> None:
    sweep = store.create_sweep(grid())
    kept = store.create_sweep(grid())

    assert store.discard_unstarted_sweep(sweep.id)

    with pytest.raises(NotFoundError):
        store.get_sweep(sweep.id)
    assert [s.id for s in store.list_sweeps()] == [kept.id]


def test_a_sweep_with_a_run_of_its_own_stays(
    store: Store, grid: Callable[..., SweepConfig], claim: Callable[..., Claim]
) -> None:
    sweep = store.create_sweep(grid())
    claimed = claim(store, sweep.id)

    assert not store.discard_unstarted_sweep(sweep.id)

    assert store.get_sweep(sweep.id).id == sweep.id
    assert claimed.run is not None
    assert store.get_run(claimed.run.id).sweep_id == sweep.id
