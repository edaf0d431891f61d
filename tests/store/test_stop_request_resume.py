"""Hyperband's stop of a run holds across a preemption. The controller asks a running run
to stop (another agent judged it at a band); if its agent was preempted (SIGTERM from the
cluster) before its next flush heard it, the run was requeued, and its resumed attempt
started with the request wiped: it ran on past the band wandb's Hyperband had stopped it
at, spending the budget the stop was for. The resumed attempt now hears the stop at its
first flush, as its first attempt would have."""

from __future__ import annotations

from collections.abc import Callable

from localsweep.config import SweepConfig
from localsweep.records import RunState
from localsweep.store import Claim, HistoryRow, Store

Claimer = Callable[..., Claim]


def test_a_stop_requested_before_a_preemption_reaches_the_resumed_attempt(
    store: Store, claim: Claimer, random_sweep: Callable[..., SweepConfig]
) -> None:
    sweep = store.create_sweep(random_sweep())
    run = claim(store, sweep.id).run
    assert run is not None
    store.append_history(run, [HistoryRow(0, {"loss": 3.0}, 3.0, True)])
    store.request_stops([(run.id, 1)])
    store.requeue_run(run)  # preempted before its next flush heard the stop

    resumed = claim(store, sweep.id).run

    assert resumed is not None and resumed.id == run.id and resumed.attempt == 2
    band = store.append_history(resumed, [HistoryRow(1, {"loss": 2.0}, 2.0, True)])
    assert band == 1
    assert store.get_run(run.id).state is RunState.RUNNING  # the agent stops it now
