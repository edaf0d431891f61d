"""docs/config.md's whole-float example holds as written: the ``values:`` it shows, read
as YAML (as wandb reads a config), give the program the arguments it says."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import localsweep

DOC = Path(__file__).resolve().parents[2] / "docs" / "config.md"
EXAMPLE = re.compile(
    r"with `values:\s+(\[[^`]*\])` the program gets `(--epochs=\S+)` and `(--epochs=\S+)`"
)

PROGRAM = """
import sys
with open("argv.txt", "a") as out:
    out.write(" ".join(sys.argv[1:]) + "\\n")
"""


def test_the_whole_float_example_gives_the_program_what_it_says(tmp_path: Path) -> None:
    found = EXAMPLE.search(" ".join(DOC.read_text(encoding="utf-8").split()))
    assert found is not None, "the example sentence moved: update this test"
    values_text, *said = found.groups()
    (tmp_path / "prog.py").write_text(PROGRAM)
    (tmp_path / "sweep.yaml").write_text(
        "program: prog.py\n"
        "method: grid\n"
        f"command: [{json.dumps(sys.executable)}, prog.py, '${{args}}']\n"
        f"parameters:\n  epochs:\n    values: {values_text}\n"
    )
    localsweep.run(tmp_path / "sweep.yaml", count=5, db=tmp_path / "s.db", quiet=True)
    got = (tmp_path / "argv.txt").read_text().split()
    assert got == said
