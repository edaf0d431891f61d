"""Sweep values with characters outside ASCII, under a locale whose encoding has no byte
for them (``LC_ALL=C`` without Python's UTF-8 mode; Latin-1 clusters are alike): the
training gets exactly the value the sweep records, or, where no program can be given it
(a command line is bytes in the locale's encoding), the agent says so and the fix."""

from __future__ import annotations

import ast
import os
import sys
from pathlib import Path

import pytest

import localsweep

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))
from cli_process import cli_at

pytestmark = pytest.mark.slow

#: Python's text files, command line and streams in ASCII: what a user on a cluster with
#: `LANG=C` (or none) and an older Python setting gets.
ASCII_LOCALE = {"LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}
VALUES = ["adamé", "学习", "🚀"]

CONFIG = (
    "method: grid\nmetric: {name: loss, goal: minimize}\n"
    'parameters:\n  opt: {values: ["adamé", "学习", "🚀"]}\n'
)

TRAIN = """
import wandb
def train():
    with wandb.init() as run:
        with open("seen.txt", "a", encoding="utf-8") as f:
            f.write(ascii(run.config["opt"]) + "\\n")
        run.log({"loss": len(run.config["opt"])})
"""

PROGRAM = """
import wandb
with wandb.init() as run:
    run.log({"loss": len(run.config["opt"])})
"""


def _seen(work: Path) -> list[str]:
    return [ast.literal_eval(line) for line in (work / "seen.txt").read_text().splitlines()]


def test_each_value_reaches_wandb_config_as_recorded_under_an_ascii_locale(
    tmp_path: Path,
) -> None:
    # The parameter file wandb.init reads was UTF-8, which wandb reads in the locale's
    # encoding: `adamé` arrived as `adamÃ©` under Latin-1, and every run failed under
    # ASCII, its grid point spent.
    (tmp_path / "s.yaml").write_text(CONFIG, encoding="utf-8")
    (tmp_path / "train.py").write_text(TRAIN)
    made = cli_at(tmp_path, "sweep", "s.yaml", "--db", "v.db", env=ASCII_LOCALE)
    assert made.returncode == 0, made.stderr
    sweep_id = made.stdout.strip().splitlines()[-1]

    ran = cli_at(
        tmp_path, "agent", "--db", "v.db", "--function", "train:train", sweep_id,
        env={**ASCII_LOCALE, "WANDB_MODE": "offline"},
    )  # fmt: skip

    assert ran.returncode == 0, ran.stderr
    runs = localsweep.Api(str(tmp_path / "v.db")).sweep(sweep_id).runs
    assert sorted(_seen(tmp_path)) == sorted(VALUES)
    assert {(r.config["opt"], r.state, r.summary["loss"]) for r in runs} == {
        (v, "finished", len(v)) for v in VALUES
    }


def test_a_value_the_locale_cannot_pass_to_a_program_stops_the_agent_naming_the_fix(
    tmp_path: Path,
) -> None:
    # The command line could not be encoded: a traceback, and the run left `running`.
    (tmp_path / "s.yaml").write_text(CONFIG + "program: prog.py\n", encoding="utf-8")
    (tmp_path / "prog.py").write_text(PROGRAM)
    made = cli_at(tmp_path, "sweep", "s.yaml", "--db", "p.db", env=ASCII_LOCALE)
    assert made.returncode == 0, made.stderr
    sweep_id = made.stdout.strip().splitlines()[-1]

    ran = cli_at(
        tmp_path, "agent", "--db", "p.db", sweep_id, env={**ASCII_LOCALE, "WANDB_MODE": "offline"}
    )

    assert ran.returncode == 1, ran.stderr
    assert "Traceback" not in ran.stderr, ran.stderr
    [error] = [line for line in ran.stderr.splitlines() if line.startswith("Error:")]
    assert "cannot pass '--opt=adam\\xe9' to its program" in error
    assert "(ascii)" in error and "`LANG=C.UTF-8`" in error
    [run] = localsweep.Api(str(tmp_path / "p.db")).sweep(sweep_id).runs
    assert (run.state, run.end_reason) == ("killed", "setup_error")

    # Under a UTF-8 locale the same sweep runs every point, each value as recorded.
    again = cli_at(
        tmp_path, "agent", "--db", "p.db", sweep_id,
        env={**ASCII_LOCALE, "PYTHONUTF8": "1", "WANDB_MODE": "offline"},
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    runs = localsweep.Api(str(tmp_path / "p.db")).sweep(sweep_id).runs
    finished = {(r.config["opt"], r.summary["loss"]) for r in runs if r.state == "finished"}
    assert finished == {(v, len(v)) for v in VALUES}


def test_a_folder_whose_name_is_not_utf8_is_named_before_anything_is_written(
    tmp_path: Path,
) -> None:
    # A sweep made there ended in the database's traceback (an empty database left behind),
    # and an agent there in a traceback with the run it had claimed left `running`.
    odd = Path(os.fsdecode(bytes(tmp_path) + b"/bad\xff dir"))
    odd.mkdir()
    (odd / "s.yaml").write_text("method: grid\nparameters:\n  x: {values: [1]}\n")
    for folder in (odd, tmp_path):
        (folder / "train.py").write_text(TRAIN)

    made = cli_at(odd, "sweep", "s.yaml")

    assert made.returncode == 2, made.stderr
    assert "Traceback" not in made.stderr, made.stderr
    assert "bad\\xff dir, has a name that is not valid UTF-8" in made.stderr
    assert "Rename the folder" in made.stderr
    assert not (odd / "localsweep.db").exists()

    sweep_id = localsweep.sweep(
        {"method": "grid", "parameters": {"opt": {"values": ["a"]}}},
        db=str(tmp_path / "s.db"),
    )
    # The runs' files go to WANDB_DIR, else the working folder.
    for where, env in ((odd, {"WANDB_DIR": ""}), (tmp_path, {"WANDB_DIR": str(odd)})):
        ran = cli_at(
            where, "agent", "--db", str(tmp_path / "s.db"), "-f", "train:train", sweep_id,
            env={**env, "WANDB_MODE": "offline"},
        )  # fmt: skip
        assert ran.returncode == 1, ran.stderr
        assert "Traceback" not in ran.stderr, ran.stderr
        assert "bad\\xff dir has a name that is not valid UTF-8" in ran.stderr
    # No run was claimed: none is left running.
    assert localsweep.Api(str(tmp_path / "s.db")).sweep(sweep_id).runs == []

    # Runs started there with their files elsewhere work.
    ran = cli_at(
        odd, "agent", "--db", str(tmp_path / "s.db"), "-f", "train:train", sweep_id,
        env={"WANDB_DIR": str(tmp_path), "WANDB_MODE": "offline"},
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    [run] = localsweep.Api(str(tmp_path / "s.db")).sweep(sweep_id).runs
    assert run.state == "finished"
