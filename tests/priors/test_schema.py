"""Schema 0006: runs can be prior runs; a database from before is upgraded in place."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import localsweep
from localsweep.errors import SchemaVersionError
from localsweep.store import Store, _migrate
from localsweep.store._engine import make_engine, resolve_url
from localsweep.store._models import SCHEMA_VERSION


def _make_0003_database(path: Path) -> str:
    """A database as localsweep wrote it at schema 0003, holding one finished run."""
    sweep = localsweep.run(
        {"method": "grid", "metric": {"name": "loss"}, "parameters": {"x": {"values": [1, 2]}}},
        lambda c: float(c["x"]),
        count=1,
        db=path,
    )
    with sqlite3.connect(path) as conn:
        for column in ("prior_run_id", "prior_source", "prior"):
            conn.execute(f"ALTER TABLE runs DROP COLUMN {column}")
        conn.execute("UPDATE alembic_version SET version_num = '0003'")
    return sweep.id


def test_a_0003_database_is_upgraded_and_its_runs_are_its_own(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    sweep_id = _make_0003_database(path)
    with pytest.raises(SchemaVersionError, match="localsweep db upgrade"):
        Store(path)
    engine = make_engine(resolve_url(path))
    assert _migrate.upgrade(engine) == ("0003", SCHEMA_VERSION)
    engine.dispose()
    sweep = localsweep.Api(path).sweep(sweep_id)
    assert [r.prior for r in sweep.runs] == [False]
    assert sweep.prior_runs == []
    # The upgraded database takes prior runs, and its old sweep is a source of them.
    new = localsweep.run(
        {"method": "grid", "metric": {"name": "loss"}, "parameters": {"x": {"values": [1, 2]}}},
        lambda c: float(c["x"]),
        count=None,
        db=path,
        prior_runs=[sweep_id],
    )
    assert [r.config["x"] for r in new.prior_runs] == [1]
    assert [r.config["x"] for r in new.runs] == [2]
