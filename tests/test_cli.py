"""The ``localsweep`` command, run as a real process: what it prints, its exit codes, and
that a user's mistake is a message, never a traceback."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import localsweep
from localsweep.store._models import SCHEMA_VERSION

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
from cli_process import cli

# Every test starts real `localsweep` processes, a second or two each.
pytestmark = pytest.mark.slow

GOOD = """\
method: grid
metric: {name: loss, goal: minimize}
parameters:
  x: {values: [3, 1, 2]}
  opt:
    parameters:
      name: {values: [adam]}
"""

BAD = """\
method: grud
metric: {name: loss, goal: up}
parameters:
  x: {min: 3, max: 1}
"""

TRAIN = """\
def train(config):
    return config["x"] * 1.5


def broken(config):
    raise RuntimeError("broken on purpose")
"""


@pytest.fixture
def files(tmp_path: Path) -> Path:
    (tmp_path / "good.yaml").write_text(GOOD)
    (tmp_path / "bad.yaml").write_text(BAD)
    (tmp_path / "mytrain.py").write_text(TRAIN)
    return tmp_path


def _no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stdout + proc.stderr


def test_validate_prints_the_search_space_and_exits_0(files: Path) -> None:
    proc = cli("validate", "good.yaml")
    assert proc.returncode == 0, proc.stderr
    for text in ("opt.name", "x", "values=[3, 1, 2]", "loss (minimize)", "grid points: 3", "valid"):
        assert text in proc.stdout


def test_validate_lists_every_violation_and_exits_2(files: Path) -> None:
    proc = cli("validate", "bad.yaml")
    assert proc.returncode == 2
    _no_traceback(proc)
    for path in ("method", "metric.goal", "parameters.x.max"):
        assert f"- {path}:" in proc.stderr
    assert "3 problems" in proc.stderr


def test_validate_a_missing_file_is_a_usage_error(files: Path) -> None:
    proc = cli("validate", "missing.yaml")
    assert proc.returncode == 2
    _no_traceback(proc)
    assert "no such file: missing.yaml" in proc.stderr


def test_validate_reads_a_config_from_a_pipe(files: Path) -> None:
    # `localsweep validate <(yq ... sweep.yaml)`: the shell passes /dev/fd/N, a pipe.
    read_end, write_end = os.pipe()
    os.write(write_end, b"method: grid\nparameters:\n  x:\n    values: [1, 2]\n")
    os.close(write_end)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "localsweep.cli", "validate", f"/dev/fd/{read_end}"],
            capture_output=True,
            text=True,
            pass_fds=(read_end,),
            timeout=120,
            check=False,
        )
    finally:
        os.close(read_end)
    assert proc.returncode == 0, proc.stderr
    assert "grid points: 2" in proc.stdout


def test_sweep_prints_only_the_id_on_stdout(files: Path) -> None:
    proc = cli("sweep", "good.yaml", "--db", "s.db")
    assert proc.returncode == 0, proc.stderr
    sweep_id = proc.stdout.strip()
    assert localsweep.Api(files / "s.db").sweep(sweep_id).state == "PENDING"
    assert f"localsweep agent --db s.db --function MODULE:FUNC {sweep_id}" in proc.stderr


def test_sweep_with_a_bad_config_creates_nothing(files: Path) -> None:
    proc = cli("sweep", "bad.yaml", "--db", "s.db")
    assert proc.returncode == 2
    _no_traceback(proc)
    assert not (files / "s.db").exists()


def test_localsweep_db_picks_the_database(files: Path) -> None:
    proc = cli("sweep", "good.yaml", env={"LOCALSWEEP_DB": str(files / "env.db")})
    assert proc.returncode == 0, proc.stderr
    assert [s.id for s in localsweep.Api(files / "env.db").sweeps()] == [proc.stdout.strip()]


def test_agent_runs_a_python_function_until_the_grid_is_done(files: Path) -> None:
    sweep_id = cli("sweep", "good.yaml", "--db", "s.db").stdout.strip()
    proc = cli("agent", sweep_id, "--function", "mytrain:train", "--db", "s.db")
    assert proc.returncode == 0, proc.stderr
    assert "3 run(s); stopped because: exhausted" in proc.stderr
    sweep = localsweep.Api(files / "s.db").sweep(sweep_id)
    assert sorted(r.metric for r in sweep.runs if r.metric is not None) == [1.5, 3.0, 4.5]


def test_agent_count_caps_its_runs(files: Path) -> None:
    sweep_id = cli("sweep", "good.yaml", "--db", "s.db").stdout.strip()
    proc = cli("agent", sweep_id, "-f", "mytrain:train", "--count", "2", "--db", "s.db")
    assert proc.returncode == 0, proc.stderr
    assert len(localsweep.Api(files / "s.db").sweep(sweep_id).runs) == 2


def test_agent_stops_after_too_many_failures_with_a_message(files: Path) -> None:
    sweep_id = cli("sweep", "good.yaml", "--db", "s.db").stdout.strip()
    proc = cli(
        "agent",
        sweep_id,
        "-f",
        "mytrain:broken",
        "--max-consecutive-failed-runs",
        "2",
        "--db",
        "s.db",
    )
    assert proc.returncode == 1
    assert "2 runs in a row failed" in proc.stderr
    assert "broken on purpose" in proc.stderr


def test_agent_with_a_bad_function_reference_is_a_usage_error(files: Path) -> None:
    sweep_id = cli("sweep", "good.yaml", "--db", "s.db").stdout.strip()
    for ref, message in [
        ("mytrain", "MODULE:FUNC"),
        ("nosuchmodule:train", "cannot import 'nosuchmodule'"),
        ("mytrain:nothing", "has no attribute 'nothing'"),
    ]:
        proc = cli("agent", sweep_id, "-f", ref, "--db", "s.db")
        assert proc.returncode == 2, ref
        _no_traceback(proc)
        assert message in proc.stderr, ref


def test_agent_without_a_function_on_a_config_without_program_says_what_to_do(
    files: Path,
) -> None:
    sweep_id = cli("sweep", "good.yaml", "--db", "s.db").stdout.strip()
    proc = cli("agent", sweep_id, "--db", "s.db")
    assert proc.returncode == 2
    _no_traceback(proc)
    assert "no `program` or `command`" in proc.stderr
    assert "--function MODULE:FUNC" in proc.stderr


PROGRAM = """\
import argparse

