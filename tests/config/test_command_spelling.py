"""A ``command`` item YAML reads as no string reaches the program as ``str()`` of the
value, not as written: ``007`` is ``7``, ``1:30`` (YAML 1.1 sexagesimal) ``90``, ``0x10``
``16``, ``1.0e+3`` ``1000.0``. Such items get a warning naming the text the program gets
(a number written as it reaches the program, ``4``, gets none), and the advice in it is
true: for a list whose text quoting would not change, it says what would."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from localsweep.config import load_config

CONFIG = """\
program: prog.py
method: grid
parameters:
  lr: {values: [0.1]}
command:
  - ${env}
  - ${interpreter}
  - ${program}
  - --seed
  - 007
  - --time
  - 1:30
  - --scale
  - 1.0e+3
  - --n
  - 0x10
  - --list
  - [1, 2]
  - --quoted
  - '007'
  - ${args_no_hyphens}
"""


def _write(tmp_path: Path) -> Path:
    path = tmp_path / "sweep.yaml"
    path.write_text(CONFIG)
    return path


def test_numbers_written_otherwise_are_named_with_the_text_the_program_gets(
    tmp_path: Path,
) -> None:
    config = load_config(_write(tmp_path))
    assert config.command is not None
    assert list(config.command[3:13]) == [
        "--seed", "7", "--time", "90", "--scale", "1000.0", "--n", "16", "--list", "[1, 2]"
    ]  # fmt: skip
    (numbers,) = [w for w in config.warnings if w.startswith("command: ")]
    assert (
        "command[4] as '7', command[6] as '90', command[8] as '1000.0', command[10] as '16';"
        in numbers
    )
    assert "put an item in quotes to pass the text as written" in numbers
    assert not any("command[14]" in w for w in config.warnings)  # '007' is text: as written


def test_a_list_item_warning_does_not_advise_a_quote_that_changes_nothing(
    tmp_path: Path,
) -> None:
    config = load_config(_write(tmp_path))
    (listed,) = [w for w in config.warnings if w.startswith("command[12]: ")]
    assert listed == (
        "command[12]: [1, 2] is a YAML list, passed to the program as one argument, Python's "
        "text of it: '[1, 2]' (wandb's agent passes str() of each item); to pass other text, "
        "write it in quotes; for one argument per element, make each element an item of "
        "its own"
    )
    mixed = load_config({**config.raw, "command": ["${program}", ["a", True]]})
    assert mixed.warnings[0].startswith(
        'command[1]: ["a", true] is a YAML list, passed to the program as one argument, '
        "Python's text of it: \"['a', True]\""
    )
    assert "write it in quotes (as '[\"a\", true]')" in mixed.warnings[0]


def test_validate_prints_the_warnings(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "localsweep.cli", "validate", str(_write(tmp_path))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    printed = " ".join(done.stderr.split())  # as wrapped to the terminal's width
    assert "Warning: command: items that YAML reads as numbers reach the program" in printed
    assert "command[4] as '7'" in printed
    assert "Warning: command[12]: [1, 2] is a YAML list" in printed
