"""Heartbeats are wall-clock times. A laptop that sleeps through the night with two agents
wakes with every heartbeat hours old, though each agent beats again within seconds (its
beat interval is monotonic time, which stood still). The first claim after waking used to
take the other agent's live run for dead (``lease_lost``) and throw away its work. An agent
that sees the wall clock jump ahead of its monotonic clock now takes no run for dead by its
heartbeat for a while; a run whose agent is really gone is reaped when that is over."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from test_store_heartbeat_timeouts import HOLDER, _silent_for

from localsweep.config import SweepConfig
from localsweep.records import RunState
from localsweep.store import AgentInfo, Claim, ClaimOutcome, Store, _reaper

Claimer = Callable[..., Claim]
LOOKER = AgentInfo(id="looker-agent", host="this-machine.invalid", pid=2)
SLEPT = 8 * 3600.0


def test_after_a_suspend_a_live_agents_run_is_not_taken_for_dead(
    store: Store, claim: Claimer, grid: Callable[..., SweepConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    sweep = store.create_sweep(grid(6))
    held = claim(store, sweep.id, HOLDER).run
    assert held is not None
    looker = Store(store.url)
    try:
        assert claim(looker, sweep.id, LOOKER).outcome is ClaimOutcome.CLAIMED  # awake
        # The machine slept: the wall clock moved on, the monotonic clock did not, and the
        # holder's last heartbeat is as old as the night.
        monkeypatch.setattr(_reaper, "_wall", lambda: time.time() + SLEPT)
        monkeypatch.setattr(_reaper, "REAP_INTERVAL", 0.0)
        _silent_for(store, held.id, SLEPT)

        woke = claim(looker, sweep.id, LOOKER)

        assert woke.outcome is ClaimOutcome.CLAIMED
        assert held.id not in woke.reaped
        assert store.get_run(held.id).state is RunState.RUNNING
        # Its agent beats again (within its interval), and the run is its own.
        assert store.heartbeat([held]) == set()  # still its own
        assert claim(looker, sweep.id, LOOKER).reaped == ()
        assert store.get_run(held.id).state is RunState.RUNNING

        # An agent that did not come back: once the hold is over, it is reaped as before.
        monkeypatch.setattr(_reaper, "CLOCK_JUMP_HOLD", 0.0)
        _silent_for(store, held.id, SLEPT)
        monkeypatch.setattr(_reaper, "_wall", lambda: time.time() + 2 * SLEPT)
        later = claim(looker, sweep.id, LOOKER)
        assert later.reaped == (held.id,)
        stored = store.get_run(held.id)
        assert (stored.state, stored.end_reason) == (RunState.CRASHED, "lease_lost")
    finally:
        looker.close()


def test_without_a_jump_a_silent_run_is_reaped_at_once(
    store: Store, claim: Claimer, grid: Callable[..., SweepConfig], monkeypatch: pytest.MonkeyPatch
) -> None:
    sweep = store.create_sweep(grid(6))
    held = claim(store, sweep.id, HOLDER).run
    assert held is not None
    looker = Store(store.url)
    try:
        claim(looker, sweep.id, LOOKER)
        monkeypatch.setattr(_reaper, "REAP_INTERVAL", 0.0)
        _silent_for(store, held.id, SLEPT)  # its agent died: the clock did not jump
        assert claim(looker, sweep.id, LOOKER).reaped == (held.id,)
    finally:
        looker.close()


def test_slow_drift_of_the_clock_is_not_a_jump() -> None:
    reaper = _reaper.Reaper()
    assert not reaper.watch_clock(1000.0, 10.0)
    assert not reaper.watch_clock(1000.0 + 3600 + 1.5, 10.0 + 3600)  # NTP slewing, an hour
    assert reaper.watch_clock(1000.0 + 7200 + 60, 10.0 + 7200)  # a minute's sleep
    # Two days into a run, a sleep longer than the heartbeat timeout is a jump all the same.
    reaper = _reaper.Reaper()
    reaper.watch_clock(1e9, 100.0)
    assert reaper.watch_clock(1e9 + 2 * 86400 + 150, 100.0 + 2 * 86400)
