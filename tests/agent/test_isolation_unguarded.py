"""isolation="process" from a script whose agent call is not under
``if __name__ == "__main__":``: every run's process would start another agent as it imports
the script. A setup error, not a property of the runs: the agent stops at the first run,
recorded killed so its point runs again, instead of spending the sweep on failed runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import localsweep

pytestmark = pytest.mark.slow

SCRIPT = """
import localsweep


def train(config):
    return {"loss": config["x"] * 2.0}


CONFIG = {
    "method": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"x": {"values": [1, 2, 3]}},
}
"""


def test_an_unguarded_script_stops_the_agent_at_its_first_run(offline: Path) -> None:
    script = offline / "sweep_script.py"
    script.write_text(
        SCRIPT + 'localsweep.run(CONFIG, train, db="s.db", isolation="process", quiet=True)\n'
    )
    ran = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert ran.returncode == 1, ran.stderr
    assert "AgentError" in ran.stderr
    assert "if __name__ == '__main__':" in ran.stderr
    assert "The agent stops" in ran.stderr

    [sweep] = localsweep.Api("s.db").sweeps()  # the runs' processes left no sweep behind
    [run] = sweep.runs  # one run, not the whole grid
    assert (run.state, run.end_reason) == ("killed", "setup_error")
    assert "if __name__ == '__main__':" in (run.error or "")

    # Guarded, the same sweep goes on: the killed run's point runs again.
    script.write_text(
        SCRIPT + "if __name__ == '__main__':\n"
        f"    localsweep.agent({sweep.id!r}, train, db='s.db', isolation='process')\n"
    )
    again = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0, again.stderr
    runs = localsweep.Api("s.db").sweep(sweep.id).runs
    assert sorted(r.config["x"] for r in runs if r.state == "finished") == [1, 2, 3]


def test_an_unguarded_script_makes_no_sweep_in_a_runs_process_even_when_it_catches(
    offline: Path,
) -> None:
    """A thread-mode sweep before the process one, and the refusal caught by the script's
    own ``except Exception``: each run's process re-imported the script, made a copy of the
    first sweep with every run of it, and then ran its run as if nothing was wrong."""
    script = offline / "sweep_script.py"
    script.write_text(
        SCRIPT + 'first = localsweep.run(CONFIG, train, db="s.db", quiet=True)\n'
        "try:\n"
        '    localsweep.run(CONFIG, train, db="s.db", isolation="process", quiet=True)\n'
        "except Exception as exc:\n"
        '    print("caught", type(exc).__name__)\n'
    )
    ran = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr
    assert "caught AgentError" in ran.stdout
    first, second = sorted(localsweep.Api("s.db").sweeps(), key=lambda s: s.created_at)
    assert sorted(r.state for r in first.runs) == ["finished"] * 3
    [run] = second.runs  # the refused run, and no copies of the first sweep
    assert (run.state, run.end_reason) == ("killed", "setup_error")
    assert "if __name__ == '__main__':" in (run.error or "")
