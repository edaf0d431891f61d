"""``tools/wheelhouse.sh build`` refuses, before it downloads anything, a wheelhouse that could
not install on the cluster (docs/air-gapped.md): one built by a Python of another version
than the cluster's (``pip download`` picks dependencies with markers such as
``python_version < "3.11"`` for the Python that runs it, whatever ``--python-version`` says),
and one for a glibc older than wandb 0.31's wheels need (manylinux_2_28)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).parents[1]
SCRIPT = REPO / "tools" / "wheelhouse.sh"
THIS = f"{sys.version_info[0]}.{sys.version_info[1]}"
# A Python version no machine has.
NONE = "3.99"


def _build(tmp_path: Path, *args: str, python: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHON", "PYTHONPATH")}
    env["PYENV_ROOT"] = str(tmp_path / "no-pyenv")
    if python is not None:
        env["PYTHON"] = python
    return subprocess.run(
        ["bash", str(SCRIPT), "build", str(tmp_path / "wheelhouse"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_python_of_another_version_than_the_clusters_is_refused(tmp_path: Path) -> None:
    done = _build(tmp_path, "--python-version", NONE, python=sys.executable)
    assert done.returncode == 2, done.stderr
    assert f"is Python {THIS}, not {NONE}" in done.stderr
    assert f"PYTHON=/path/to/python{NONE}" in done.stderr
    assert not (tmp_path / "wheelhouse").exists()


def test_without_a_python_of_the_clusters_version_it_says_how_to_get_one(tmp_path: Path) -> None:
    done = _build(
        tmp_path, "--python-version", NONE, "--platform", "manylinux_2_28_x86_64", python=None
    )
    assert done.returncode == 2, done.stderr
    assert f"no Python {NONE} found" in done.stderr
    assert f"pyenv install {NONE}" in done.stderr
    assert f"PYTHON=/path/to/python{NONE}" in done.stderr
    assert not (tmp_path / "wheelhouse").exists()


def test_a_glibc_older_than_wandbs_wheels_need_is_refused(tmp_path: Path) -> None:
    for platform in ("manylinux_2_17_x86_64", "manylinux2014_x86_64"):
        done = _build(
            tmp_path, "--python-version", THIS, "--platform", platform, python=sys.executable
        )
        assert done.returncode == 2, done.stderr
        assert "glibc 2.28" in done.stderr
        assert "--platform manylinux_2_28_" in done.stderr
        assert not (tmp_path / "wheelhouse").exists()


@pytest.mark.parametrize("option", ["--extras", "--platform", "--source", "--python-version"])
def test_an_option_without_its_value_is_named_with_the_usage(tmp_path: Path, option: str) -> None:
    """``build DIR --extras`` (the value forgotten) said only bash's "$2: unbound variable"."""
    done = _build(tmp_path, option, python=sys.executable)
    assert done.returncode == 2, done.stderr
    assert f"wheelhouse.sh: {option} needs a value" in done.stderr
    assert "unbound variable" not in done.stderr
    assert "tools/wheelhouse.sh build DIR" in done.stderr  # the usage
