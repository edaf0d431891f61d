"""``localsweep validate`` prints hyperband's bands as wandb's engine computes them: the whole
list when ``max_iter`` (with ``s``) ends it, the first ones and ``...`` when they grow from
``min_iter`` without end. Expected bands: the engine's, from tests/golden/hyperband.json."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.slow

GOLDEN = json.loads(
    (Path(__file__).parent / "golden" / "hyperband.json").read_text(encoding="utf-8")
)["cases"]
_ENDED = [c for c in GOLDEN if "max_iter" in c["early_terminate"] and c.get("bands")]
# The named cases and a few of the random ones: each case is a process start.
FINITE = [c for c in _ENDED if not c["id"].startswith("random-")] + [
    c for c in _ENDED if c["id"].startswith("random-")
][:4]


def _validate(tmp_path: Path, early_terminate: dict[str, Any]) -> str:
    config = {
        "method": "random",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"x": {"min": 0.0, "max": 1.0}},
        "early_terminate": early_terminate,
    }
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump(config))
    done = subprocess.run(
        [sys.executable, "-m", "localsweep", "validate", "sweep.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    (line,) = [x for x in (done.stdout + done.stderr).splitlines() if "early_terminate" in x]
    return line


@pytest.mark.parametrize("case", FINITE, ids=[c["id"] for c in FINITE])
def test_bands_ended_by_max_iter_are_printed_whole(tmp_path: Path, case: dict[str, Any]) -> None:
    line = _validate(tmp_path, case["early_terminate"])
    assert line.endswith("bands " + ", ".join(str(b) for b in case["bands"])), line


def test_bands_from_min_iter_alone_end_with_an_ellipsis(tmp_path: Path) -> None:
    line = _validate(tmp_path, {"type": "hyperband", "min_iter": 1, "eta": 3})
    assert line.endswith("bands 1, 3, 9, 27, 81, 243, 729, 2187..."), line
