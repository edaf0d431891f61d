"""An empty ``db=`` is refused by every Python entry point, as the CLI refuses ``--db ""``:
``db=os.environ.get("SWEEP_DB", "")`` with the variable unset must not quietly give each job
its own ``./localsweep.db``."""

from __future__ import annotations

from pathlib import Path

import pytest

import localsweep
from localsweep.errors import DatabasePathError

CONFIG = {"method": "grid", "metric": {"name": "loss"}, "parameters": {"x": {"values": [1]}}}


def _train(config: dict) -> float:
    return float(config["x"])


@pytest.mark.parametrize("empty", ["", "  "])
def test_every_entry_point_refuses_an_empty_db(
    empty: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCALSWEEP_DB", str(tmp_path / "main.db"))
    calls = [
        lambda: localsweep.sweep(CONFIG, db=empty),
        lambda: localsweep.run(CONFIG, _train, db=empty),
        lambda: localsweep.agent("ls-00000000", _train, db=empty),
        lambda: localsweep.Api(db=empty).sweeps(),
    ]
    for call in calls:
        with pytest.raises(DatabasePathError, match="an empty db names no database") as info:
            call()
        assert isinstance(info.value, ValueError)
    # Neither the default database nor LOCALSWEEP_DB's was created.
    assert not (tmp_path / "localsweep.db").exists()
    assert not (tmp_path / "main.db").exists()


def test_an_empty_localsweep_db_variable_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCALSWEEP_DB", "")
    sweep_id = localsweep.sweep(CONFIG)
    assert Path("localsweep.db").is_file()
    assert [s.id for s in localsweep.Api().sweeps()] == [sweep_id]
