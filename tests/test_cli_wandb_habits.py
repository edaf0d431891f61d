"""Scripts written for `wandb sweep` / `wandb agent`, with `wandb` renamed `localsweep`,
in real processes: they find the sweep id where wandb's output has it, wandb's flags are
taken (or refused naming what does their job), the suggested agent command works where
the sweep says to start it, and a closed pipe ends a command quietly."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest

import localsweep

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
from cli_process import cli_at

pytestmark = pytest.mark.slow

PROGRAM = """\
method: grid
metric: {name: loss, goal: minimize}
program: train.py
parameters:
  x: {values: [1, 2]}
"""

FUNCTION = """\
method: grid
parameters:
  x: {values: [1, 2]}
"""

TRAIN = """\
import wandb

with wandb.init() as run:
    run.log({"loss": float(run.config["x"])})
"""


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "sweep.yaml").write_text(PROGRAM)
    (tmp_path / "fn.yaml").write_text(FUNCTION)
    (tmp_path / "train.py").write_text(TRAIN)
    return tmp_path


def _line(stderr: str, start: str) -> str:
    [line] = [line for line in stderr.splitlines() if line.startswith(start)]
    return line


def _agent_line(stderr: str) -> str:
    """What `grep -o 'localsweep agent .*'` gives of the sweep's output."""
    line = _line(stderr, "Run sweep agent with: ")
    return line[line.index("localsweep agent ") :]


# ------------------------------------------------------------------------ the sweep id


def test_the_sweep_id_is_the_last_word_of_the_creating_line(work: Path) -> None:
    made = cli_at(work, "sweep", "sweep.yaml", "--db", "s.db")
    assert made.returncode == 0, made.stderr
    sweep_id = made.stdout.strip()
    # `grep "Creating sweep with ID: " | awk '{print $NF}'`
    assert _line(made.stderr, "Creating sweep with ID: ").split()[-1] == sweep_id
    # The database on a line of its own, after the id's.
    assert _line(made.stderr, "Database: ").endswith(str(work / "s.db"))


def test_the_agent_command_names_the_sweep_as_entity_project_id_as_wandb_prints_it(
    work: Path,
) -> None:
    made = cli_at(work, "sweep", "--project", "P", "--entity", "E", "sweep.yaml")
    assert made.returncode == 0, made.stderr
    sweep_id = made.stdout.strip()
    command = _agent_line(made.stderr)
    assert command == f"localsweep agent E/P/{sweep_id}"
    assert command.split("/")[2] == sweep_id  # `cut -d'/' -f3`
    # And the command runs the sweep as printed.
    ran = cli_at(work, *shlex.split(command)[1:], "--count", "1")
    assert ran.returncode == 0, ran.stderr
    assert len(localsweep.Api("localsweep.db").sweep(sweep_id).runs) == 1


def test_a_project_alone_gives_project_slash_id(work: Path) -> None:
    made = cli_at(work, "sweep", "-p", "P", "sweep.yaml")
    assert made.returncode == 0, made.stderr
    assert _agent_line(made.stderr).endswith(f" P/{made.stdout.strip()}")


def test_the_database_localsweep_db_gives_stays_out_of_the_command(work: Path) -> None:
    made = cli_at(work, "sweep", "sweep.yaml", env={"LOCALSWEEP_DB": "team.db"})
    assert made.returncode == 0, made.stderr
    sweep_id = made.stdout.strip()
    # `grep -o 'localsweep agent [^ ]*' | awk '{print $NF}'`
    assert _agent_line(made.stderr).split()[2] == sweep_id
    # Given by --db, it is an option, and still before the id.
    made = cli_at(work, "sweep", "sweep.yaml", "--db", "team.db")
    assert _agent_line(made.stderr) == f"localsweep agent --db team.db {made.stdout.strip()}"


def test_a_config_without_program_gives_the_function_before_the_id(work: Path) -> None:
    made = cli_at(work, "sweep", "fn.yaml", "--db", "s.db")
    assert made.returncode == 0, made.stderr
    command = _agent_line(made.stderr)
    assert command == f"localsweep agent --db s.db --function MODULE:FUNC {made.stdout.strip()}"


