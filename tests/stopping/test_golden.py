"""Every decision wandb's sweeps engine 0.3.0 made in tests/golden/hyperband.json, replayed.

The cases were recorded by tools/golden/record_hyperband.py, which runs the engine itself.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import pytest

from localsweep.config import Goal, Hyperband
from localsweep.records import RunState, RunView
from localsweep.stopping import bands, hyperband_stops

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "hyperband.json"
CASES: list[dict[str, Any]] = json.loads(GOLDEN.read_text())["cases"]
# Must match BAND_RECORD_LIMIT in the recorder.
BAND_RECORD_LIMIT = 10_000

_SPECIAL = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _decode(value: Any) -> Any:
    if isinstance(value, str):
        return _SPECIAL[value]
    return value


def _hyperband(et: dict[str, Any]) -> Hyperband:
    kwargs = {k: v for k, v in et.items() if k in {"min_iter", "max_iter", "s", "eta", "strict"}}
    return Hyperband(**kwargs)


def _goal(case: dict[str, Any]) -> Goal:
    return Goal(case["metric"].get("goal", "minimize"))


def _runs(case: dict[str, Any]) -> list[RunView]:
    # A null is a wandb.log row without the metric; the store never puts those in a
    # RunView's history, so they are dropped here as it would drop them.
    return [
        RunView(
            id=run["name"],
            state=RunState(run["state"]),
            history=tuple(_decode(v) for v in run["history"] if v is not None),
        )
        for run in case["runs"]
    ]


def _ids(case: dict[str, Any]) -> str:
    return str(case["id"])


def test_golden_file_covers_the_required_ground() -> None:
    goals = {c["metric"].get("goal") for c in CASES}
    stricts = {c["early_terminate"].get("strict") for c in CASES}
    forms = {"max_iter" in c["early_terminate"] for c in CASES}
    assert len(CASES) >= 300
    assert {"minimize", "maximize"} <= goals
    assert {True, False} <= stricts
    assert forms == {True, False}
    assert sum(1 for c in CASES if c.get("stopped")) > 100


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_stops_the_runs_the_engine_stops(case: dict[str, Any]) -> None:
    hb, goal, runs = _hyperband(case["early_terminate"]), _goal(case), _runs(case)
    if "error" in case:
        with pytest.raises(ValueError):
            hyperband_stops(hb, goal, runs)
        return
    decisions = hyperband_stops(hb, goal, runs)
    assert [d.run_id for d in decisions] == case["stopped"]


@pytest.mark.parametrize("case", [c for c in CASES if c.get("decisions")], ids=_ids)
def test_reports_the_band_value_and_threshold_the_engine_reports(case: dict[str, Any]) -> None:
    decisions = hyperband_stops(_hyperband(case["early_terminate"]), _goal(case), _runs(case))
    # The engine reports in its own space, where values of a maximized metric are negated.
    sign = -1 if _goal(case) is Goal.MAXIMIZE else 1
    got = [(d.run_id, d.band, sign * d.value, sign * d.threshold) for d in decisions]
    want = [
        (d["name"], d["band"], _decode(d["value"]), _decode(d["threshold"]))
        for d in case["decisions"]
    ]
    assert got == want


@pytest.mark.parametrize("case", [c for c in CASES if "bands" in c], ids=_ids)
def test_bands_are_the_engines_bands(case: dict[str, Any]) -> None:
    ours = [b for b in bands(_hyperband(case["early_terminate"])) if b <= BAND_RECORD_LIMIT]
    assert ours == sorted(set(case["bands"]))


@pytest.mark.parametrize("case", [c for c in CASES if "error" not in c], ids=_ids)
def test_decisions_do_not_change_when_eta_and_s_are_floats(case: dict[str, Any]) -> None:
    # The config parser may hand over eta: 3 as 3.0 and s: 3 as 3.0; wandb users write ints.
    hb = _hyperband(case["early_terminate"])
    as_floats = dataclasses.replace(hb, eta=float(hb.eta), s=None if hb.s is None else float(hb.s))
    runs = _runs(case)
    got = [d.run_id for d in hyperband_stops(as_floats, _goal(case), runs)]
    assert got == case["stopped"]
