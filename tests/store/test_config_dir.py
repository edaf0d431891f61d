"""Sweeps keep the directory of their config file (schema 0008), for ``scheduler.source``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from localsweep.config import load_config, parse_config
from localsweep.store import Store, _migrate
from localsweep.store._engine import make_engine, resolve_url
from localsweep.store._models import SCHEMA_VERSION

CONFIG = "method: random\nparameters:\n  x: {values: [1, 2]}\n"


def test_a_sweep_made_from_a_file_remembers_its_directory(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "sweep.yaml").write_text(CONFIG, encoding="utf-8")
    store = Store(tmp_path / "db.db")
    made = store.create_sweep(load_config(tmp_path / "conf" / "sweep.yaml"))
    other = store.create_sweep(
        parse_config({"method": "random", "parameters": {"x": {"value": 1}}})
    )
    store.close()
    reopened = Store(tmp_path / "db.db")
    assert reopened.get_sweep(made.id).config_dir == str((tmp_path / "conf").resolve())
    assert reopened.get_sweep(other.id).config_dir is None
    reopened.close()


def test_db_upgrade_adds_the_column_to_a_0003_database(tmp_path: Path) -> None:
    path = tmp_path / "db.db"
    Store(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("ALTER TABLE sweeps DROP COLUMN config_dir")
        conn.execute("UPDATE alembic_version SET version_num = '0003'")
    engine = make_engine(resolve_url(path))
    assert _migrate.upgrade(engine) == ("0003", SCHEMA_VERSION)
    engine.dispose()
    with sqlite3.connect(path) as conn:
        assert "config_dir" in {row[1] for row in conn.execute("PRAGMA table_info(sweeps)")}
    store = Store(path)
    sweep = store.create_sweep(
        parse_config({"method": "random", "parameters": {"x": {"value": 1}}})
    )
    assert store.get_sweep(sweep.id).config_dir is None
    store.close()
