"""The sweeps' run counters across ``localsweep db upgrade``: an agent older than schema 0004
knows none of them, so ``db upgrade`` refuses while such an agent may be running, recounts
every sweep at its end, and a claim that would wait on a wrong counter recounts it.

The old databases are made by taking the columns of schema 0004 out of a current one with
plain SQL (on SQLite and on a real PostgreSQL server); damaged counters by plain SQL too.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from sqlalchemy import create_engine, text

from localsweep.config import SweepConfig
from localsweep.errors import StoreError
from localsweep.records import RunState, SweepState
from localsweep.store import AgentInfo, Claim, ClaimOutcome, Store, _migrate
from localsweep.store._engine import make_engine
from localsweep.store._models import SCHEMA_VERSION
from localsweep.store._tables import now

_0004_COLUMNS = [
    ("runs", "lease"),
    ("runs", "attempt"),
    ("runs", "history_seq"),
    ("runs", "history_batch"),
    ("sweeps", "live_count"),
    ("sweeps", "running_count"),
]


def sql(url: str, *statements: str, **params: object) -> None:
    """Run ``statements`` on the database at ``url`` in one transaction, as a user would."""
    engine = create_engine(url)
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement), params)
    engine.dispose()


def counters(url: str) -> list[tuple[str, int, int, str]]:
    engine = create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT id, live_count, running_count, state FROM sweeps ORDER BY id")
        ).all()
    engine.dispose()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def make_0003(url: str) -> None:
    """Make the database at ``url`` look as localsweep left it at schema 0003: without the
    columns 0004 added (leases, attempts, history sequence numbers, run counters)."""
    if url.startswith("sqlite"):
        # SQLite cannot drop a column of a UNIQUE index: rebuild history as it was.
        history = [
            "CREATE TABLE old_history AS SELECT id, run_id, step, data_json, metric, "
            "has_metric FROM history",
            "DROP TABLE history",
            "ALTER TABLE old_history RENAME TO history",
            "CREATE INDEX ix_history_run_step ON history (run_id, step)",
        ]
    else:
        history = ["ALTER TABLE history DROP COLUMN seq"]
    drops = [f"ALTER TABLE {table} DROP COLUMN {column}" for table, column in _0004_COLUMNS]
    sql(url, *history, *drops, "UPDATE alembic_version SET version_num = '0003'")


def upgrade(url: str, **kwargs: bool) -> _migrate.Upgrade:
    engine = make_engine(url)
    try:
        return _migrate.upgrade(engine, **kwargs)
    finally:
        engine.dispose()


@pytest.fixture
def running_sweep(
    url: str, grid: Callable[..., SweepConfig], claim: Callable[..., Claim]
) -> Iterator[Callable[[AgentInfo], tuple[str, str]]]:
    """``running_sweep(agent)``: a grid sweep of 3 with one run finished and one run
    ``agent`` is running, in a 0003 database; its (sweep id, running run id)."""

    def make(agent: AgentInfo) -> tuple[str, str]:
        store = Store(url)
        sweep = store.create_sweep(grid(3))
        first = claim(store, sweep.id).run
        store.finish_run(first, RunState.FINISHED, metric=1.0)
        running = claim(store, sweep.id, agent).run
        store.close()
        make_0003(url)
        return sweep.id, running.id

    yield make


def _dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True)  # fmt: skip
    return int(proc.stdout)


def _version(url: str) -> str:
    engine = create_engine(url)
    with engine.connect() as conn:
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    engine.dispose()
    return str(version)


def test_upgrade_from_0003_refuses_while_a_run_s_agent_may_be_alive(
    url: str, running_sweep: Callable[[AgentInfo], tuple[str, str]]
) -> None:
    # This test's own process runs the run, heartbeat fresh: an old agent still at work.
    sweep_id, run_id = running_sweep(AgentInfo.current())
    with pytest.raises(StoreError) as info:
        upgrade(url)
    message = str(info.value)
    assert f"run {run_id} of sweep {sweep_id}" in message
    assert "Stop those agents" in message
    assert "--force" in message
    assert _version(url) == "0003"  # nothing changed


def test_upgrade_from_0003_with_force_upgrades_and_counts_the_running_run(
    url: str, running_sweep: Callable[[AgentInfo], tuple[str, str]]
) -> None:
    sweep_id, _run_id = running_sweep(AgentInfo.current())
    assert upgrade(url, force=True) == ("0003", SCHEMA_VERSION)
    assert counters(url) == [(sweep_id, 2, 1, SweepState.RUNNING.value)]


def test_upgrade_from_0003_goes_on_when_the_run_s_agent_died_on_this_machine(
    url: str, running_sweep: Callable[[AgentInfo], tuple[str, str]]
) -> None:
    pid = _dead_pid()
    running_sweep(AgentInfo(id=f"dead:{pid}", host=socket.gethostname(), pid=pid))
    assert upgrade(url) == ("0003", SCHEMA_VERSION)


def test_upgrade_from_0003_goes_on_when_the_run_s_heartbeat_is_stale(
    url: str, running_sweep: Callable[[AgentInfo], tuple[str, str]]
) -> None:
    # An agent elsewhere: only its heartbeat tells; the old agents' timeout was 120 s.
    _sweep_id, run_id = running_sweep(AgentInfo(id="far:1", host="elsewhere", pid=1))
    sql(url, "UPDATE runs SET heartbeat_at = :t WHERE id = :id",
        t=now() - timedelta(minutes=10), id=run_id)  # fmt: skip
    assert upgrade(url) == ("0003", SCHEMA_VERSION)


def test_upgrade_from_0003_refuses_for_an_agent_elsewhere_whose_heartbeat_is_fresh(
    url: str, running_sweep: Callable[[AgentInfo], tuple[str, str]]
) -> None:
    _sweep_id, run_id = running_sweep(AgentInfo(id="far:1", host="elsewhere", pid=1))
    with pytest.raises(StoreError, match=f"run {run_id} .*agent on elsewhere pid 1"):
        upgrade(url)


def _damage(url: str, sweep_id: str, live: int, running: int) -> None:
    """What an agent older than 0004 that ran on after the upgrade leaves: counters that
    missed its runs."""
    sql(url, "UPDATE sweeps SET live_count = :live, running_count = :running, state = 'running'"
        " WHERE id = :id", live=live, running=running, id=sweep_id)  # fmt: skip


def test_a_claim_that_would_wait_on_a_wrong_running_counter_recounts_and_ends_the_grid(
    url: str, grid: Callable[..., SweepConfig], claim: Callable[..., Claim]
) -> None:
    store = Store(url)
    sweep = store.create_sweep(grid(3))
    for _ in range(3):
        store.finish_run(claim(store, sweep.id).run, RunState.FINISHED, metric=1.0)
    _damage(url, sweep.id, live=2, running=1)  # no run is running
    # Before, this claim answered WAIT, and so did every claim after it: forever.
    assert claim(store, sweep.id).outcome is ClaimOutcome.EXHAUSTED
    assert store.get_sweep(sweep.id).state is SweepState.FINISHED
    store.close()
    assert counters(url) == [(sweep.id, 3, 0, SweepState.FINISHED.value)]


def test_a_claim_still_waits_for_a_run_that_really_runs(
    url: str, grid: Callable[..., SweepConfig], claim: Callable[..., Claim]
) -> None:
    store = Store(url)
    sweep = store.create_sweep(grid(2))
    claim(store, sweep.id)
    store.finish_run(claim(store, sweep.id).run, RunState.FINISHED, metric=1.0)
    _damage(url, sweep.id, live=1, running=2)  # one runs, the counter says two
    assert claim(store, sweep.id).outcome is ClaimOutcome.WAIT
    store.close()
    assert counters(url) == [(sweep.id, 2, 1, SweepState.RUNNING.value)]


def test_a_claim_at_a_run_cap_the_counter_overstates_recounts_and_goes_on(
    url: str, random_sweep: Callable[..., SweepConfig], claim: Callable[..., Claim]
) -> None:
    store = Store(url)
    sweep = store.create_sweep(random_sweep(run_cap=4))
    for _ in range(2):
        store.finish_run(claim(store, sweep.id).run, RunState.FINISHED, metric=1.0)
    _damage(url, sweep.id, live=4, running=3)  # 2 runs, none running
    # Before, the claim answered RUN_CAP with 2 runs of 4, and the sweep stayed running.
    for _ in range(2):
        outcome = claim(store, sweep.id)
        assert outcome.outcome is ClaimOutcome.CLAIMED
        store.finish_run(outcome.run, RunState.FINISHED, metric=1.0)
    assert claim(store, sweep.id).outcome is ClaimOutcome.RUN_CAP
    assert len(store.list_runs(sweep.id)) == 4
    store.close()
    assert counters(url) == [(sweep.id, 4, 0, SweepState.FINISHED.value)]


def test_upgrade_recounts_a_database_an_old_agent_already_damaged(
    url: str, random_sweep: Callable[..., SweepConfig], claim: Callable[..., Claim]
) -> None:
    store = Store(url)
    sweep = store.create_sweep(random_sweep(run_cap=4))
    for _ in range(4):
        store.finish_run(claim(store, sweep.id).run, RunState.FINISHED, metric=1.0)
    store.close()
    _damage(url, sweep.id, live=2, running=1)
    done = upgrade(url)
    assert done == (SCHEMA_VERSION, SCHEMA_VERSION)
    assert done.recounted == (sweep.id,)
    assert counters(url) == [(sweep.id, 4, 0, SweepState.RUNNING.value)]
    # run_cap 4 is reached: no fifth run (before, two more ran).
    store = Store(url)
    assert claim(store, sweep.id).outcome is ClaimOutcome.RUN_CAP
    assert store.get_sweep(sweep.id).state is SweepState.FINISHED
    store.close()
    assert upgrade(url).recounted == ()  # once repaired, nothing to do


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "300"}
    return subprocess.run([sys.executable, "-m", "localsweep", *args], capture_output=True,
                          text=True, env=env, timeout=180, check=False)  # fmt: skip


def test_db_upgrade_command_refuses_then_goes_on_with_force(
    url: str, running_sweep: Callable[[AgentInfo], tuple[str, str]]
) -> None:
    sweep_id, run_id = running_sweep(AgentInfo.current())
    refused = _cli("db", "upgrade", "--db", url)
    assert refused.returncode == 1, refused.stderr
    assert f"run {run_id} of sweep {sweep_id}" in refused.stderr
    assert "Stop those agents" in refused.stderr
    forced = _cli("db", "upgrade", "--db", url, "--force")
    assert forced.returncode == 0, forced.stderr
    assert f"schema 0003 -> {SCHEMA_VERSION}" in forced.stdout
