"""Start-up cost: each command imports only what it needs when it needs it.

What is asserted is which heavy libraries a command has loaded (each costs a few tenths of
a second of CPU, ``scipy.stats`` two), never a timing; ``benchmarks/startup.py`` measures
the CPU time beside ``wandb --help`` and ``optuna --help``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("sqlalchemy", "wandb", "optuna", "scipy", "plotly", "sklearn", "numpy", "alembic")

PROBE = """
import json, sys
from localsweep.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
loaded = sorted({name.split(".")[0] for name in sys.modules})
print("\\nLOADED " + json.dumps(loaded), file=sys.stderr)
"""


def loaded_by(*args: str, cwd: Path) -> set[str]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    line = next(line for line in proc.stderr.splitlines() if line.startswith("LOADED "))
    return set(json.loads(line[len("LOADED ") :]))


@pytest.mark.parametrize(
    "args",
    [["--help"], ["validate", str(ROOT / "examples" / "quickstart" / "sweep.yaml")]],
    ids=["help", "validate"],
)
def test_quick_commands_load_no_heavy_library(args: list[str], tmp_path: Path) -> None:
    assert loaded_by(*args, cwd=tmp_path).isdisjoint(HEAVY)


def test_importing_localsweep_loads_no_heavy_library(tmp_path: Path) -> None:
    code = "import sys, localsweep; print(sorted({m.split('.')[0] for m in sys.modules}))"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout
    assert not any(f"'{name}'" in out for name in HEAVY), out


def test_random_and_bayes_first_proposals_do_not_load_scipy_stats(tmp_path: Path) -> None:
    code = """
import random, sys
from localsweep.config import parse_config
from localsweep.search import make_search
params = {"n": {"distribution": "normal"}, "l": {"distribution": "log_normal"},
          "q": {"distribution": "q_normal", "q": 0.5}, "u": {"min": 0.0, "max": 1.0}}
for method in ("random", "bayes"):
    cfg = parse_config({"method": method, "metric": {"name": "loss"}, "parameters": params})
    make_search(cfg).propose([], random.Random(0))
print("scipy.stats" in sys.modules, "scipy.optimize" in sys.modules)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "False"], out


def test_localsweep_agent_stays_the_function_after_its_subpackage_loads(tmp_path: Path) -> None:
    # Lazy imports must not let the subpackage `localsweep.agent` replace the function.
    code = (
        "import localsweep, localsweep.agent._workers, localsweep.api\n"
        "from localsweep._entry import agent\n"
        "print(localsweep.agent is agent)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["True"]


def test_a_random_or_grid_sweep_does_not_load_optuna(tmp_path: Path) -> None:
    # Optuna costs a second of CPU at start, and imports tqdm.auto, which warns
    # "IProgress not found" in a notebook without ipywidgets: only bayes and custom use it.
    code = """
import sys, localsweep
for method in ("random", "grid"):
    cfg = {"method": method, "metric": {"name": "loss"}, "parameters": {"x": {"values": [1, 2]}}}
    localsweep.run(cfg, lambda c: c["x"], count=2, db="s.db", quiet=True)
print("optuna" in sys.modules, "tqdm" in sys.modules)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "False"], out


def test_ls_does_not_load_wandb(tmp_path: Path) -> None:
    """Listing the store's sweeps needs no wandb: importing it cost 0.7 s
    of every `localsweep ls`."""
    import localsweep

    db = str(tmp_path / "s.db")
    config = {"method": "grid", "metric": {"name": "loss"}, "parameters": {"x": {"values": [1]}}}
    localsweep.run(config, lambda c: {"loss": float(c["x"])}, db=db, quiet=True)
    assert "wandb" not in loaded_by("ls", "--db", db, cwd=tmp_path)