import wandb

parser = argparse.ArgumentParser()
parser.add_argument("--x", type=int)
parser.add_argument("--opt", default=None)
args = parser.parse_args()
with wandb.init() as run:
    wandb.log({"loss": float(args.x) + (run.config["x"] - args.x)})
"""


@pytest.mark.slow
def test_agent_starts_the_configs_program_like_wandb_agent(files: Path) -> None:
    (files / "train.py").write_text(PROGRAM)
    (files / "prog.yaml").write_text("program: train.py\n" + GOOD)
    sweep_id = cli("sweep", "prog.yaml", "--db", "s.db").stdout.strip()

    proc = cli("agent", sweep_id, "--db", "s.db")

    assert proc.returncode == 0, proc.stderr
    _no_traceback(proc)
    assert "3 run(s); stopped because: exhausted" in proc.stderr
    show = cli("show", sweep_id, "--db", "s.db").stdout
    assert "3 finished" in show
    # the program got --x as an argument and the same value in wandb.config
    assert "x: 1" in show


@pytest.mark.parametrize("command", ["show", "agent"])
def test_an_unknown_sweep_id_exits_2_with_a_message(files: Path, command: str) -> None:
    cli("sweep", "good.yaml", "--db", "s.db")
    proc = cli(command, "ls-nosuchid", "--db", "s.db")
    assert proc.returncode == 2
    _no_traceback(proc)
    assert "no sweep 'ls-nosuchid'" in proc.stderr


def test_show_lists_runs_best_first_and_the_best_config(files: Path) -> None:
    sweep_id = cli("sweep", "good.yaml", "--db", "s.db").stdout.strip()
    cli("agent", sweep_id, "-f", "mytrain:train", "--db", "s.db")
    proc = cli("show", sweep_id, "--db", "s.db")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "finished (exhausted); 3 runs: 3 finished" in out
    sweep = localsweep.Api(files / "s.db").sweep(sweep_id)
    # A sweep without a name of its own is named by its id once, not twice.
    assert sweep.name == sweep_id
    assert out.startswith(f"Sweep {sweep_id}: grid"), out
    runs = sweep.runs
    by_metric = sorted(runs, key=lambda r: r.metric if r.metric is not None else 0.0)
    positions = [out.index(r.id) for r in by_metric]
    assert positions == sorted(positions)
    best = by_metric[0]
    assert f"Best run {best.id} (loss=1.5)" in out
    assert "opt:\n  name: adam\nx: 1" in out


def test_show_accepts_a_wandb_style_sweep_path(files: Path) -> None:
    sweep_id = cli("sweep", "good.yaml", "--db", "s.db").stdout.strip()
    proc = cli("show", f"entity/project/{sweep_id}", "--db", "s.db")
    assert proc.returncode == 0, proc.stderr
    assert f"Sweep {sweep_id}" in proc.stdout


def test_ls_lists_every_sweep_with_its_state(files: Path) -> None:
    first = cli("sweep", "good.yaml", "--db", "s.db").stdout.strip()
    second = cli("sweep", "good.yaml", "--db", "s.db").stdout.strip()
    cli("agent", first, "-f", "mytrain:train", "--db", "s.db")
    proc = cli("ls", "--db", "s.db")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    first_line = next(line for line in lines if first in line)
    second_line = next(line for line in lines if second in line)
    assert "finished" in first_line and "loss=1.5" in first_line
    assert "pending" in second_line


def test_run_creates_and_runs_a_sweep_then_shows_it(files: Path) -> None:
    proc = cli("run", "good.yaml", "-f", "mytrain:train", "--db", "s.db")
    assert proc.returncode == 0, proc.stderr
    (sweep,) = localsweep.Api(files / "s.db").sweeps()
    assert len(sweep.runs) == 3
    assert f"Sweep {sweep.id}" in proc.stdout


def test_runs_closing_table_says_how_to_list_the_runs_it_leaves_out(files: Path) -> None:
    """``run`` prints ten runs of a longer sweep and names the command that lists them all
    (``run`` has no ``--limit``: its hint named the flag alone); a sweep of one run is
    "1 run", not "1 runs"."""
    (files / "twelve.yaml").write_text(GOOD.replace("[3, 1, 2]", str(list(range(12)))))
    # A narrow terminal: the hint stays one line, so that it pastes whole.
    proc = cli("run", "twelve.yaml", "-f", "mytrain:train", "--db", "{s}.db", columns=40)
    assert proc.returncode == 0, proc.stderr
    (sweep,) = localsweep.Api(files / "{s}.db").sweeps()
    hint = f"... 2 more (localsweep show {sweep.id} --db '{{s}}.db' --limit 12)"
    assert hint in proc.stdout, proc.stdout
    listed = cli("show", sweep.id, "--db", "{s}.db", "--limit", "12")
    assert all(run.id in listed.stdout for run in sweep.runs)
    (files / "one.yaml").write_text(GOOD.replace("[3, 1, 2]", "[3]"))
    one = cli("run", "one.yaml", "-f", "mytrain:train", "--db", "one.db")
    assert "finished (exhausted); 1 run: 1 finished" in one.stdout, one.stdout


def test_db_upgrade_creates_the_schema_in_an_empty_database(files: Path) -> None:
    proc = cli("db", "upgrade", "--db", "fresh.db")
    assert proc.returncode == 0, proc.stderr
    assert f"schema empty -> {SCHEMA_VERSION}" in proc.stdout
    assert localsweep.Api(files / "fresh.db").sweeps() == []


def test_db_upgrade_on_a_current_database_changes_nothing(files: Path) -> None:
    sweep_id = cli("sweep", "good.yaml", "--db", "s.db").stdout.strip()
    proc = cli("db", "upgrade", "--db", "s.db")
    assert proc.returncode == 0, proc.stderr
    assert f"schema {SCHEMA_VERSION} -> {SCHEMA_VERSION}" in proc.stdout
    assert localsweep.Api(files / "s.db").sweep(sweep_id).id == sweep_id


def test_a_database_from_a_newer_localsweep_is_a_message(files: Path) -> None:
    cli("sweep", "good.yaml", "--db", "s.db")
    with sqlite3.connect(files / "s.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    proc = cli("ls", "--db", "s.db")
    assert proc.returncode == 1
    _no_traceback(proc)
    # The console wraps long lines wherever the path's length puts the break.
    assert "Upgrade localsweep" in " ".join(proc.stderr.split())


def test_debug_shows_the_traceback(files: Path) -> None:
    proc = cli("--debug", "show", "ls-nosuchid", "--db", "s.db")
    assert proc.returncode != 0
    assert "Traceback" in proc.stderr


def test_text_from_configs_and_errors_is_printed_as_written(files: Path) -> None:
    # rich reads "[word]" as markup; a value or an error message must survive it.
    (files / "brackets.yaml").write_text(
        "method: grid\nmetric: {name: loss}\nparameters:\n  x: {values: ['[bold]', '[red]x']}\n"
    )
    proc = cli("validate", "brackets.yaml")
    assert proc.returncode == 0, proc.stderr
    assert "[bold]" in proc.stdout
    assert "[red]x" in proc.stdout


def test_show_ranks_a_failed_runs_partial_value_after_the_results(tmp_path: Path) -> None:
    import wandb

    def train() -> None:
        with wandb.init() as run:
            run.log({"loss": 0.1 if run.config["x"] == 0 else float(run.config["x"])})
            if run.config["x"] == 0:
                raise RuntimeError("diverged after its best value")

    config = {
        "method": "grid",
        "metric": {"name": "loss"},
        "parameters": {"x": {"values": [0, 2, 1]}},
    }
    db = tmp_path / "s.db"
    sweep = localsweep.run(config, train, db=db, quiet=True)
    by_x = {r.config["x"]: r for r in sweep.runs}
    out = cli("show", sweep.id, "--db", str(db)).stdout
    positions = [out.index(by_x[x].id) for x in (1, 2, 0)]
    assert positions == sorted(positions), out
    assert f"Best run {by_x[1].id}" in out


def test_show_prints_the_best_runs_text_as_written(tmp_path: Path) -> None:
    """Non-ASCII config and summary values read as the user wrote them, not as escapes
    (\\u03b1), as the runs table and the ui show them."""
    config = {
        "method": "grid",
        "metric": {"name": "loss"},
        "parameters": {"label": {"values": ["α-β"]}},
    }
    db = tmp_path / "s.db"
    sweep = localsweep.run(config, lambda c: {"loss": 1.0, "note": "done ✓"}, db=db, quiet=True)
    out = cli("show", sweep.id, "--db", str(db), env={"PYTHONIOENCODING": "utf-8"}).stdout
    best = out.split("Best run")[1]
    assert "α-β" in best and "done ✓" in best, out
    assert "\\u" not in best
