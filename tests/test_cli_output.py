"""What the CLI prints for a person, in real processes: ids and states never cut at 80
columns, the `--function` hint, what `state running` means, no sampler chatter."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import localsweep

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
from cli_process import cli_at

pytestmark = pytest.mark.slow

WIDE = """\
method: random
metric: {name: a_rather_long_metric_name}
parameters:
  learning_rate_of_the_optimizer: {min: 0.0001, max: 0.1}
  weight_decay_of_the_optimizer: {min: 0.0, max: 0.01}
  number_of_hidden_units: {values: [16, 32, 64, 128]}
  dropout_probability: {min: 0.0, max: 0.5}
"""

# The first run fails (a `failed` state in the tables), the others finish: a failure drawn
# at random (a quarter of the runs) stopped the agent once in CI, after 5 in a row.
TRAIN = """\
import os

def train(config):
    if not os.path.exists("failed-once"):
        open("failed-once", "w").close()
        raise RuntimeError("too small")
    return {"a_rather_long_metric_name": config["dropout_probability"]}
"""


def wide_sweep(tmp_path: Path, name: str, count: int) -> str:
    """A sweep of WIDE named ``name`` in ``tmp_path/s.db`` with ``count`` runs done; its id."""
    (tmp_path / "wide.yaml").write_text(WIDE)
    (tmp_path / "wtrain.py").write_text(TRAIN)
    sweep_id = cli_at(
        tmp_path, "sweep", "wide.yaml", "--db", "s.db", "--name", name, columns=80
    ).stdout.strip()
    agent = ("agent", sweep_id, "--db", "s.db", "-f", "wtrain:train", "--count", str(count))
    cli_at(tmp_path, *agent, "-q", columns=80)
    return sweep_id


def test_ids_and_states_are_never_cut_at_80_columns(tmp_path: Path) -> None:
    sweep_id = wide_sweep(tmp_path, "a sweep with a long descriptive name that needs wrapping", 6)
    ls = cli_at(tmp_path, "ls", "--db", "s.db", columns=80)
    assert ls.returncode == 0, ls.stderr
    assert sweep_id in ls.stdout
    show = cli_at(tmp_path, "show", sweep_id, "--db", "s.db", columns=80)
    assert show.returncode == 0, show.stderr
    runs = localsweep.Api(tmp_path / "s.db").sweep(sweep_id).runs
    assert len(runs) == 6
    lines = show.stdout.splitlines()
    for run in runs:
        assert any(run.id in line and run.state in line for line in lines), (run, show.stdout)


def test_piped_tables_keep_each_sweep_and_run_on_one_line(tmp_path: Path) -> None:
    # `localsweep ls | grep NAME` and `show ... > runs.txt` must find whole rows: with
    # no terminal and no COLUMNS, tables are drawn at their natural width, not folded
    # at 80 columns.
    name = "a sweep with a long descriptive name that would be folded at eighty columns"
    sweep_id = wide_sweep(tmp_path, name, 4)
    ls = cli_at(tmp_path, "ls", "--db", "s.db", columns=None)
    assert ls.returncode == 0, ls.stderr
    best = localsweep.Api(tmp_path / "s.db").sweep(sweep_id).best_run()
    assert best is not None
    row = [line for line in ls.stdout.splitlines() if sweep_id in line]
    assert len(row) == 1 and name in row[0], ls.stdout
    assert f"a_rather_long_metric_name={best.metric:.6g}" in row[0], ls.stdout
    show = cli_at(tmp_path, "show", sweep_id, "--db", "s.db", columns=None)
    assert show.returncode == 0, show.stderr
    lines = show.stdout.splitlines()
    header = next(line for line in lines if "learning_rate_of_the_optimizer" in line)
    assert "weight_decay_of_the_optimizer" in header and "dropout_probability" in header
    # The text lines too: the sweep's header (its name, its run counts) is one line.
    assert any(name in line and "4 runs:" in line for line in lines), show.stdout
    # A terminal's width, or COLUMNS, is still kept.
    narrow = cli_at(tmp_path, "ls", "--db", "s.db", columns=80)
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 80


def test_piped_errors_of_every_command_are_one_line(tmp_path: Path) -> None:
    # sync has its own console: its errors were folded at 80 columns in a pipe or a log.
    # The server is a closed port on loopback: nothing leaves the machine.
    (tmp_path / "r.yaml").write_text(
        "method: random\nmetric: {name: loss}\nparameters:\n  x: {min: 0.0, max: 1.0}\n"
    )
    # A run of wandb code: a train(config) run leaves nothing to upload, and sync says so.
    (tmp_path / "t.py").write_text(
        "import wandb\n"
        "def train():\n"
        "    with wandb.init() as run:\n"
        "        run.log({'loss': run.config['x']})\n"
    )
    sweep_id = cli_at(tmp_path, "sweep", "r.yaml", "--db", "s.db", columns=80).stdout.strip()
    cli_at(
        tmp_path,
        "agent",
        sweep_id,
        "--db",
        "s.db",
        "-f",
        "t:train",
        "--count",
        "1",
        "-q",
        columns=80,
    )
    key = "k" * 40
    wandb_env = {"WANDB_BASE_URL": "http://127.0.0.1:9", "WANDB_API_KEY": key}
    proc = cli_at(tmp_path, "sync", sweep_id, "--db", "s.db", "--project", "p", columns=None,
                  env=wandb_env)  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    error = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert len(error) == 1 and "cannot reach the W&B server" in error[0], proc.stderr
    assert "WANDB_BASE_URL" in error[0], proc.stderr


def test_sweep_without_program_suggests_the_function_form(tmp_path: Path) -> None:
    (tmp_path / "g.yaml").write_text("method: grid\nparameters:\n  x: {values: [1]}\n")
    proc = cli_at(tmp_path, "sweep", "g.yaml", "--db", "s.db", columns=200)
    assert proc.returncode == 0, proc.stderr
    assert f"localsweep agent --db s.db --function MODULE:FUNC {proc.stdout.strip()}" in (
        proc.stderr
    )


def test_a_random_sweep_that_stays_running_says_why(tmp_path: Path) -> None:
    (tmp_path / "r.yaml").write_text(
        "method: random\nmetric: {name: loss}\nparameters:\n  x: {min: 0.0, max: 1.0}\n"
    )
    (tmp_path / "t.py").write_text("def train(config):\n    return config['x']\n")
    proc = cli_at(
        tmp_path, "run", "r.yaml", "-f", "t:train", "--count", "2", "--db", "s.db", columns=80
    )
    assert proc.returncode == 0, proc.stderr
    assert "running" in proc.stdout
    assert "no end of its own" in proc.stdout and "run_cap" in proc.stdout


def test_bayes_sampler_choice_is_only_shown_with_debug(tmp_path: Path) -> None:
    (tmp_path / "b.yaml").write_text(
        "method: bayes\nmetric: {name: loss}\nparameters:\n  x: {min: 0.0, max: 1.0}\n"
    )
    (tmp_path / "t.py").write_text("def train(config):\n    return config['x']\n")
    proc = cli_at(
        tmp_path, "run", "b.yaml", "-f", "t:train", "--count", "1", "--db", "s.db", columns=80
    )
    assert proc.returncode == 0, proc.stderr
    assert "bayes:" not in proc.stderr
    debug = cli_at(
        tmp_path,
        "--debug",
        "run",
        "b.yaml",
        "-f",
        "t:train",
        "--count",
        "1",
        "--db",
        "d.db",
        columns=80,
    )
    assert "bayes:" in debug.stderr


def test_show_names_an_end_reason_only_when_it_says_more_than_the_state(tmp_path: Path) -> None:
    # A preempted run's end reason is "preempted": `preempted (preempted)` said it twice.
    import sqlite3

    sweep = localsweep.run(
        {"method": "grid", "metric": {"name": "loss"}, "parameters": {"x": {"values": [1, 2]}}},
        lambda config: 1.0,
        db=tmp_path / "s.db",
        quiet=True,
    )
    first, second = sweep.runs
    with sqlite3.connect(tmp_path / "s.db") as conn:
        conn.execute(
            "UPDATE runs SET state = 'preempted', end_reason = 'preempted' WHERE id = ?",
            (first.id,),
        )
        conn.execute(
            "UPDATE runs SET state = 'killed', end_reason = 'cancelled' WHERE id = ?",
            (second.id,),
        )
    shown = cli_at(tmp_path, "show", sweep.id, "--db", str(tmp_path / "s.db"), columns=200)
    assert shown.returncode == 0, shown.stderr
    assert "preempted (preempted)" not in shown.stdout
    assert "preempted" in shown.stdout and "killed (cancelled)" in shown.stdout
