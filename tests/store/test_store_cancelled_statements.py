"""A statement the server cancels is retried, not raised: a lock wait past ``lock_timeout``
(55P03), a ``statement_timeout`` or ``pg_cancel_backend`` (57014). The server rolls the
transaction back, so the whole unit of work replays, and what it writes counts once. Real
PostgreSQL; another session holds the sweep's row ``FOR UPDATE`` as a slow agent would."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import pytest
from pg_sessions import set_for_localsweep, sweep_row_held, wait_for_waits

from localsweep.config import SweepConfig
from localsweep.errors import StoreUnavailableError
from localsweep.records import RunState
from localsweep.store import Claim, HistoryRow, RunRecord, Store

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

Claimer = Callable[..., Claim]


def _rows(n: int) -> list[HistoryRow]:
    return [
        HistoryRow(step=i, data={"loss": 1.0 / (i + 1)}, metric=1.0 / (i + 1), has_metric=True)
        for i in range(n)
    ]


def _finish_in_thread(store: Store, run: RunRecord, result: dict[str, object]) -> threading.Thread:
    def finish() -> None:
        try:
            result["run"] = store.finish_run(
                run, RunState.FINISHED, history=_rows(5), summary={"loss": 0.2}, metric=0.2,
                exit_code=0,
            )  # fmt: skip
        except BaseException as exc:  # reported by the test
            result["error"] = exc

    thread = threading.Thread(target=finish)
    thread.start()
    return thread


def _assert_finished_once(store: Store, run: RunRecord, result: dict[str, object]) -> None:
    assert "error" not in result, result.get("error")
    stored = store.get_run(run.id)
    assert stored.state is RunState.FINISHED
    assert [row["_step"] for row in store.history(run.id)] == [0, 1, 2, 3, 4]


def test_a_run_end_cancelled_by_lock_timeout_is_retried_and_counts_once(
    postgres_db: str,
    claim: Claimer,
    grid: Callable[..., SweepConfig],
    caplog: pytest.LogCaptureFixture,
) -> None:
    set_for_localsweep(postgres_db, "lock_timeout", "200ms")
    store = Store(postgres_db)
    try:
        sweep = store.create_sweep(grid(2))
        run = claim(store, sweep.id).run
        assert run is not None
        result: dict[str, object] = {}
        caplog.set_level(logging.DEBUG, logger="localsweep.store._session")
        with sweep_row_held(postgres_db, sweep.id) as watch:
            thread = _finish_in_thread(store, run, result)
            # Three waits: the first ended by lock_timeout at least twice, and retried.
            wait_for_waits(watch, 3, alive=thread.is_alive)
        thread.join(120)
        _assert_finished_once(store, run, result)
        assert "the server cancelled this agent's statement" in caplog.text
        assert "lock timeout" in caplog.text
    finally:
        store.close()


def test_a_statement_cancelled_by_pg_cancel_backend_is_retried_and_counts_once(
    postgres_db: str, claim: Claimer, grid: Callable[..., SweepConfig]
) -> None:
    store = Store(postgres_db)
    try:
        sweep = store.create_sweep(grid(2))
        run = claim(store, sweep.id).run
        assert run is not None
        result: dict[str, object] = {}
        with sweep_row_held(postgres_db, sweep.id) as watch:
            thread = _finish_in_thread(store, run, result)
            seen = wait_for_waits(watch, 1, alive=thread.is_alive)
            ((pid, _),) = seen
            watch.execute("SELECT pg_cancel_backend(%s)", (pid,))
            wait_for_waits(watch, 2, alive=thread.is_alive, seen=seen)
        thread.join(120)
        _assert_finished_once(store, run, result)
    finally:
        store.close()


def test_a_statement_timeout_that_never_passes_ends_in_one_error_naming_the_settings(
    postgres_db: str, grid: Callable[..., SweepConfig]
) -> None:
    set_for_localsweep(postgres_db, "statement_timeout", "100ms")
    store = Store(postgres_db, retry_timeout=2)
    try:
        sweep = store.create_sweep(grid(2))
        with sweep_row_held(postgres_db, sweep.id), pytest.raises(StoreUnavailableError) as info:
            store.control_sweep(sweep.id, "pause")
    finally:
        store.close()
    message = str(info.value)
    assert "the server cancelled this agent's statement" in message
    assert "statement timeout" in message
    assert "did not recover within 2 s" in message
    assert "lock_timeout and statement_timeout" in message
    assert "up and reachable" not in message
