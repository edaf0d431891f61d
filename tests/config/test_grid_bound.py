"""A grid range of more values than localsweep enumerates (``int_uniform`` ``max:
100000000000``, ``q_uniform`` to ``1e12`` by 1) is a config error at parse time naming
the parameter, the count and the fix, counted without making the values: ``validate``
died of MemoryError and ``sweep`` accepted it, for its agent to crash."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import localsweep
from localsweep.config import parse_config
from localsweep.config._distributions import MAX_GRID_VALUES, grid_count
from localsweep.errors import ConfigError

sys.path.insert(0, str(Path(__file__).parents[1] / "helpers"))
from cli_process import cli_at

HUGE = {
    "int_uniform": ({"min": 0, "max": 100_000_000_000}, "100,000,000,001"),
    "q_uniform": (
        {"distribution": "q_uniform", "min": 0, "max": 1.0e12, "q": 1},
        "1,000,000,000,000",
    ),
}


def _grid(spec: dict[str, Any]) -> dict[str, Any]:
    return {"method": "grid", "metric": {"name": "loss"}, "parameters": {"x": spec}}


@pytest.mark.parametrize("kind", HUGE)
def test_a_huge_grid_range_is_a_config_error_naming_the_count_and_the_fix(kind: str) -> None:
    spec, count = HUGE[kind]
    with pytest.raises(ConfigError) as raised:
        parse_config(_grid(spec))
    (v,) = raised.value.violations
    assert v.path == "parameters.x"
    assert count in v.message and "values:" in v.message and "method: random" in v.message
    with pytest.raises(ConfigError, match=r"parameters\.x"):
        localsweep.sweep(_grid(spec), db="s.db")
    with pytest.raises(ConfigError, match=r"parameters\.x"):
        localsweep.run(_grid(spec), lambda c: 1.0, count=1, db="s.db")


def test_a_range_at_the_bound_is_a_grid_and_one_past_it_is_not() -> None:
    parse_config(_grid({"min": 1, "max": MAX_GRID_VALUES}))
    with pytest.raises(ConfigError, match="1,000,001"):
        parse_config(_grid({"min": 0, "max": MAX_GRID_VALUES}))
    # The same range sampled at random is fine: nothing is enumerated.
    parse_config({**_grid({"min": 0, "max": 100_000_000_000}), "method": "random"})


@pytest.mark.parametrize(
    "spec",
    [
        {"min": -3, "max": 4},
        {"distribution": "q_uniform", "min": 0, "max": 10, "q": 3},
        {"distribution": "q_uniform", "min": 0.1, "max": 1.0, "q": 0.1},
        {"distribution": "q_uniform", "min": 0, "max": 1.0, "q": 0.07},
        {"distribution": "q_uniform", "min": -2.5, "max": 2.5, "q": 0.5},
        {"values": [1, 1.0, 2, "a"]},
        {"value": 7},
    ],
)
def test_the_count_is_the_number_of_grid_values(spec: dict[str, Any]) -> None:
    (p,) = parse_config(_grid(spec)).parameters
    assert grid_count(p) == len(p.grid_values())
    if "q" in spec:  # numpy.arange's own length, as wandb's engine enumerates it
        assert grid_count(p) == len(np.arange(spec["min"], spec["max"], spec["q"]))


@pytest.mark.slow
@pytest.mark.parametrize("kind", HUGE)
def test_validate_and_sweep_refuse_a_huge_grid_with_exit_2(tmp_path: Path, kind: str) -> None:
    spec, count = HUGE[kind]
    (tmp_path / "g.yaml").write_text(
        "method: grid\nmetric: {name: loss}\nparameters:\n  x: "
        + repr(spec).replace("'", "")
        + "\n"
    )
    for command in ("validate", "sweep"):
        proc: subprocess.CompletedProcess[str] = cli_at(tmp_path, command, "g.yaml")
        assert proc.returncode == 2, proc.stderr
        assert "Traceback" not in proc.stderr and "MemoryError" not in proc.stderr
        said = " ".join(proc.stderr.split())
        assert "parameters.x" in said and count in said and "values:" in said
    assert not (tmp_path / "localsweep.db").exists()


@pytest.mark.slow
def test_a_huge_grid_made_by_an_older_localsweep_leaves_the_database_readable(
    tmp_path: Path,
) -> None:
    # An older localsweep stored such a sweep: ls and show still read the database, and
    # the sweep's agent says what is wrong instead of running out of memory.
    sweep_id = localsweep.sweep(_grid({"min": 0, "max": 3}), db=str(tmp_path / "s.db"))
    huge = json.dumps(_grid(HUGE["int_uniform"][0]))
    with sqlite3.connect(tmp_path / "s.db") as conn:
        conn.execute("UPDATE sweeps SET config_json = ? WHERE id = ?", (huge, sweep_id))
    assert parse_config(json.loads(huge), stored=True).parameters[0].max == 100_000_000_000
    for command in (["ls"], ["show", sweep_id]):
        proc = cli_at(tmp_path, *command, "--db", "s.db")
        assert proc.returncode == 0 and sweep_id in proc.stdout, proc.stderr
    (tmp_path / "t.py").write_text("def f(c):\n    return 1.0\n")
    proc = cli_at(tmp_path, "agent", sweep_id, "-f", "t:f", "--count", "1", "--db", "s.db")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "100,000,000,001" in " ".join(proc.stderr.split())
