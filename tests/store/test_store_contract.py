"""The store's behaviour, the same on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import math
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, text

from localsweep.config import SweepConfig, parse_config
from localsweep.errors import LeaseLostError, NotFoundError
from localsweep.records import RunState, SweepState
from localsweep.store import AgentInfo, Claim, ClaimOutcome, HistoryRow, RunRecord, Store

Claimer = Callable[..., Claim]


def _finish(store: Store, run: RunRecord, loss: float, **kwargs: object) -> RunRecord:
    return store.finish_run(
        run,
        RunState.FINISHED,
        history=[HistoryRow(step=0, data={"loss": loss}, metric=loss, has_metric=True)],
        summary={"loss": loss},
        metric=loss,
        exit_code=0,
        **kwargs,  # type: ignore[arg-type]
    )


def _dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _backdate_heartbeat(store: Store, run_id: str, seconds: float) -> None:
    # SQL, not the Store API: the store has no call to set a heartbeat's time (agents only
    # ever beat "now"), and waiting out the real 120 s timeout would make a slow test.
    old = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(seconds=seconds)
    engine = create_engine(store.url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE runs SET heartbeat_at = :t WHERE id = :id"), {"t": old, "id": run_id}
            )
    finally:
        engine.dispose()


def test_a_new_sweep_is_pending_with_its_config_project_and_seed(store: Store) -> None:
    config = parse_config(
        {
            "method": "random",
            "parameters": {"lr": {"min": 0.1, "max": 1.0}},
            "localsweep": {"seed": 7},
        }
    )
    record = store.create_sweep(config, project="proj", name="first")
    again = store.get_sweep(record.id)
    assert again.state is SweepState.PENDING
    assert again.project == "proj"
    assert again.name == "first"
    assert again.seed == 7
    assert again.config.raw == config.raw
    assert again.run_count == 0
    assert [s.id for s in store.list_sweeps()] == [record.id]


def test_an_unknown_sweep_raises_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError, match="no-such-sweep"):
        store.get_sweep("no-such-sweep")


def test_an_unknown_run_raises_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError, match="nope"):
        store.get_run("nope")


def test_a_claim_records_a_running_run_with_the_nested_config(store: Store, claim: Claimer) -> None:
    config = parse_config(
        {
            "method": "grid",
            "parameters": {
                "opt": {"parameters": {"name": {"values": ["adam"]}, "lr": {"values": [0.1]}}},
                "epochs": {"value": 3},
            },
        }
    )
    sweep = store.create_sweep(config)
    agent = AgentInfo.current()
    got = claim(store, sweep.id, agent)
    assert got.outcome is ClaimOutcome.CLAIMED
    assert got.run is not None
    stored = store.get_run(got.run.id)
    assert stored.state is RunState.RUNNING
    assert stored.config == {"opt": {"name": "adam", "lr": 0.1}, "epochs": 3}
    assert stored.agent_id == agent.id
    assert stored.agent_pid == agent.pid
    assert stored.grid_key is not None
    assert store.get_sweep(sweep.id).state is SweepState.RUNNING


def test_claims_number_runs_in_the_order_they_were_made(
    store: Store, claim: Claimer, random_sweep: Callable[..., SweepConfig]
) -> None:
    sweep = store.create_sweep(random_sweep())
    runs = [claim(store, sweep.id).run for _ in range(4)]
    assert [r.number for r in runs if r] == [0, 1, 2, 3]
    assert [r.id for r in store.list_runs(sweep.id)] == [r.id for r in runs if r]
    assert store.get_sweep(sweep.id).run_count == 4


def test_a_grid_hands_out_every_point_once(
    store: Store, claim: Claimer, grid: Callable[..., SweepConfig]
) -> None:
    sweep = store.create_sweep(grid(4))
    xs = []
    for _ in range(4):
        got = claim(store, sweep.id)
        assert got.run is not None
        xs.append(got.run.config["x"])
    assert sorted(xs) == [0, 1, 2, 3]


def test_a_grid_with_every_point_claimed_and_running_says_wait(
    store: Store, claim: Claimer, grid: Callable[..., SweepConfig]
) -> None:
    sweep = store.create_sweep(grid(2))
    claim(store, sweep.id)
    claim(store, sweep.id)
    assert claim(store, sweep.id).outcome is ClaimOutcome.WAIT
    assert store.get_sweep(sweep.id).state is SweepState.RUNNING


def test_a_grid_whose_points_all_ran_is_finished_as_exhausted(
    store: Store, claim: Claimer, grid: Callable[..., SweepConfig]
) -> None:
    sweep = store.create_sweep(grid(2))
    for _ in range(2):
        got = claim(store, sweep.id)
        assert got.run is not None
        _finish(store, got.run, 1.0)
    record = store.get_sweep(sweep.id)
    assert record.state is SweepState.FINISHED
    assert record.finished_reason == "exhausted"
    assert claim(store, sweep.id).outcome is ClaimOutcome.EXHAUSTED


def test_history_comes_back_in_logged_order_with_each_step(
    store: Store, claim: Claimer, grid: Callable[..., SweepConfig]
) -> None:
    sweep = store.create_sweep(grid(1))
    run = claim(store, sweep.id).run
    assert run is not None
    store.append_history(
        run,
        [
            HistoryRow(
                step=0, data={"loss": 3.0, "acc": {"top1": 0.1}}, metric=3.0, has_metric=True
            ),
            HistoryRow(step=1, data={"lr": 0.5}),
        ],
    )
    store.finish_run(
        run,
        RunState.FINISHED,
        history=[HistoryRow(step=5, data={"loss": 1.0}, metric=1.0, has_metric=True)],
        summary={"loss": 1.0, "acc": {"top1": 0.1}},
        metric=1.0,
        exit_code=0,
    )
    assert store.history(run.id) == [
        {"loss": 3.0, "acc": {"top1": 0.1}, "_step": 0},
        {"lr": 0.5, "_step": 1},
        {"loss": 1.0, "_step": 5},
    ]
    assert store.metric_histories(sweep.id) == {run.id: [3.0, 1.0]}


def test_a_finished_run_keeps_its_summary_metric_exit_code_and_name(
    store: Store, claim: Claimer, grid: Callable[..., SweepConfig]
) -> None:
    sweep = store.create_sweep(grid(2))
    run = claim(store, sweep.id).run
    assert run is not None
    _finish(store, run, 0.25, name="bright-sun-1")
    stored = store.get_run(run.id)
    assert stored.state is RunState.FINISHED
    assert stored.summary == {"loss": 0.25}
    assert stored.metric == 0.25
    assert stored.exit_code == 0
    assert stored.name == "bright-sun-1"
    assert stored.finished_at is not None


def test_a_logged_nan_is_kept_as_a_logged_value(
    store: Store, claim: Claimer, grid: Callable[..., SweepConfig]
) -> None:
    sweep = store.create_sweep(grid(1))
    run = claim(store, sweep.id).run
    assert run is not None
    store.append_history(
        run,
        [
            HistoryRow(step=0, data={"loss": 2.0}, metric=2.0, has_metric=True),
            HistoryRow(step=1, data={"loss": "NaN"}, metric=math.nan, has_metric=True),
            HistoryRow(step=2, data={"other": 1}),
        ],
    )
    values = store.metric_histories(sweep.id)[run.id]
    assert values[0] == 2.0
    assert len(values) == 2 and math.isnan(values[1])


def test_run_cap_refuses_more_runs_and_finishes_the_sweep(
    store: Store, claim: Claimer, random_sweep: Callable[..., SweepConfig]
) -> None:
    sweep = store.create_sweep(random_sweep(run_cap=2))
    for _ in range(2):
        got = claim(store, sweep.id)
        assert got.run is not None
        _finish(store, got.run, 1.0)
    assert claim(store, sweep.id).outcome in (ClaimOutcome.RUN_CAP,)
    record = store.get_sweep(sweep.id)
    assert record.state is SweepState.FINISHED
    assert record.finished_reason == "run_cap"
    assert len(store.list_runs(sweep.id)) == 2


def test_run_cap_counts_running_runs(
    store: Store, claim: Claimer, random_sweep: Callable[..., SweepConfig]
) -> None:
    sweep = store.create_sweep(random_sweep(run_cap=1))
    assert claim(store, sweep.id).outcome is ClaimOutcome.CLAIMED
    assert claim(store, sweep.id).outcome is ClaimOutcome.RUN_CAP
    # Not finished while its last run is still running.
    assert store.get_sweep(sweep.id).state is SweepState.RUNNING


def test_reaching_the_target_finishes_the_sweep(
    store: Store, claim: Claimer, random_sweep: Callable[..., SweepConfig]
) -> None:
    sweep = store.create_sweep(random_sweep())
    run = claim(store, sweep.id).run
    assert run is not None
    _finish(store, run, 0.0, target_reached=True)
    record = store.get_sweep(sweep.id)
    assert record.state is SweepState.FINISHED
    assert record.finished_reason == "target_reached"
    assert claim(store, sweep.id).outcome is ClaimOutcome.TARGET_REACHED


def test_a_sweep_finished_by_hand_hands_out_nothing(
    store: Store, claim: Claimer, random_sweep: Callable[..., SweepConfig]
) -> None:
    sweep = store.create_sweep(random_sweep())
    store.finish_sweep(sweep.id, "stopped")
    got = claim(store, sweep.id)
    assert got.outcome is ClaimOutcome.FINISHED
    assert got.run is None
    assert store.get_sweep(sweep.id).finished_reason == "stopped"


def test_a_run_of_a_dead_agent_on_this_host_is_crashed_and_its_point_offered_again(
    store: Store, claim: Claimer, grid: Callable[..., SweepConfig]
) -> None:
    sweep = store.create_sweep(grid(2))
    me = AgentInfo.current()
    dead = AgentInfo(id="dead-agent", host=me.host, pid=_dead_pid())
    orphan = claim(store, sweep.id, dead).run
    assert orphan is not None
    got = claim(store, sweep.id, me)
    assert got.reaped == (orphan.id,)
    crashed = store.get_run(orphan.id)
    assert crashed.state is RunState.CRASHED
    assert crashed.grid_key is None
    assert crashed.point_key == orphan.point_key
    assert "died" in (crashed.error or "")
    # Its process is gone: it died, and is not said to have lost its lease (which is for
    # an agent that may come back).
    assert crashed.end_reason == "agent_died"
    # The crashed point comes first again (the grid's order), not the next one.
    assert got.run is not None
    assert got.run.config == orphan.config


def test_a_run_of_a_live_agent_on_this_host_is_left_alone(
    store: Store, claim: Claimer, grid: Callable[..., SweepConfig]
) -> None:
    sweep = store.create_sweep(grid(2))
    me = AgentInfo.current()
    # Another agent object in this very (live) process.
    other = AgentInfo(id="other-agent", host=me.host, pid=me.pid)
    running = claim(store, sweep.id, other).run
    assert running is not None
    assert claim(store, sweep.id, me).reaped == ()
    assert store.get_run(running.id).state is RunState.RUNNING


def test_a_foreign_host_run_with_a_stale_heartbeat_is_crashed(
    store: Store, claim: Claimer, grid: Callable[..., SweepConfig]
) -> None:
    sweep = store.create_sweep(grid(2))
    # The pid means nothing on another host: only the heartbeat can tell it is dead.
    remote = AgentInfo(id="remote-agent", host="another-machine.invalid", pid=1)
    orphan = claim(store, sweep.id, remote).run
    assert orphan is not None
    _backdate_heartbeat(store, orphan.id, seconds=121)
    got = claim(store, sweep.id)
    assert got.reaped == (orphan.id,)
    assert store.get_run(orphan.id).state is RunState.CRASHED
    assert store.get_run(orphan.id).end_reason == "lease_lost"
    assert got.run is not None and got.run.config == orphan.config


def test_a_foreign_host_run_with_a_recent_heartbeat_is_left_alone(
    store: Store, claim: Claimer, grid: Callable[..., SweepConfig]
) -> None:
    sweep = store.create_sweep(grid(2))
    remote = AgentInfo(id="remote-agent", host="another-machine.invalid", pid=1)
    running = claim(store, sweep.id, remote).run
    assert running is not None
    _backdate_heartbeat(store, running.id, seconds=100)
    assert claim(store, sweep.id).reaped == ()
    assert store.get_run(running.id).state is RunState.RUNNING


def test_a_heartbeat_keeps_a_foreign_run_alive(
    store: Store, claim: Claimer, grid: Callable[..., SweepConfig]
) -> None:
    sweep = store.create_sweep(grid(2))
    remote = AgentInfo(id="remote-agent", host="another-machine.invalid", pid=1)
    running = claim(store, sweep.id, remote).run
    assert running is not None
    _backdate_heartbeat(store, running.id, seconds=1000)
    assert store.heartbeat([running]) == set()
    assert claim(store, sweep.id).reaped == ()
    assert store.get_run(running.id).state is RunState.RUNNING


def test_a_run_presumed_dead_cannot_finish_after_all_and_its_point_runs_once(
    store: Store, claim: Claimer, grid: Callable[..., SweepConfig]
) -> None:
    # Issue 11, case 1: the agent of run 0 was suspended past the heartbeat timeout;
    # another agent reaped the run and claimed its point again. When the first agent
    # comes back, its end must not count: the point would have two results.
    sweep = store.create_sweep(grid(3))
    remote = AgentInfo(id="remote-agent", host="another-machine.invalid", pid=1)
    slow = claim(store, sweep.id, remote).run
    assert slow is not None
    _backdate_heartbeat(store, slow.id, seconds=500)
    again = claim(store, sweep.id).run
    assert again is not None and again.point_key == slow.point_key
    assert store.get_run(slow.id).state is RunState.CRASHED
    with pytest.raises(LeaseLostError, match="crashed"):
        _finish(store, slow, 0.5)
    stored = store.get_run(slow.id)
    assert (stored.state, stored.end_reason) == (RunState.CRASHED, "lease_lost")
    assert stored.metric is None
    # Its rows are kept for the record, but never counted as logged metric values.
    assert store.history(slow.id) == [{"loss": 0.5, "_step": 0}]
    assert slow.id not in store.metric_histories(sweep.id)
    # The grid still runs its three points once each, and finishes only then.
    _finish(store, again, 0.1)
    for _ in range(2):
        run = claim(store, sweep.id).run
        assert run is not None
        _finish(store, run, 0.2)
    assert claim(store, sweep.id).outcome is ClaimOutcome.EXHAUSTED
    finished = [r for r in store.list_runs(sweep.id) if r.state is RunState.FINISHED]
    assert len({r.point_key for r in finished}) == len(finished) == 3


def test_run_views_flatten_params_and_carry_metric_history(
    store: Store, claim: Claimer, grid: Callable[..., SweepConfig]
) -> None:
    sweep = store.create_sweep(grid(2))
    run = claim(store, sweep.id).run
    assert run is not None
    _finish(store, run, 0.75)
    (view,) = store.run_views(sweep.id)
    assert view.id == run.id
    assert view.state is RunState.FINISHED
    assert view.params == {("x",): run.config["x"]}
    assert view.history == (0.75,)
    assert view.summary == 0.75
