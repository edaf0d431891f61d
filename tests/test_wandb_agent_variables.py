"""wandb's agent variables a team's scripts export: ``WANDB_AGENT_MAX_INITIAL_FAILURES``
sets the limit of failed runs in a row where neither ``--max-consecutive-failed-runs`` nor
``max_consecutive_failures=`` gives one, and the message of an agent that stops for failed
runs says how to raise the limit (docs/cli.md, docs/differences.md)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

import localsweep
from localsweep import AgentError

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
from cli_process import cli

CONFIG: dict[str, Any] = {
    "method": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"x": {"values": list(range(1, 8))}},
}


def _broken(config: dict[str, Any]) -> None:
    raise RuntimeError(f"always broken ({config['x']})")


@pytest.mark.slow
def test_wandbs_variable_lets_a_program_sweep_go_on_past_early_failures(tmp_path: Path) -> None:
    """The sbatch script of a sweep whose first configs run out of memory: wandb's agent
    goes on with the variable at 20; this one stopped at its 5 and never ran x=7."""
    (tmp_path / "train.py").write_text(
        "import sys\n"
        "x = int(sys.argv[1].split('=')[1])\n"
        "sys.exit(1 if x < 7 else 0)  # out of memory below x=7\n"
    )
    (tmp_path / "sweep.yaml").write_text(
        "program: train.py\nmethod: grid\nparameters:\n  x: {values: [1, 2, 3, 4, 5, 6, 7]}\n"
    )
    sweep_id = cli("sweep", "sweep.yaml", "--db", "s.db").stdout.strip()
    variables = {"WANDB_AGENT_MAX_INITIAL_FAILURES": "20", "WANDB_AGENT_DISABLE_FLAPPING": "true"}
    done = cli("agent", sweep_id, "--db", "s.db", env=variables)
    assert done.returncode == 0, done.stderr
    runs = localsweep.Api(tmp_path / "s.db").sweep(sweep_id).runs
    assert sorted((r.config["x"], r.state) for r in runs) == [
        *((x, "failed") for x in range(1, 7)),
        (7, "finished"),
    ]


def test_the_command_line_option_wins_over_the_variable(tmp_path: Path) -> None:
    (tmp_path / "broken.py").write_text("def train(config):\n    raise RuntimeError('broken')\n")
    localsweep.sweep(CONFIG, db=tmp_path / "s.db")
    (sweep,) = localsweep.Api(tmp_path / "s.db").sweeps()
    variables = {"WANDB_AGENT_MAX_INITIAL_FAILURES": "4"}
    options = ["--db", "s.db", "-f", "broken:train", "--quiet"]
    done = cli("agent", sweep.id, *options, "--max-consecutive-failed-runs", "2", env=variables)
    assert done.returncode == 1
    assert "2 runs in a row failed" in done.stderr, done.stderr
    done = cli("agent", sweep.id, *options, env=variables)  # the variable, without the option
    assert done.returncode == 1
    assert "4 runs in a row failed" in done.stderr, done.stderr
    assert len(localsweep.Api(tmp_path / "s.db").sweep(sweep.id).runs) == 6


def test_the_stop_message_names_the_option_and_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WANDB_AGENT_MAX_INITIAL_FAILURES", "2")
    sweep_id = localsweep.sweep(CONFIG, db=tmp_path / "s.db")
    with pytest.raises(AgentError) as info:
        localsweep.agent(sweep_id, _broken, db=tmp_path / "s.db", quiet=True)
    message = str(info.value)
    assert message.startswith("2 runs in a row failed; the agent stops.")
    assert "--max-consecutive-failed-runs N" in message
    assert "max_consecutive_failures=N" in message
    assert "WANDB_AGENT_MAX_INITIAL_FAILURES=N" in message
    # The Python keyword wins over the variable, as the option does.
    with pytest.raises(AgentError, match="3 runs in a row failed"):
        localsweep.agent(
            sweep_id, _broken, db=tmp_path / "s.db", quiet=True, max_consecutive_failures=3
        )


def test_a_variable_that_is_no_number_of_runs_is_said_and_5_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("WANDB_AGENT_MAX_INITIAL_FAILURES", "many")
    with pytest.raises(AgentError, match="5 runs in a row failed"):
        localsweep.run(CONFIG, _broken, db=tmp_path / "s.db", quiet=True)
    assert "WANDB_AGENT_MAX_INITIAL_FAILURES='many' is not a whole number" in caplog.text
