"""A store told to retry without bound (``LOCALSWEEP_STORE_TIMEOUT=inf``, for an agent
left to run for days) bounds SQLite's own wait on a locked file by the longest wait SQLite
takes: it raised OverflowError at its first transaction."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from localsweep.config import SweepConfig
from localsweep.store import Claim, ClaimOutcome, Store


def test_without_bound_a_claim_waits_out_a_locked_file(
    tmp_path: Path,
    claim: Callable[..., Claim],
    random_sweep: Callable[..., SweepConfig],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LOCALSWEEP_STORE_TIMEOUT", "inf")
    db = tmp_path / "sweeps.db"
    store = Store(db)
    try:
        assert store.retry_timeout == float("inf")
        sweep = store.create_sweep(random_sweep())
        taken = threading.Event()

        def hold() -> None:
            conn = sqlite3.connect(db, isolation_level=None)
            conn.execute("BEGIN IMMEDIATE")
            taken.set()
            time.sleep(1.5)
            conn.execute("COMMIT")
            conn.close()

        writer = threading.Thread(target=hold)
        writer.start()
        taken.wait(10)
        after = claim(store, sweep.id)
        writer.join()
        assert after.outcome is ClaimOutcome.CLAIMED
    finally:
        store.close()


@pytest.mark.parametrize("value", ["nan", "-1", "abc", ""])
def test_a_variable_that_is_no_number_of_seconds_counts_as_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("LOCALSWEEP_STORE_TIMEOUT", value)
    store = Store(tmp_path / "sweeps.db")
    try:
        assert store.retry_timeout == 180.0
    finally:
        store.close()


def test_a_caller_timeout_that_is_no_number_of_seconds_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="retry_timeout"):
        Store(tmp_path / "sweeps.db", retry_timeout=float("nan"))


@pytest.mark.parametrize("value", [float("nan"), -1.0])
def test_a_timeout_set_later_that_is_no_number_of_seconds_is_refused_as_at_open(
    tmp_path: Path, value: float
) -> None:
    """``store.retry_timeout = nan`` was taken, and the next transaction failed with
    "cannot convert float NaN to integer"; it is checked as ``Store(retry_timeout=...)``."""
    store = Store(tmp_path / "sweeps.db", retry_timeout=30)
    try:
        with pytest.raises(ValueError, match="retry_timeout must be a number of seconds"):
            store.retry_timeout = value
        assert store.retry_timeout == 30  # unchanged: the store still works
        assert store.list_sweeps() == []
        store.retry_timeout = float("inf")  # no bound: still taken
        assert store.list_sweeps() == []
    finally:
        store.close()