# ------------------------------------------------------------------------ wandb's flags


def test_wandb_agents_forward_signals_and_term_timeout_are_taken(work: Path) -> None:
    sweep_id = cli_at(work, "sweep", "sweep.yaml").stdout.strip()
    ran = cli_at(work, "agent", "--forward-signals", "--term-timeout", "30", "--count", "1",
                 sweep_id)  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    ran = cli_at(work, "agent", "-t", "30", "--count", "1", sweep_id)
    assert ran.returncode == 0, ran.stderr
    assert len(localsweep.Api("localsweep.db").sweep(sweep_id).runs) == 2


def test_run_takes_every_option_of_the_agent(work: Path) -> None:
    # docs/cli.md: `run` takes `localsweep agent`'s options; --forward-signals was refused.
    from localsweep.cli import cli

    def names(command: str) -> set[str]:
        command_params = cli.commands[command].params
        return {o for p in command_params if isinstance(p, click.Option) for o in p.opts}

    assert names("agent") - names("run") == set()
    ran = cli_at(work, "run", "sweep.yaml", "--forward-signals", "--count", "1", "-q")
    assert ran.returncode == 0, ran.stderr
    sweep_id = localsweep.Api("localsweep.db").sweeps()[0].id
    assert len(localsweep.Api("localsweep.db").sweep(sweep_id).runs) == 1


@pytest.mark.parametrize("args", [["-f", "{id}"], ["-f", "--count", "1", "{id}"]])
def test_wandbs_dash_f_is_refused_naming_forward_signals(work: Path, args: list[str]) -> None:
    sweep_id = cli_at(work, "sweep", "sweep.yaml").stdout.strip()
    refused = cli_at(work, "agent", *[a.format(id=sweep_id) for a in args])
    assert refused.returncode == 2, refused.stderr
    said = " ".join(refused.stderr.split())
    assert "--forward-signals" in said and "MODULE:FUNC" in said, said
    assert "Missing argument" not in said and "unexpected extra" not in said
    assert localsweep.Api("localsweep.db").sweep(sweep_id).runs == []


@pytest.mark.parametrize(
    ("args", "says", "not_said"),
    [
        # A W&B sweep id after wandb's -f: the flag is named.
        (["-f", "abcd1234"], "(with a colon)", "a colon, not a dot"),
        # Typed as --function: no word of wandb's -f, and no dot to blame.
        (["--function", "train"], "(with a colon)", "--forward-signals"),
        (["--function", "train.train"], "did you mean --function train:train?", "--forward"),
        (["-f", "train.train"], "did you mean --function train:train?", "--forward-signals"),
        # A module name, not a sweep id: no word of wandb's -f either.
        (["-f", "train_fn"], "(with a colon)", "--forward-signals"),
        # The colon is there: what is missing is on one side of it.
        (["--function", "train:"], "a module before the colon and a function after", "dot"),
    ],
)
def test_a_function_without_colon_is_told_what_it_lacks(
    work: Path, args: list[str], says: str, not_said: str
) -> None:
    sweep_id = cli_at(work, "sweep", "sweep.yaml").stdout.strip()
    refused = cli_at(work, "agent", *args, sweep_id)
    assert refused.returncode == 2, refused.stderr
    said = " ".join(refused.stderr.split())
    assert says in said and not_said not in said, said
    if args == ["-f", "abcd1234"]:
        assert "--forward-signals" in said


def test_controller_and_verbose_are_taken_and_the_controller_said_once(work: Path) -> None:
    made = cli_at(work, "sweep", "--controller", "--verbose", "sweep.yaml")
    assert made.returncode == 0, made.stderr
    assert made.stderr.count("--controller") == 1
    assert "agent is the sweep's controller" in " ".join(made.stderr.split())


