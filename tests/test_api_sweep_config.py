"""``Api().sweep(id).config`` as wandb.Api returns it: each parameter with the
``distribution`` W&B fills in, and the defaults its schema gives (what the sweeps engine's
``SweepConfig`` fills); the stored config stays as the user wrote it."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import localsweep
from localsweep import Api
from localsweep.store import Store

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
from cli_process import cli

#: The sweeps engine (PyPI ``sweeps``), where it is installed beside localsweep's tests.
ENGINE_PYTHON = Path("/opt/sweeps-venv/bin/python")

PARAMETERS: dict[str, Any] = {
    "optimizer": {"values": ["adam", "sgd"]},
    "layers": {"min": 1, "max": 5},
    "dropout": {"min": 0.1, "max": 0.5},
    "epochs": {"value": 3},
    "lr": {"distribution": "log_uniform_values", "min": 0.0001, "max": 0.1},
    "act": {"values": ["relu", "gelu"], "probabilities": [0.25, 0.75]},
    "noise": {"distribution": "normal"},
    "batch": {"distribution": "q_uniform", "min": 16, "max": 128},
    "momentum": {"distribution": "uniform", "min": 0, "max": 1.0},
}
CONFIG = {"method": "random", "metric": {"name": "loss"}, "parameters": PARAMETERS}

FILLED: dict[str, Any] = {
    "optimizer": {"values": ["adam", "sgd"], "distribution": "categorical"},
    "layers": {"min": 1, "max": 5, "distribution": "int_uniform"},
    "dropout": {"min": 0.1, "max": 0.5, "distribution": "uniform"},
    "epochs": {"value": 3, "distribution": "constant"},
    "lr": {"distribution": "log_uniform_values", "min": 0.0001, "max": 0.1},
    "act": {
        "values": ["relu", "gelu"],
        "probabilities": [0.25, 0.75],
        "distribution": "categorical_w_probabilities",
    },
    "noise": {"distribution": "normal", "mu": 0.0, "sigma": 1.0},
    "batch": {"distribution": "q_uniform", "min": 16, "max": 128, "q": 1.0},
    "momentum": {"distribution": "uniform", "min": 0, "max": 1.0},
}


def test_config_fills_each_parameters_distribution_as_wandbs_api_returns_it(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "s.db")
    config = Api(db).sweep(localsweep.sweep(copy.deepcopy(CONFIG), db=db)).config
    assert config == {**CONFIG, "parameters": FILLED}


def test_nested_parameters_get_their_distribution_too(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    nested = {
        "method": "grid",
        "parameters": {"opt": {"parameters": {"name": {"values": ["adam"]}, "lr": {"value": 0.1}}}},
    }
    config = Api(db).sweep(localsweep.sweep(nested, db=db)).config
    assert config["parameters"]["opt"] == {
        "parameters": {
            "name": {"values": ["adam"], "distribution": "categorical"},
            "lr": {"value": 0.1, "distribution": "constant"},
        }
    }


def test_the_stored_config_stays_as_written(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    written = copy.deepcopy(CONFIG)
    sweep = Api(db).sweep(localsweep.sweep(written, db=db))
    sweep.config["parameters"]["layers"]["distribution"] = "changed"  # a copy each time
    assert written == CONFIG
    assert Store(db).get_sweep(sweep.id).config.raw == CONFIG
    assert sweep.config["parameters"]["layers"]["distribution"] == "int_uniform"


#: What the sweeps engine filled for CONFIG (tools/golden/record_config_fill.py).
GOLDEN = json.loads((Path(__file__).parent / "golden" / "config_fill.json").read_text())


def _as_json(value: Any) -> str:
    # As JSON, so an int the engine fills (q_normal's mu) may not come back a float.
    return json.dumps(value, sort_keys=True)


def test_the_filled_parameters_are_what_wandbs_sweeps_engine_fills(tmp_path: Path) -> None:
    assert GOLDEN["config"] == CONFIG, "record tests/golden/config_fill.json again"
    db = str(tmp_path / "s.db")
    ours = Api(db).sweep(localsweep.sweep(copy.deepcopy(CONFIG), db=db)).config["parameters"]
    assert _as_json(ours) == _as_json(GOLDEN["parameters"])


@pytest.mark.skipif(not ENGINE_PYTHON.exists(), reason="wandb's sweeps engine not installed")
def test_the_golden_fill_is_what_the_installed_engine_fills() -> None:
    script = (
        "import json, sys, warnings; warnings.simplefilter('ignore')\n"
        "from sweeps.config import SweepConfig\n"
        "print(json.dumps(dict(SweepConfig(json.loads(sys.argv[1])))['parameters']))\n"
    )
    engine = subprocess.run(
        [str(ENGINE_PYTHON), "-c", script, json.dumps(CONFIG)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert _as_json(json.loads(engine.stdout)) == _as_json(GOLDEN["parameters"])


def test_the_report_shows_the_config_as_written(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    sweep_id = localsweep.sweep(copy.deepcopy(CONFIG), db=db)
    made = cli("report", sweep_id, "--db", db, "-o", str(tmp_path / "r.html"))
    assert made.returncode == 0, made.stderr
    page = (tmp_path / "r.html").read_text()
    shown = page[
        page.index('<pre id="sweep-config">') : page.index("</pre>", page.index("sweep-config"))
    ]
    assert "layers:" in shown and "distribution: int_uniform" not in shown
