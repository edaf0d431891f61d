"""Leases, requeue and sweep control: the same on SQLite and on a real PostgreSQL server.

Every result counts once: a run's end is written only by the agent that still holds it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, text

from localsweep.config import SweepConfig
from localsweep.errors import LeaseLostError, SweepControlError
from localsweep.records import RunState, SweepState
from localsweep.store import AgentInfo, Claim, ClaimOutcome, HistoryRow, RunRecord, Store, _runs

Claimer = Callable[..., Claim]
REMOTE = AgentInfo(id="remote-agent", host="another-machine.invalid", pid=1)


def _backdate_heartbeat(store: Store, run_id: str, seconds: float) -> None:
    # SQL, not the Store API: agents only ever beat "now", and waiting out the real
    # timeout would make a slow test.
    old = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(seconds=seconds)
    engine = create_engine(store.url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE runs SET heartbeat_at = :t WHERE id = :id"), {"t": old, "id": run_id}
            )
    finally:
        engine.dispose()


def _row(step: int, loss: float) -> HistoryRow:
    return HistoryRow(step=step, data={"loss": loss}, metric=loss, has_metric=True)


def _finish(store: Store, run: RunRecord, loss: float, **kw: object) -> RunRecord:
    return store.finish_run(
        run, RunState.FINISHED, history=[_row(9, loss)], summary={"loss": loss}, metric=loss,
        exit_code=0, **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def _claimed(
    claim: Claimer, store: Store, sweep_id: str, agent: AgentInfo | None = None
) -> RunRecord:
    result = claim(store, sweep_id, agent)
    assert result.outcome is ClaimOutcome.CLAIMED, result
    assert result.run is not None
    return result.run


def _reaped(store: Store, claim: Claimer, sweep_id: str) -> RunRecord:
    """A run of a remote agent, reaped as crashed by a local claim (which takes a run)."""
    run = _claimed(claim, store, sweep_id, REMOTE)
    _backdate_heartbeat(store, run.id, seconds=1000)
    assert run.id in claim(store, sweep_id).reaped
    return run


def test_every_claim_hands_out_a_distinct_lease_and_attempt_one(
    store: Store, claim: Claimer, grid: Callable[..., SweepConfig]
) -> None:
    sweep = store.create_sweep(grid(3))
    a, b = _claimed(claim, store, sweep.id), _claimed(claim, store, sweep.id)
    assert a.lease and b.lease and a.lease != b.lease
    assert (a.attempt, b.attempt) == (1, 1)
    assert store.get_run(a.id).lease == a.lease


def test_a_replayed_finish_succeeds_and_writes_its_rows_once(
    store: Store, claim: Claimer, grid: Callable[..., SweepConfig]
) -> None:
    sweep = store.create_sweep(grid(2))
    run = _claimed(claim, store, sweep.id)
    _finish(store, run, 0.5)
    again = _finish(store, run, 0.5)  # as a retry whose first commit went through
    assert again.state is RunState.FINISHED
    assert store.history(run.id) == [{"loss": 0.5, "_step": 9}]


def test_rows_of_a_reaped_run_are_kept_but_never_count(
    store: Store, claim: Claimer, grid: Callable[..., SweepConfig]
) -> None:
    sweep = store.create_sweep(grid(3))
    run = _reaped(store, claim, sweep.id)
    with pytest.raises(LeaseLostError, match="crashed"):
        store.append_history(run, [_row(0, 1.0)])
    with pytest.raises(LeaseLostError):
        store.append_history(run, [])  # a poll for stop requests learns it too
    assert store.history(run.id) == [{"loss": 1.0, "_step": 0}]
    assert run.id not in store.metric_histories(sweep.id)
    assert all(v.history == () for v in store.metric_views(sweep.id) if v.id == run.id)


def test_a_replayed_history_write_adds_no_rows(
    store: Store, claim: Claimer, grid: Callable[..., SweepConfig]
) -> None:
    sweep = store.create_sweep(grid(2))
    run = _claimed(claim, store, sweep.id)
    rows = [_row(0, 3.0), _row(1, 2.0)]
    # The unit of work the store's retry re-runs after a commit whose answer was lost.
    for _ in range(2):
        store._session.write(
            lambda c: _runs.append_history(c, run, rows, "batch-1", store.url), "test"
        )
    store.append_history(run, [_row(2, 1.0)])
    assert [r["_step"] for r in store.history(run.id)] == [0, 1, 2]


def test_a_heartbeat_reports_the_runs_this_agent_no_longer_holds(
    store: Store, claim: Claimer, grid: Callable[..., SweepConfig]
) -> None:
    sweep = store.create_sweep(grid(4))
    lost = _reaped(store, claim, sweep.id)
    held = _claimed(claim, store, sweep.id, REMOTE)
    assert store.heartbeat([lost, held]) == {lost.id}
    assert store.heartbeat([held]) == set()


def test_a_preempted_run_is_resumed_with_its_id_config_and_a_new_lease(
    store: Store, claim: Claimer, grid: Callable[..., SweepConfig]
) -> None:
    sweep = store.create_sweep(grid(3))
    first = _claimed(claim, store, sweep.id, REMOTE)
    store.append_history(first, [_row(0, 3.0)])
    requeued = store.requeue_run(first, history=[_row(1, 2.0)], summary={"loss": 2.0})
    assert requeued.state is RunState.PREEMPTED
    stored = store.get_run(first.id)
    assert (stored.state, stored.end_reason) == (RunState.PREEMPTED, "preempted")
    assert not stored.state.is_finished
    resumed = _claimed(claim, store, sweep.id)  # before any new grid point
    assert (resumed.id, resumed.number, resumed.config) == (first.id, first.number, first.config)
    assert resumed.attempt == 2 and resumed.lease != first.lease
    assert resumed.point_key == first.point_key
    store.append_history(resumed, [_row(2, 1.0)])
    _finish(store, resumed, 1.0)
    assert [r["_step"] for r in store.history(first.id)] == [0, 1, 2, 9]
    # The old attempt can no longer write anything.
    with pytest.raises(LeaseLostError):
        store.append_history(first, [_row(5, 0.0)])


def test_a_preempted_run_counts_once_for_run_cap(
    store: Store, claim: Claimer, random_sweep: Callable[..., SweepConfig]
) -> None:
    sweep = store.create_sweep(random_sweep(run_cap=2))
    a = _claimed(claim, store, sweep.id)
    b = _claimed(claim, store, sweep.id)
    store.requeue_run(a)
    # The cap is reached, yet the preempted run is handed out again.
    a2 = _claimed(claim, store, sweep.id)
    assert a2.id == a.id
    _finish(store, a2, 0.1)
    _finish(store, b, 0.2)
    assert claim(store, sweep.id).outcome is ClaimOutcome.RUN_CAP
    assert len(store.list_runs(sweep.id)) == 2
    assert store.get_sweep(sweep.id).state is SweepState.FINISHED


def test_a_grid_does_not_finish_while_a_point_waits_to_be_resumed(
    store: Store, claim: Claimer, grid: Callable[..., SweepConfig]
) -> None:
    sweep = store.create_sweep(grid(2))
    a, b = _claimed(claim, store, sweep.id), _claimed(claim, store, sweep.id)
    _finish(store, b, 0.2)
    store.requeue_run(a)
    assert store.get_sweep(sweep.id).state is SweepState.RUNNING
    a2 = _claimed(claim, store, sweep.id)
    _finish(store, a2, 0.1)
    assert store.get_sweep(sweep.id).finished_reason == "exhausted"
    assert {r.state for r in store.list_runs(sweep.id)} == {RunState.FINISHED}


def test_an_interrupted_run_gives_its_grid_point_back_and_does_not_count(
    store: Store, claim: Claimer, grid: Callable[..., SweepConfig]
) -> None:
    sweep = store.create_sweep(grid(2, run_cap=2))
    a, b = _claimed(claim, store, sweep.id), _claimed(claim, store, sweep.id)
    store.finish_run(a, RunState.KILLED, end_reason="interrupted")
    assert store.get_run(a.id).grid_key is None
    _finish(store, b, 0.2)
    again = _claimed(claim, store, sweep.id)
    assert again.point_key == a.point_key
    _finish(store, again, 0.1)
    assert claim(store, sweep.id).outcome in (ClaimOutcome.RUN_CAP, ClaimOutcome.EXHAUSTED)
    assert store.get_sweep(sweep.id).state is SweepState.FINISHED


def test_a_paused_sweep_hands_out_nothing_until_resumed(
    store: Store, claim: Claimer, grid: Callable[..., SweepConfig]
) -> None:
    sweep = store.create_sweep(grid(3))
    running = _claimed(claim, store, sweep.id)
    assert store.control_sweep(sweep.id, "pause").state is SweepState.PAUSED
    assert store.sweep_state(sweep.id) is SweepState.PAUSED
    assert claim(store, sweep.id).outcome is ClaimOutcome.PAUSED
    _finish(store, running, 0.3)  # a run in flight still ends normally
    assert store.control_sweep(sweep.id, "resume").state is SweepState.RUNNING
    assert _claimed(claim, store, sweep.id).number == 1


def test_a_stopped_sweep_lets_its_runs_finish_and_can_be_resumed(
    store: Store, claim: Claimer, grid: Callable[..., SweepConfig]
) -> None:
    sweep = store.create_sweep(grid(3))
    running = _claimed(claim, store, sweep.id)
    stopped = store.control_sweep(sweep.id, "stop")
    assert (stopped.state, stopped.finished_reason) == (SweepState.FINISHED, "stopped")
    assert claim(store, sweep.id).outcome is ClaimOutcome.FINISHED
    assert _finish(store, running, 0.3).state is RunState.FINISHED
    assert store.control_sweep(sweep.id, "resume").state is SweepState.RUNNING
    assert _claimed(claim, store, sweep.id).number == 1


def test_a_cancelled_sweep_records_its_stopped_runs_and_reruns_them_on_resume(
    store: Store, claim: Claimer, grid: Callable[..., SweepConfig]
) -> None:
    sweep = store.create_sweep(grid(2))
    running = _claimed(claim, store, sweep.id)
    assert store.control_sweep(sweep.id, "cancel").state is SweepState.CANCELED
    assert claim(store, sweep.id).outcome is ClaimOutcome.FINISHED
    store.finish_run(running, RunState.KILLED, end_reason="cancelled")
    assert store.get_run(running.id).end_reason == "cancelled"
    store.control_sweep(sweep.id, "resume")
    assert {_claimed(claim, store, sweep.id).point_key for _ in range(2)} == {
        running.point_key,
        _other_point(store, sweep.id, running),
    }


def _other_point(store: Store, sweep_id: str, run: RunRecord) -> str | None:
    keys = {r.point_key for r in store.list_runs(sweep_id)} - {run.point_key}
    return keys.pop() if keys else None


@pytest.mark.parametrize(
    ("setup", "action", "message"),
    [
        ([], "resume", "only a paused, stopped or cancelled sweep"),
        (["stop"], "pause", "resume it first"),
        ([], "restart", "use one of pause, resume, stop, cancel"),
    ],
)
def test_a_control_action_the_state_forbids_says_why(
    store: Store,
    grid: Callable[..., SweepConfig],
    setup: list[str],
    action: str,
    message: str,
) -> None:
    sweep = store.create_sweep(grid(2))
    for step in setup:
        store.control_sweep(sweep.id, step)
    with pytest.raises(SweepControlError, match=message):
        store.control_sweep(sweep.id, action)


def test_a_cancel_after_a_stop_changes_nothing_unless_runs_still_run(
    store: Store, claim: Claimer, grid: Callable[..., SweepConfig]
) -> None:
    # cli.md: cancelling a sweep that ended (stopped too) changes nothing; but a cancel
    # after a stop is how the stopped sweep's runs still going are stopped.
    idle = store.create_sweep(grid(2))
    store.control_sweep(idle.id, "stop")
    store.control_sweep(idle.id, "cancel")
    after = store.get_sweep(idle.id)
    assert (after.state, after.finished_reason) == (SweepState.FINISHED, "stopped")

    busy = store.create_sweep(grid(2))
    _claimed(claim, store, busy.id)
    store.control_sweep(busy.id, "stop")
    store.control_sweep(busy.id, "cancel")
    assert store.get_sweep(busy.id).state is SweepState.CANCELED


def test_an_exhausted_sweep_cannot_be_resumed(
    store: Store, claim: Claimer, grid: Callable[..., SweepConfig]
) -> None:
    sweep = store.create_sweep(grid(1))
    _finish(store, _claimed(claim, store, sweep.id), 0.1)
    with pytest.raises(SweepControlError, match="exhausted"):
        store.control_sweep(sweep.id, "resume")


def test_a_run_presumed_dead_cannot_push_a_random_sweep_past_its_run_cap(
    store: Store, claim: Claimer, random_sweep: Callable[..., SweepConfig]
) -> None:
    # Issue 11, case 1 with run_cap: 11 finished runs came out of `run_cap: 10`.
    sweep = store.create_sweep(random_sweep(run_cap=2))
    slow = _reaped(store, claim, sweep.id)  # the reaping claim took the second run
    runs = [r for r in store.list_runs(sweep.id) if r.state is RunState.RUNNING]
    replacement = _claimed(claim, store, sweep.id)  # the reaped run's place
    for run in [*runs, replacement]:
        _finish(store, run, 0.5)
    with pytest.raises(LeaseLostError):
        _finish(store, slow, 0.1)
    assert claim(store, sweep.id).outcome is ClaimOutcome.RUN_CAP
    finished = [r for r in store.list_runs(sweep.id) if r.state is RunState.FINISHED]
    assert len(finished) == 2


def test_a_preempted_run_keeps_its_metric_but_is_no_result_while_it_waits(
    store: Store, claim: Claimer, grid: Callable[..., SweepConfig]
) -> None:
    from localsweep.api import Api
    from localsweep.search._outcomes import TrialState, run_outcome

    config = grid(3)
    sweep = store.create_sweep(config)
    preempted = _claimed(claim, store, sweep.id)
    done = _claimed(claim, store, sweep.id)
    _finish(store, done, 2.0)
    store.requeue_run(
        preempted, history=[_row(5, 1.0)], summary={"loss": 1.0, "_step": 5}, metric=1.0
    )
    # Its summary's value is its metric, as for any ended run (what `show` prints)...
    assert store.get_run(preempted.id).metric == 1.0
    # ...but it waits to be resumed: no result yet, though its value beats the finished
    # run's. best_run() skips it, and the search counts it as running, not as told.
    assert Api(store.url).sweep(sweep.id).best_run().id == done.id  # type: ignore[union-attr]
    views = {v.id: v for v in store.run_views(sweep.id)}
    assert config.metric is not None
    assert run_outcome(views[preempted.id], config.metric).state is TrialState.RUNNING
    # Resumed, it keeps the value with its summary until this attempt ends.
    resumed = _claimed(claim, store, sweep.id)
    assert resumed.id == preempted.id and resumed.metric == 1.0
    assert Api(store.url).sweep(sweep.id).best_run().id == done.id  # type: ignore[union-attr]
    assert _finish(store, resumed, 0.5).metric == 0.5
    assert Api(store.url).sweep(sweep.id).best_run().id == preempted.id  # type: ignore[union-attr]


def test_a_late_heartbeat_after_this_agent_requeued_its_run_reaps_nothing(
    store: Store,
    grid: Callable[..., SweepConfig],
    claim: Callable[..., Claim],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # SIGTERM while the database was locked: the agent requeued its run, and a heartbeat
    # queued behind the lock answered after that. The run is not held any more, but no
    # other agent took it: no "another agent took it for dead".
    from localsweep.agent._control import Monitor, RunControl

    sweep = store.create_sweep(grid(2))
    claimed = claim(store, sweep.id)
    assert claimed.run is not None
    control = RunControl(claimed.run)
    monitor = Monitor(store, sweep.id)
    monitor.add(control)
    control.recorded = store.requeue_run(claimed.run, reason="preempted")

    monitor._beat()

    assert control.reason is None
    assert "took it for dead" not in caplog.text


def test_a_run_reaped_for_its_late_heartbeat_names_a_held_gil_among_the_causes(
    store: Store,
    claim: Callable[..., Claim],
    grid: Callable[..., SweepConfig],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Not only that its agent died or was suspended: a live agent whose in-process run
    holds Python's GIL in one long C call (``sum(range(N))``) past the heartbeat timeout
    beats no heartbeat either (its heartbeat is a thread of that process)."""
    sweep = store.create_sweep(grid(3))
    taken = claim(store, sweep.id, REMOTE)
    assert taken.outcome is ClaimOutcome.CLAIMED and taken.run is not None
    _backdate_heartbeat(store, taken.run.id, seconds=1000)

    with caplog.at_level(logging.WARNING, logger="localsweep"):
        assert taken.run.id in claim(store, sweep.id).reaped

    run = store.get_run(taken.run.id)
    assert run.state is RunState.CRASHED
    assert run.end_reason == "lease_lost"
    assert "held Python's GIL in one long C call past the timeout" in (run.error or "")
    said = " ".join(caplog.messages)
    assert "holding Python's GIL in one long C call" in said, said
    assert taken.run.id in said