def test_program_replaces_the_configs_program(work: Path) -> None:
    (work / "other.py").write_text(TRAIN)
    made = cli_at(work, "sweep", "--program", "other.py", "sweep.yaml")
    assert made.returncode == 0, made.stderr
    sweep = localsweep.Api("localsweep.db").sweep(made.stdout.strip())
    assert sweep.config["program"] == "other.py"


def test_update_is_refused_naming_a_new_sweep_that_carries_the_runs(work: Path) -> None:
    sweep_id = cli_at(work, "sweep", "sweep.yaml").stdout.strip()
    refused = cli_at(work, "sweep", "--update", sweep_id, "sweep.yaml")
    assert refused.returncode == 2, refused.stderr
    said = " ".join(refused.stderr.split())
    assert f"-R {sweep_id}" in said and "Did you mean" not in said
    assert len(localsweep.Api("localsweep.db").sweeps()) == 1


# ------------------------------------------------------------------------ another folder


def test_told_to_start_the_agent_elsewhere_the_command_names_the_database_there(
    work: Path,
) -> None:
    configs = work / "configs"
    configs.mkdir()
    (work / "sweep.yaml").rename(configs / "sweep.yaml")
    made = cli_at(configs, "sweep", "sweep.yaml")
    assert made.returncode == 0, made.stderr
    assert "Start the agent in the folder that holds the script" in made.stderr
    command = _agent_line(made.stderr)
    db = configs / "localsweep.db"
    assert command == f"localsweep agent --db {db} {made.stdout.strip()}"
    # Run where the warning says, as printed.
    ran = cli_at(work, *shlex.split(command)[1:], "--count", "1")
    assert ran.returncode == 0, ran.stderr
    assert len(localsweep.Api(str(db)).sweep(made.stdout.strip()).runs) == 1


def test_a_relative_localsweep_db_is_given_by_its_absolute_path_in_the_command_elsewhere(
    work: Path,
) -> None:
    # The variable goes with the user to the other folder, where its relative path names
    # another file.
    configs = work / "configs"
    configs.mkdir()
    (work / "sweep.yaml").rename(configs / "sweep.yaml")
    made = cli_at(configs, "sweep", "sweep.yaml", env={"LOCALSWEEP_DB": "team.db"})
    assert made.returncode == 0, made.stderr
    command = _agent_line(made.stderr)
    assert command == f"localsweep agent --db {configs / 'team.db'} {made.stdout.strip()}"
    ran = cli_at(work, *shlex.split(command)[1:], "--count", "1", env={"LOCALSWEEP_DB": "team.db"})
    assert ran.returncode == 0, ran.stderr


# ------------------------------------------------------------------------ a closed pipe


@pytest.mark.parametrize("command", [["show"], ["export", "--format", "json"],
                                     ["sync", "--dry-run"], ["ls"]])  # fmt: skip
def test_a_reader_that_went_away_ends_the_command_quietly_with_141(
    work: Path, command: list[str]
) -> None:
    sweep_id = cli_at(work, "sweep", "sweep.yaml").stdout.strip()
    assert cli_at(work, "agent", sweep_id).returncode == 0
    # `localsweep show ID | head -0`: the reader is gone before the first write.
    read_end, write_end = os.pipe()
    os.close(read_end)
    env = {k: v for k, v in os.environ.items() if k != "LOCALSWEEP_DB"}
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "localsweep.cli", *command,
             *([sweep_id] if command != ["ls"] else [])],
            stdout=write_end, stderr=subprocess.PIPE, text=True, cwd=work, env=env,
            timeout=300, check=False,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert proc.returncode == 141, proc.stderr
    assert "Error" not in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


@pytest.mark.parametrize("option", ["--version", "--help"])
def test_a_reader_gone_before_the_top_level_options_print_ends_them_with_141(
    work: Path, option: str
) -> None:
    # `localsweep --version | true`: printed while the arguments are parsed, before any
    # command runs (click's own answer there is exit 1, the code of a failure).
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "localsweep", option],
            stdout=write_end, stderr=subprocess.PIPE, text=True, cwd=work,
            timeout=300, check=False,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert proc.returncode == 141, proc.stderr
    assert proc.stderr == "", proc.stderr
