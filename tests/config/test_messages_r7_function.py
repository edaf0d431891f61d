"""``--function`` given a file, and config warnings, as a user sees them on the command line.

A file outside the working folder cannot be named as a module from there: the message
gives the command that works (its folder on ``PYTHONPATH``), and following it runs the
sweep. A file inside keeps its dotted module name (``sub/train.py`` -> ``sub.train``).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "helpers"))
from cli_process import cli_at

pytestmark = pytest.mark.slow

CONFIG = "method: grid\nparameters:\n  x: {values: [1]}\n"
TRAIN = "def train(config):\n    return config['x']\n"


@pytest.fixture
def work(tmp_path: Path) -> tuple[Path, str]:
    """``top/api1.py`` and ``top/es/sub/train.py``; a sweep of one run in ``top/es/s.db``."""
    top = tmp_path
    (top / "api1.py").write_text(TRAIN)
    es = top / "es"
    (es / "sub").mkdir(parents=True)
    (es / "sub" / "train.py").write_text(TRAIN)
    (es / "s.yaml").write_text(CONFIG)
    made = cli_at(es, "sweep", "s.yaml", "--db", "s.db")
    assert made.returncode == 0, made.stderr
    return top, made.stdout.strip()


def refused(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    return " ".join(proc.stderr.split())


@pytest.mark.parametrize("ref", ["../api1.py", "../api1.py:train"])
def test_a_file_outside_the_working_folder_gets_a_command_that_works(
    work: tuple[Path, str], ref: str
) -> None:
    top, sweep_id = work
    said = refused(cli_at(top / "es", "agent", sweep_id, "--db", "s.db", "-f", ref))
    assert ".:/api1" not in said and "...api1" not in said
    assert f"(or start the agent in {top}, with --function api1:train" in said
    found = re.search(r"PYTHONPATH=(\S+) localsweep (.*?) \(or start", said)
    assert found, said
    where = shlex.split(found[1])[0].removesuffix(":$PYTHONPATH")
    assert where == str(top)
    args = shlex.split(found[2])
    assert args == ["agent", sweep_id, "--db", "s.db", "-f", "api1:train"]

    # Following it runs the sweep.
    path = os.pathsep.join(p for p in (where, os.environ.get("PYTHONPATH")) if p)
    done = cli_at(top / "es", *args, env={"PYTHONPATH": path})
    assert done.returncode == 0, done.stderr
    assert "1 run(s)" in done.stdout + done.stderr


def test_a_missing_file_outside_the_working_folder_says_so(work: tuple[Path, str]) -> None:
    top, sweep_id = work
    said = refused(cli_at(top / "es", "agent", sweep_id, "--db", "s.db", "-f", "../nope.py:f"))
    assert f"there is no file {top / 'nope.py'} either: check the path" in said


def test_a_file_inside_the_working_folder_gets_its_module_name(work: tuple[Path, str]) -> None:
    top, sweep_id = work
    said = refused(cli_at(top / "es", "agent", sweep_id, "--db", "s.db", "-f", "sub/train.py"))
    assert "drop the `.py` (--function sub.train:train)" in said


def test_sweep_warns_of_a_target_on_only_some_metrics(tmp_path: Path) -> None:
    (tmp_path / "mo.yaml").write_text(
        "method: custom\n"
        "metrics:\n"
        "  - {name: loss, goal: minimize, target: 0.1}\n"
        "  - {name: acc, goal: maximize}\n"
        "parameters:\n"
        "  x: {min: 0.0, max: 1.0}\n"
    )
    for command in (["validate", "mo.yaml"], ["sweep", "mo.yaml", "--db", "s.db"]):
        proc = cli_at(tmp_path, *command)
        assert proc.returncode == 0, proc.stderr
        said = " ".join(proc.stderr.split())
        assert "Warning: metrics: no `target` on metrics[1] ('acc')" in said
