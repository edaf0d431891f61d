"""Every sweep control is safe to replay. A write whose commit's answer is lost (the
connection broke after the server committed) runs again, and finds its own change made:
``resume`` then found the sweep running and refused ("only a paused, stopped or cancelled
sweep can be resumed"), so ``localsweep sweep --resume`` failed on a sweep it had resumed.
A resume that finds the sweep resumed by its own earlier attempt now succeeds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from test_store_faults import _LoseTheNextCommitAnswer

from localsweep.config import SweepConfig
from localsweep.errors import SweepControlError
from localsweep.records import SweepState
from localsweep.store import Claim, Store

Claimer = Callable[..., Claim]


@pytest.mark.parametrize("halt", ["pause", "stop", "cancel"])
def test_a_resume_whose_commit_answer_was_lost_succeeds(
    tmp_path: Path, claim: Claimer, grid: Callable[..., SweepConfig], halt: str
) -> None:
    store = Store(tmp_path / "sweeps.db")
    lose = _LoseTheNextCommitAnswer(store)
    sweep = store.create_sweep(grid(3))
    assert claim(store, sweep.id).run is not None
    lose.armed = True
    store.control_sweep(sweep.id, halt)  # replayed too: pause, stop, cancel were safe already
    assert lose.fired == 1

    lose.armed = True
    resumed = store.control_sweep(sweep.id, "resume")

    assert lose.fired == 2
    assert resumed.state is SweepState.RUNNING
    assert claim(store, sweep.id).run is not None
    store.close()


def test_a_resume_of_a_running_sweep_is_still_refused(
    tmp_path: Path, claim: Claimer, grid: Callable[..., SweepConfig]
) -> None:
    """Only the replay of a resume that saw the sweep paused passes: a plain resume of a
    running sweep says why not, as before."""
    store = Store(tmp_path / "sweeps.db")
    sweep = store.create_sweep(grid(3))
    assert claim(store, sweep.id).run is not None
    with pytest.raises(SweepControlError, match="only a paused, stopped or cancelled"):
        store.control_sweep(sweep.id, "resume")
    store.close()
