"""Record what wandb's sweeps engine (0.3.0) decides for hyperband early termination.

Run with the engine's own interpreter, never the project's (the engine pins numpy<2)::

    /opt/sweeps-venv/bin/python tools/golden/record_hyperband.py

It writes ``tests/golden/hyperband.json``: a list of cases, each a sweep config's
``early_terminate`` and ``metric`` blocks, the sweep's runs (state and the metric's
history) and the names of the runs ``sweeps.stop_runs`` stops, with the band, value and
threshold the engine reports for each stop. ``tests/stopping/test_golden.py`` replays
every case through ``localsweep.stopping`` and must get the same answers.

Encoding of a history entry (one ``wandb.log`` row each):

* a JSON number: the metric's value (ints stay ints);
* ``"NaN"``, ``"Infinity"``, ``"-Infinity"``: those floats (JSON has no literal for them);
* ``true`` / ``false``: a bool logged as the metric;
* ``null``: a row that does not contain the metric at all.

Run states use localsweep's names. The engine knows no ``early_terminated``; wandb shows a
run that its sweep stopped as ``killed``, so that is what the engine is given. Only
``running`` matters to hyperband (every other state only contributes to thresholds).

The cases are generated from a fixed seed, so rerunning the script reproduces the file
byte for byte.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import sys
from pathlib import Path
from typing import Any

import sweeps
from sweeps import SweepRun

SEED = 20240917
N_RANDOM_CASES = 320
#: Bands above this are left out of the recorded ``bands`` (the engine computes 100 of
#: them in the min_iter form, most astronomically large).
BAND_RECORD_LIMIT = 10_000

STATE_TO_ENGINE = {
    "running": "running",
    "finished": "finished",
    "failed": "failed",
    "crashed": "crashed",
    "killed": "killed",
    "early_terminated": "killed",
}
STATES = list(STATE_TO_ENGINE)
STATE_WEIGHTS = [45, 20, 10, 10, 8, 7]

OUT = Path(__file__).resolve().parents[2] / "tests" / "golden" / "hyperband.json"

_NO_METRIC = object()


def encode_value(v: Any) -> Any:
    if v is _NO_METRIC:
        return None
    if isinstance(v, float) and math.isnan(v):
        return "NaN"
    if isinstance(v, float) and math.isinf(v):
        return "Infinity" if v > 0 else "-Infinity"
    return v


def decode_value(v: Any) -> Any:
    if v is None:
        return _NO_METRIC
    if v == "NaN":
        return float("nan")
    if v == "Infinity":
        return float("inf")
    if v == "-Infinity":
        return float("-inf")
    return v


def engine_runs(metric: str, runs: list[dict[str, Any]]) -> list[SweepRun]:
    out = []
    for run in runs:
        rows = []
        for step, encoded in enumerate(run["history"]):
            value = decode_value(encoded)
            row: dict[str, Any] = {"_step": step}
            if value is not _NO_METRIC:
                row[metric] = value
            rows.append(row)
        out.append(SweepRun(name=run["name"], state=STATE_TO_ENGINE[run["state"]], history=rows))
    return out


_LINE = re.compile(
    r"^Run: (?P<name>\S+) Step: \d+ +\(Band: (?P<band>-?\d+) Metric: (?P<value>\S+) "
    r"Threshold: (?P<threshold>\S+)\) +STOP$"
)


def _number(text: str) -> Any:
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    return float(text)


def record_case(case: dict[str, Any]) -> dict[str, Any]:
    """Ask the engine about one case and add its answer to the case."""
    config = {
        "method": "grid",
        "parameters": {"x": {"values": [1, 2]}},
        "metric": dict(case["metric"]),
        "early_terminate": dict(case["early_terminate"]),
    }
    runs = engine_runs(case["metric"]["name"], case["runs"])
    try:
        stopped = sweeps.stop_runs(config, runs)
    except ValueError as exc:
        case["error"] = str(exc)
        return case
    case["stopped"] = [r.name for r in stopped]

    # The engine explains itself only through early_terminate_info on running runs;
    # every run's info shares one list of lines, so any running run shows them all.
    info = next((r.early_terminate_info for r in runs if r.early_terminate_info), None)
    decisions = []
    if info is not None:
        case["bands"] = [b for b in info["bands"] if b <= BAND_RECORD_LIMIT]
        for line in info["lines"]:
            m = _LINE.match(line.strip())
            if m:
                decisions.append(
                    {
                        "name": m["name"],
                        "band": int(m["band"]),
                        "value": encode_value(_number(m["value"])),
                        "threshold": encode_value(_number(m["threshold"])),
                    }
                )
    if sorted(d["name"] for d in decisions) != sorted(case["stopped"]):
        raise AssertionError(f"case {case['id']}: could not read every stop from the info lines")
    # The engine reports in its own space, where maximize values are negated.
    case["decisions"] = decisions
    return case


# ---------------------------------------------------------------------------------------
# Hand-written cases


def worked_example(strict: bool | None, goal: str) -> dict[str, Any]:
    """The worked example in the engine notes (min_iter 3, eta 3); mirrored for maximize."""
    table = {
        "A": ("running", [9, 8, 7, 6]),
        "B": ("running", [9, 8, 5, 5]),
        "C": ("running", [9, 8, 6, 6]),
        "D": ("running", [9, 3, 8, 8]),
        "E": ("finished", [9, 9, 9]),
        "F": ("running", [9, 9]),
    }
    sign = -1 if goal == "maximize" else 1
    et: dict[str, Any] = {"type": "hyperband", "min_iter": 3, "eta": 3}
    if strict is not None:
        et["strict"] = strict
    return {
        "id": f"worked-example-{goal}-strict-{strict}",
        "early_terminate": et,
        "metric": {"name": "loss" if goal == "minimize" else "acc", "goal": goal},
        "runs": [
            {"name": name, "state": state, "history": [sign * v for v in hist]}
            for name, (state, hist) in table.items()
        ],
    }


def handmade_cases() -> list[dict[str, Any]]:
    cases = [
        worked_example(None, "minimize"),
        worked_example(True, "minimize"),
        worked_example(False, "minimize"),
        worked_example(True, "maximize"),
        worked_example(False, "maximize"),
    ]

    def case(
        cid: str, et: dict[str, Any], goal: str | None, runs: list[tuple[str, str, list[Any]]]
    ) -> dict[str, Any]:
        metric: dict[str, Any] = {"name": "loss"}
        if goal is not None:
            metric["goal"] = goal
        return {
            "id": cid,
            "early_terminate": {"type": "hyperband", **et},
            "metric": metric,
            "runs": [
                {"name": n, "state": s, "history": [encode_value(v) for v in h]} for n, s, h in runs
            ],
        }

    nan, inf = float("nan"), float("inf")
    cases += [
        # max_iter form: bands 1 and 2 (5/2=2.5 -> 2, 2.5/2=1.25 -> 1).
        case(
            "max-iter-5-s-2-eta-2",
            {"max_iter": 5, "s": 2, "eta": 2},
            "minimize",
            [
                ("a", "finished", [10, 9]),
                ("b", "running", [10, 10]),
                ("c", "running", [10, 8, 8]),
                ("d", "running", [10, 7, 7]),
                ("e", "finished", [10, 6, 6]),
            ],
        ),
        # A tie with the threshold does not stop.
        case(
            "tie-at-threshold",
            {"min_iter": 2, "eta": 2},
            "minimize",
            [
                ("a", "running", [5, 4]),
                ("b", "running", [5, 4]),
                ("c", "running", [5, 4.0]),
                ("d", "running", [5, 3]),
            ],
        ),
        case(
            "negative-zero-ties-zero",
            {"min_iter": 1, "eta": 2},
            "maximize",
            [("a", "running", [0.0]), ("b", "running", [-0.0]), ("c", "running", [0])],
        ),
        # NaN, infinities, bools and missing rows are not iterations.
        case(
            "invalid-values-are-not-iterations",
            {"min_iter": 2, "eta": 3},
            "minimize",
            [
                ("a", "running", [nan, 5, inf, _NO_METRIC, 5]),
                ("b", "running", [1, -inf, 1]),
                ("c", "running", [True, 9, False, 9]),
                ("d", "running", [nan, nan, nan, nan]),
                ("e", "running", [3, _NO_METRIC, 3]),
            ],
        ),
        case("single-run-never-stops", {"min_iter": 1}, None, [("a", "running", [9, 9, 9])]),
        # eta 1.5 from 1 repeats band 1 (1, 1.5 -> 1, 2.25 -> 2, 3.375 -> 3, ...).
        case(
            "repeated-bands",
            {"min_iter": 1, "eta": 1.5},
            "minimize",
            [("a", "running", [3, 2, 1]), ("b", "running", [1, 2, 3]), ("c", "running", [2])],
        ),
        # max_iter wins over min_iter when both are given.
        case(
            "max-iter-wins-over-min-iter",
            {"min_iter": 1, "max_iter": 27, "s": 2, "eta": 3},
            "minimize",
            [
                ("a", "running", [1, 1, 1]),
                ("b", "running", [9, 9, 9]),
                ("c", "running", [5, 5, 5]),
            ],
        ),
        case(
            "empty-bands-is-an-error",
            {"max_iter": 2, "s": 2, "eta": 3},
            "minimize",
            [("a", "running", [1, 2, 3])],
        ),
        case(
            "s-zero-is-an-error",
            {"max_iter": 81, "s": 0, "eta": 3},
            "minimize",
            [("a", "running", [1, 2, 3])],
        ),
        # Past the last band (max_iter form) a run is still judged at the last band.
        case(
            "judged-at-last-band-after-it",
            {"max_iter": 18, "s": 2, "eta": 3},
            "minimize",
            [
                ("a", "running", [5, 5, 5, 5, 5, 5, 1, 1, 1, 1]),
                ("b", "running", [5, 5, 5, 5, 5, 4]),
                ("c", "finished", [5, 5, 5, 5, 5, 2]),
                ("d", "running", [5, 5]),
            ],
        ),
    ]
    # The threshold's index is int((1/eta) * n), which is not always int(n/eta):
    # (1/1.1)*33 is 30.0 but 33/1.1 is 29.999..., and the other way round for 1.3 and 39.
    # A probe valued 30 among runs valued 0..n-1: it ties the threshold with one index
    # and loses with the other.
    for eta, n in ((1.1, 33), (1.3, 39)):
        runs = [(f"p{i:02d}", "finished", [i]) for i in range(n) if i != 30]
        runs.append(("probe", "running", [30]))
        cases.append(
            case(
                f"threshold-index-rounding-eta-{eta}", {"min_iter": 1, "eta": eta}, "minimize", runs
            )
        )
    return cases


# ---------------------------------------------------------------------------------------
# Generated cases


def random_early_terminate(rng: random.Random) -> dict[str, Any]:
    et: dict[str, Any] = {"type": "hyperband"}
    form = rng.choices(["min", "max", "both"], weights=[55, 38, 7])[0]
    eta = rng.choice([2, 3, 3, 2.5, 3.0, 4, 1.5, 2.0])
    if form in ("min", "both"):
        et["min_iter"] = rng.choice([1, 1, 2, 3, 3, 4, 5])
    if form in ("max", "both"):
        et["max_iter"] = rng.choice([9, 18, 20, 27, 30, 50, 81, 100])
        et["s"] = rng.choice([1, 2, 3, 3, 4, 5])
    if rng.random() < 0.85:
        et["eta"] = eta
    strict = rng.choice([True, False, None])
    if strict is not None:
        et["strict"] = strict
    return et


def random_history(rng: random.Random, style: str, length: int, p_invalid: float) -> list[Any]:
    start = rng.uniform(1.0, 10.0)
    decay = rng.uniform(0.0, 0.3)
    floor = rng.uniform(-1.0, 2.0)
    out: list[Any] = []
    for t in range(length):
        if rng.random() < p_invalid:
            out.append(
                rng.choice([float("nan"), float("inf"), float("-inf"), True, False, _NO_METRIC])
            )
            continue
        x = floor + (start - floor) * math.exp(-decay * t) + rng.gauss(0.0, 0.3)
        if style == "int":
            v: Any = round(x)
        elif style == "coarse":
            v = round(x * 2) / 2
        elif style == "mixed":
            v = round(x) if rng.random() < 0.5 else round(x, 1)
        else:
            v = round(x, 3)
        out.append(v)
    return out


def random_case(rng: random.Random, index: int) -> dict[str, Any]:
    et = random_early_terminate(rng)
    goal = rng.choices(["minimize", "maximize", None], weights=[45, 40, 15])[0]
    metric: dict[str, Any] = {"name": rng.choice(["loss", "val/acc", "eval.score"])}
    if goal is not None:
        metric["goal"] = goal
    n_runs = (
        rng.choice([1, 2, 3, 5, 8, 12, 20, 30, 40]) if rng.random() < 0.5 else rng.randint(1, 40)
    )
    max_len = rng.choice([3, 6, 10, 15, 20, 30, 30, 60, 90])
    style = rng.choice(["int", "coarse", "mixed", "float"])
    p_invalid = rng.choice([0.0, 0.0, 0.05, 0.2])
    runs = []
    for i in range(n_runs):
        length = rng.randint(0, max_len)
        history = random_history(rng, style, length, p_invalid)
        if rng.random() < 0.03:
            history = [float("nan")] * length
        runs.append(
            {
                "name": f"r{i:02d}",
                "state": rng.choices(STATES, weights=STATE_WEIGHTS)[0],
                "history": [encode_value(v) for v in history],
            }
        )
    return {"id": f"random-{index:03d}", "early_terminate": et, "metric": metric, "runs": runs}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    assert sweeps.__version__ == "0.3.0", sweeps.__version__

    rng = random.Random(SEED)
    cases = handmade_cases() + [random_case(rng, i) for i in range(N_RANDOM_CASES)]
    cases = [record_case(c) for c in cases]

    # 0.2.0 dropped ``history=`` silently and so stopped nothing; make sure histories arrive.
    by_id = {c["id"]: c for c in cases}
    assert by_id["worked-example-minimize-strict-True"]["stopped"] == ["A", "D"]
    assert by_id["worked-example-minimize-strict-False"]["stopped"] == []
    assert by_id["worked-example-maximize-strict-True"]["stopped"] == ["A", "D"]
    n_stopping = sum(1 for c in cases if c.get("stopped"))
    assert n_stopping > len(cases) // 3, n_stopping

    payload = {
        "engine": f"sweeps {sweeps.__version__}",
        "generator": "tools/golden/record_hyperband.py",
        "seed": SEED,
        "cases": cases,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # One case per line keeps diffs readable when the generator changes.
    lines = [
        '{"engine":' + json.dumps(payload["engine"]) + ",",
        '"generator":' + json.dumps(payload["generator"]) + ",",
        '"seed":' + json.dumps(SEED) + ",",
        '"cases":[',
    ]
    lines += [
        json.dumps(c, separators=(",", ":"), allow_nan=False) + ("," if i < len(cases) - 1 else "")
        for i, c in enumerate(cases)
    ]
    lines.append("]}")
    text = "\n".join(lines) + "\n"
    assert json.loads(text) == json.loads(json.dumps(payload, allow_nan=False))
    args.out.write_text(text)
    n_errors = sum(1 for c in cases if "error" in c)
    print(
        f"wrote {len(cases)} cases ({n_stopping} with stops, {n_errors} engine errors) "
        f"to {args.out}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
