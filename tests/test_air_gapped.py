"""Installing on a cluster without internet (docs/air-gapped.md): a wheelhouse built with
``tools/wheelhouse.sh build`` installs localsweep into a fresh virtual env with pip's
``--no-index`` (no index, no pip configuration: only the wheelhouse), and the installed
localsweep runs a sweep.

The wheelhouse is built from this checkout and the dependencies pip already has in its cache
(downloaded once, by the first run anywhere on the machine; never twice).
"""

from __future__ import annotations

import glob
import os
import platform
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parents[1]
SCRIPT = REPO / "tools" / "wheelhouse.sh"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

SWEEP = """\
method: grid
metric: {name: loss, goal: minimize}
parameters:
  x: {values: [3, 1, 2]}
"""

TRAIN = """\
import wandb

def train():
    with wandb.init() as run:
        run.log({"loss": float(run.config["x"])})
"""


def _python(version: str) -> str | None:
    """A Python of this version, looked for where tools/wheelhouse.sh looks."""
    root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    found = shutil.which(f"python{version}")
    candidates = [found] if found else []
    candidates += sorted(glob.glob(f"{root}/versions/{version}.*/bin/python{version}"))[::-1]
    for candidate in candidates:
        done = subprocess.run(
            [candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
            capture_output=True,
            text=True,
        )
        if done.returncode == 0 and done.stdout.strip() == version:
            return candidate
    return None


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, f"{args}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def test_a_wheelhouse_installs_localsweep_with_no_index_and_it_runs_a_sweep(
    tmp_path: Path,
) -> None:
    # Nothing of this checkout on the import path: the venv must use what it installed.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    wheelhouse = tmp_path / "wheelhouse"
    _run(
        ["bash", str(SCRIPT), "build", str(wheelhouse)], {**env, "PYTHON": sys.executable}, tmp_path
    )
    wheels = sorted(p.name for p in wheelhouse.iterdir())
    assert any(name.startswith("localsweep-") for name in wheels)
    assert any(name.startswith("wandb-") for name in wheels)

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], env, tmp_path)
    python = str(venv / "bin" / "python")
    # As on the cluster: no index, no pip configuration, no other wheel folder.
    offline = {k: v for k, v in env.items() if not k.startswith("PIP_")}
    offline |= {"PIP_CONFIG_FILE": os.devnull, "PYTHON": python}
    _run(["bash", str(SCRIPT), "install", str(wheelhouse), "--quiet"], offline, tmp_path)

    where = _run([python, "-c", "import localsweep; print(localsweep.__file__)"], offline, tmp_path)
    assert where.stdout.strip().startswith(str(venv))

    (tmp_path / "sweep.yaml").write_text(SWEEP)
    (tmp_path / "train.py").write_text(TRAIN)
    localsweep = str(venv / "bin" / "localsweep")
    _run(
        [localsweep, "run", "sweep.yaml", "--function", "train:train", "--db", "s.db"],
        offline,
        tmp_path,
    )
    with sqlite3.connect(tmp_path / "s.db") as conn:
        rows = conn.execute("SELECT state, metric FROM runs ORDER BY metric").fetchall()
    assert rows == [("finished", 1.0), ("finished", 2.0), ("finished", 3.0)]


def test_a_wheelhouse_for_a_python_310_cluster_installs_there_with_no_index(
    tmp_path: Path,
) -> None:
    """The documented command for another Python than the builder's: the script runs pip
    with a Python 3.10 (the markers of tomli and exceptiongroup, python_version < "3.11", hold
    for 3.10 only), and takes the manylinux_2_17 wheels a manylinux_2_28 machine accepts
    (numpy for 3.10 and psycopg-binary exist only as those)."""
    python310 = _python("3.10")
    if python310 is None:
        pytest.skip("no Python 3.10 here (python3.10 on PATH or pyenv's)")
    if sys.platform != "linux" or platform.machine() != "x86_64":
        pytest.skip("installs manylinux x86_64 wheels on this machine")
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHON")}
    wheelhouse = tmp_path / "wheelhouse"
    build = _run(
        [
            "bash",
            str(SCRIPT),
            "build",
            str(wheelhouse),
            "--python-version",
            "3.10",
            "--platform",
            "manylinux_2_28_x86_64",
            "--extras",
            "postgres",
        ],
        env,
        tmp_path,
    )
    assert "(Python 3.10)" in build.stderr
    wheels = sorted(p.name for p in wheelhouse.iterdir())
    for name in ("tomli-", "exceptiongroup-", "psycopg_binary-", "numpy-"):
        assert any(wheel.startswith(name) for wheel in wheels), (name, wheels)

    venv = tmp_path / "venv"
    _run([python310, "-m", "venv", str(venv)], env, tmp_path)
    python = str(venv / "bin" / "python")
    offline = {k: v for k, v in env.items() if not k.startswith("PIP_")}
    offline |= {"PIP_CONFIG_FILE": os.devnull, "PYTHON": python}
    _run(
        ["bash", str(SCRIPT), "install", str(wheelhouse), "--extras", "postgres", "--quiet"],
        offline,
        tmp_path,
    )
    version = _run([str(venv / "bin" / "localsweep"), "--version"], offline, tmp_path)
    assert version.stdout.startswith("localsweep, version ")
    _run([python, "-c", "import psycopg, tomli, exceptiongroup"], offline, tmp_path)
