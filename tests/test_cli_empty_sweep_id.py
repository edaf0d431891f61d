"""An empty sweep id (``localsweep export "$SWEEP_ID"`` with the variable unset) is one line
saying so and exit code 2 in every command that takes one, never a traceback; the sweep
is left as it was. Real ``localsweep`` processes on a real SQLite file."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import localsweep
from localsweep.errors import NotFoundError

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
from cli_process import cli

pytestmark = pytest.mark.slow

CONFIG = "method: grid\nparameters:\n  x: {values: [1, 2]}\n"


@pytest.fixture
def sweep_id() -> str:
    Path("grid.yaml").write_text(CONFIG)
    proc = cli("sweep", "grid.yaml", "--db", "s.db")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize("command", ["export", "report", "pause", "resume", "stop", "cancel"])
@pytest.mark.parametrize("given", ["", " ", "/"])
def test_an_empty_sweep_id_is_one_line_and_exit_2(sweep_id: str, command: str, given: str) -> None:
    proc = cli(command, given, "--db", "s.db")
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    assert "Error: no sweep id given (" in proc.stderr
    assert "): an unset variable, most likely" in proc.stderr
    assert localsweep.Api("s.db").sweep(sweep_id).state.lower() in ("running", "pending")


def test_a_path_of_too_many_parts_is_no_sweep(sweep_id: str) -> None:
    proc = cli("export", "a/b/c/d", "--db", "s.db")
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "no sweep 'a/b/c/d': not a sweep id or path" in proc.stderr


def test_the_api_raises_not_found_which_is_still_a_value_error(sweep_id: str) -> None:
    api = localsweep.Api("s.db")
    for call, what in ((api.sweep, "sweep"), (api.run, "run")):
        with pytest.raises(NotFoundError, match=f"no {what} id given"):
            call("")
        with pytest.raises(ValueError):  # as wandb.Api raises for a bad path
            call("entity/project/")
    assert api.sweep(f"entity/project/{sweep_id}").id == sweep_id
