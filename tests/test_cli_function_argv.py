"""``--function MODULE:FUNC`` runs the function with the ``sys.argv`` a ``python train.py``
script that calls ``wandb.agent(sweep_id, function=train)`` gives it: ``[<the module's
file>]``, not localsweep's own arguments, which an ``argparse`` in the module rejects."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import localsweep

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
from cli_process import cli

# Every test starts real `localsweep` processes.
pytestmark = pytest.mark.slow

# As wonbeomjang/sign-language-classification-dacon: argparse at import and in the function.
TRAIN = """\
import argparse
import sys

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=2)
AT_IMPORT = list(sys.argv)
DEFAULTS = parser.parse_args()


def train():
    args = parser.parse_args()
    with wandb.init(config=vars(args)) as run:
        for e in range(run.config.epochs):
            run.log({"loss": run.config.lr / (e + 1)})
        run.summary["argv"] = list(sys.argv)
        run.summary["argv_at_import"] = AT_IMPORT
"""

GRID = """\
method: grid
metric: {name: loss, goal: minimize}
parameters:
  lr: {values: [0.1, 0.2]}
"""


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "trainmod.py").write_text(TRAIN)
    (tmp_path / "sweep.yaml").write_text(GRID)
    return tmp_path


@pytest.mark.parametrize(
    ("command", "isolation"),
    [("run", "thread"), ("run", "process"), ("agent", "thread"), ("agent", "process")],
)
def test_the_function_sees_its_modules_file_as_argv_not_localsweeps_arguments(
    files: Path, command: str, isolation: str
) -> None:
    if command == "run":
        proc = cli(
            "run", "sweep.yaml", "-f", "trainmod:train", "--db", "s.db", "--isolation", isolation
        )
    else:
        sweep_id = cli("sweep", "sweep.yaml", "--db", "s.db").stdout.strip()
        proc = cli(
            "agent", sweep_id, "--function", "trainmod:train", "--db", "s.db",
            "--isolation", isolation,
        )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "unrecognized arguments" not in proc.stderr
    [sweep] = localsweep.Api(files / "s.db").sweeps()
    runs = sweep.runs
    assert [r.state for r in runs] == ["finished", "finished"], [r.summary for r in runs]
    for run in runs:
        assert run.summary["argv"] == [str(files / "trainmod.py")]
        assert run.summary["argv_at_import"] == [str(files / "trainmod.py")]


@pytest.fixture
def cli_argv(files: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """localsweep's own command line in this process; sys.path and the user's module are
    put back afterwards."""
    argv = ["localsweep", "slurm", "sweep.yaml", "-f", "trainmod:train", "--nodes", "2"]
    monkeypatch.setattr(sys, "argv", list(argv))
    monkeypatch.setattr(sys, "path", list(sys.path))
    yield argv  # type: ignore[misc]
    sys.modules.pop("trainmod", None)


def test_slurm_checks_the_import_with_the_argv_the_tasks_give_it(
    files: Path, cli_argv: list[str]
) -> None:
    from localsweep.cluster._checks import check_function

    assert check_function("trainmod:train", ()) == []
    assert sys.argv == [str(files / "trainmod.py")]


def test_a_failed_import_leaves_localsweeps_argv_for_its_message(
    files: Path, cli_argv: list[str]
) -> None:
    import click

    from localsweep._cli_common import load_function

    (files / "trainmod.py").write_text("import sys\nsys.exit(3)\n")
    with pytest.raises(click.UsageError):
        load_function("trainmod:train")
    assert sys.argv == cli_argv
