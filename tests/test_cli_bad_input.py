"""A user's mistake is one clear sentence and exit code 2, never a traceback, and a command
that only reads creates nothing. Every test starts real ``localsweep`` processes."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import localsweep
from localsweep.errors import DatabasePathError

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
from cli_process import cli_at

pytestmark = pytest.mark.slow

GRID = """\
method: grid
metric: {name: loss}
parameters:
  x: {values: [1, 2, 3, 4]}
"""

TRAIN = """\
VALUES = {1: 1.0, 2: 2.0, 3: 3.0, 4: 1e308}


def train(config):
    return VALUES[config["x"]]
"""


def _clean_failure(proc: subprocess.CompletedProcess[str], code: int = 2) -> None:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "grid.yaml").write_text(GRID)
    (tmp_path / "mytrain.py").write_text(TRAIN)
    return tmp_path


COMMANDS = [
    ["sweep", "grid.yaml"],
    ["run", "grid.yaml", "-f", "mytrain:train"],
    ["agent", "ls-nosuchid"],
    ["ls"],
    ["show", "ls-nosuchid"],
    ["report", "ls-nosuchid"],
    ["export", "ls-nosuchid"],
    ["db", "upgrade"],
]


@pytest.mark.parametrize("bad_db", ["grid.yaml/x.db", "/proc/nope/x.db"])
@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0] if isinstance(c, list) else c)
def test_a_db_path_that_cannot_be_created_exits_2(
    work: Path, command: list[str], bad_db: str
) -> None:
    proc = cli_at(work, *command, "--db", bad_db)
    _clean_failure(proc)
    assert "x.db" in proc.stderr


def test_localsweep_run_with_a_db_path_that_cannot_be_created_says_so(work: Path) -> None:
    with pytest.raises(DatabasePathError, match=r"grid\.yaml is a file"):
        localsweep.run(
            {"method": "grid", "parameters": {"x": {"values": [1]}}},
            lambda c: 1.0,
            db=work / "grid.yaml" / "x.db",
        )


@pytest.mark.parametrize(
    "command",
    [
        ["ls"],
        ["show", "ls-nosuchid"],
        ["report", "ls-nosuchid"],
        ["export", "ls-nosuchid"],
        ["sync", "ls-nosuchid", "--dry-run"],
        ["ui", "--port", "0"],
    ],
    ids=lambda c: c[0],
)
def test_read_only_commands_on_a_missing_database_create_nothing(
    work: Path, command: list[str]
) -> None:
    before = sorted(p.name for p in work.iterdir())
    proc = cli_at(work, *command, "--db", "typo/sweeps.db")
    _clean_failure(proc)
    assert "no localsweep database" in proc.stderr
    proc = cli_at(work, *command)  # the default ./localsweep.db, not there either
    _clean_failure(proc)
    assert sorted(p.name for p in work.iterdir()) == before


@pytest.mark.parametrize("command", ["report", "export", "show", "agent"])
def test_an_unknown_sweep_id_exits_2_and_leaves_no_database(work: Path, command: str) -> None:
    sweep_id = cli_at(work, "sweep", "grid.yaml", "--db", "s.db").stdout.strip()
    assert sweep_id
    proc = cli_at(work, command, "ls-nosuchid", "--db", "s.db")
    _clean_failure(proc)
    assert "no sweep 'ls-nosuchid'" in proc.stderr
    proc = cli_at(work, command, "ls-nosuchid")
    _clean_failure(proc)
    assert not (work / "localsweep.db").exists()


def test_sweep_names_and_values_print_as_written(work: Path) -> None:
    proc = cli_at(work, "sweep", "grid.yaml", "--db", "s.db", "--name", "bad [/] name [red]x[/]")
    sweep_id = proc.stdout.strip()
    cli_at(work, "agent", sweep_id, "-f", "mytrain:train", "--db", "s.db", "--count", "1")
    proc = cli_at(work, "show", sweep_id, "--db", "s.db")
    assert proc.returncode == 0, proc.stderr
    assert "bad [/] name [red]x[/]" in proc.stdout
    proc = cli_at(work, "ls", "--db", "s.db")
    assert "bad [/] name [red]x[/]" in proc.stdout


def test_a_huge_metric_value_does_not_break_show_or_report(work: Path) -> None:
    proc = cli_at(work, "run", "grid.yaml", "-f", "mytrain:train", "--db", "s.db")
    assert proc.returncode == 0, proc.stderr
    (sweep,) = localsweep.Api(work / "s.db").sweeps()
    proc = cli_at(work, "show", sweep.id, "--db", "s.db")
    assert proc.returncode == 0, proc.stderr
    assert "leaves out 1 run" in proc.stderr
    proc = cli_at(work, "report", sweep.id, "--db", "s.db", "-o", "r.html")
    assert proc.returncode == 0, proc.stderr
    assert (work / "r.html").is_file()


def test_db_upgrade_on_a_database_from_a_newer_localsweep_says_so(work: Path) -> None:
    cli_at(work, "sweep", "grid.yaml", "--db", "s.db")
    with sqlite3.connect(work / "s.db") as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    proc = cli_at(work, "db", "upgrade", "--db", "s.db")
    _clean_failure(proc, code=1)
    assert "schema version 9999" in proc.stderr
    assert "Upgrade localsweep" in proc.stderr


def _count(db: Path, table: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def test_a_misspelled_program_is_named_before_any_run_starts(work: Path) -> None:
    (work / "train.py").write_text("import wandb\nwandb.init()\nwandb.log({'loss': 1.0})\n")
    (work / "prog.yaml").write_text("program: trian.py\n" + GRID)

    # Creating the sweep only warns: its agents may start in another folder.
    made = cli_at(work, "sweep", "prog.yaml", "--db", "s.db")
    assert made.returncode == 0, made.stderr
    assert "Warning: the sweep's `program` 'trian.py' does not exist in" in made.stderr
    assert "Did you mean 'train.py'?" in made.stderr

    # The agent stops before it claims a run: the sweep keeps no failed runs.
    proc = cli_at(work, "agent", made.stdout.strip(), "--db", "s.db")
    _clean_failure(proc)
    assert "'trian.py' does not exist in" in proc.stderr
    assert "Did you mean 'train.py'?" in proc.stderr
    assert "Start the agent in the folder that holds the script" in proc.stderr
    assert _count(work / "s.db", "runs") == 0

    # `run` says so before it makes a sweep that could not run.
    proc = cli_at(work, "run", "prog.yaml", "--db", "s.db")
    _clean_failure(proc)
    assert "Did you mean 'train.py'?" in proc.stderr
    assert _count(work / "s.db", "sweeps") == 1

    # From the script's folder, the same sweep runs.
    (work / "prog.yaml").write_text("program: train.py\n" + GRID)
    proc = cli_at(work, "run", "prog.yaml", "--db", "s.db", "--count", "1")
    assert proc.returncode == 0, proc.stderr
    assert "Warning" not in proc.stderr
    assert _count(work / "s.db", "runs") == 1


@pytest.mark.parametrize(
    ("command", "warned", "says"),
    [
        (
            '["${env}", "${interpreter}", "${program}"]',
            "Warning: command: uses ${program} but the config sets no `program`",
            "the command uses ${program} but the sweep config sets no `program`",
        ),
        ('["${nope}"]', "unknown macro ${nope}", "expands to an empty command line"),
    ],
)
def test_a_command_no_run_could_start_is_refused_before_a_run_is_claimed(
    work: Path, command: str, warned: str, says: str
) -> None:
    """wandb accepts such a config (a function could still run it), so creating the sweep
    only warns; an agent without a function stops before it claims a run, and leaves
    none ``running`` for the next agent to call crashed."""
    (work / "cmd.yaml").write_text(f"command: {command}\n" + GRID)
    made = cli_at(work, "sweep", "cmd.yaml", "--db", "s.db")
    assert made.returncode == 0, made.stderr
    assert warned in made.stderr
    for _ in range(2):
        proc = cli_at(work, "agent", made.stdout.strip(), "--db", "s.db")
        _clean_failure(proc)
        assert says in proc.stderr
    assert _count(work / "s.db", "runs") == 0
    # A function runs it.
    proc = cli_at(work, "agent", made.stdout.strip(), "--db", "s.db", "-f", "mytrain:train")
    assert proc.returncode == 0, proc.stderr
    assert _count(work / "s.db", "runs") == 4


@pytest.mark.parametrize(
    ("function", "says"),
    [
        ("nomod:train", "cannot import 'nomod' for --function"),
        ("mytrain:nope", "'mytrain' has no attribute 'nope'"),
        (None, "has no `program` or `command`"),
    ],
)
def test_localsweep_run_with_a_bad_function_makes_no_sweep(
    work: Path, function: str | None, says: str
) -> None:
    proc = cli_at(work, "run", "grid.yaml", *(["-f", function] if function else []))
    _clean_failure(proc)
    assert says in proc.stderr
    assert "Created sweep" not in proc.stderr
    assert not (work / "localsweep.db").exists() or _count(work / "localsweep.db", "sweeps") == 0


def test_a_mistyped_macro_in_command_is_a_warning_naming_the_closest_macro(work: Path) -> None:
    (work / "typo.yaml").write_text(
        'program: train.py\ncommand: ["${env}", "${interpreter}", "${program}", "${arg}"]\n' + GRID
    )
    expected = (
        "Warning: command[3]: unknown macro ${arg} is dropped (as wandb drops it): "
        "did you mean ${args}?"
    )
    # The config is still valid (wandb accepts it), so validate and sweep succeed and say so.
    checked = cli_at(work, "validate", "typo.yaml")
    assert checked.returncode == 0, checked.stderr
    assert expected in checked.stderr
    assert "valid" in checked.stdout
    made = cli_at(work, "sweep", "typo.yaml", "--db", "s.db")
    assert made.returncode == 0, made.stderr
    assert expected in made.stderr


def test_a_misspelt_log_uniform_suggests_the_form_its_bounds_fit(work: Path) -> None:
    (work / "dist.yaml").write_text(
        "method: random\nparameters:\n  lr: {distribution: loguniform, min: 0.001, max: 0.1}\n"
    )
    proc = cli_at(work, "validate", "dist.yaml")
    _clean_failure(proc)
    assert "parameters.lr.distribution: unknown distribution 'loguniform' (did you mean " in (
        proc.stderr
    )
    assert "`log_uniform_values`? min 0.001 and max 0.1 look like values" in proc.stderr


def test_unquoted_macros_in_a_flow_list_say_how_to_quote_them(work: Path) -> None:
    (work / "flow.yaml").write_text(
        "program: train.py\ncommand: [${env}, ${interpreter}, ${program}, ${args}]\n" + GRID
    )
    for command in (["validate", "flow.yaml"], ["sweep", "flow.yaml", "--db", "s.db"]):
        proc = cli_at(work, *command)
        _clean_failure(proc)
        assert "cannot parse 'flow.yaml'" in proc.stderr
        assert (
            '`command` (line 2): quote each macro in a flow list: ["${env}", '
            '"${interpreter}", ...], or write one item per line (- ${env})'
        ) in proc.stderr
    assert not (work / "s.db").exists()


@pytest.mark.parametrize("command", ["ls", "sweep grid.yaml"])
def test_a_database_in_a_read_only_folder_says_why_and_what_to_do(work: Path, command: str) -> None:
    # A real read-only mount (as a shared, read-only project folder is), in a private
    # mount namespace: root ignores file modes, so chmod would not do. Reading it works,
    # leaving nothing beside it; a write says why not.
    folder = work / "ro"
    folder.mkdir()
    made = cli_at(work, "sweep", "grid.yaml", "--db", "ro/s.db")
    assert made.returncode == 0
    script = (
        f"mount --bind -o ro {folder} {folder} && "
        f"{sys.executable} -m localsweep.cli {command} --db ro/s.db"
    )
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip(f"no mount namespace here to make a read-only folder: {probe.stderr!r}")
    env = {k: v for k, v in os.environ.items() if k != "LOCALSWEEP_DB"}
    proc = subprocess.run(
        ["unshare", "-m", "sh", "-c", script],
        capture_output=True,
        text=True,
        cwd=work,
        env={**env, "COLUMNS": "200"},
        timeout=180,
        check=False,
    )
    if command == "ls":
        assert proc.returncode == 0, proc.stderr
        assert made.stdout.strip().splitlines()[-1].split()[-1] in proc.stdout, proc.stdout
        return
    _clean_failure(proc, code=1)
    assert f"The folder {folder} is read-only" in proc.stderr, proc.stderr
    assert "copy the database to a writable folder" in proc.stderr


@pytest.mark.parametrize(
    ("args", "command"),
    [(["ls"], "ls"), (["show", "ls-nosuchid"], "show"), (["db", "upgrade"], "db upgrade")],
)
def test_debug_after_the_command_says_where_it_goes(
    work: Path, args: list[str], command: str
) -> None:
    # click said "No such option '--debug'. Did you mean '--db'?"
    proc = cli_at(work, *args, "--debug")
    _clean_failure(proc)
    said = " ".join(proc.stderr.split())
    assert f"--debug goes before the command (localsweep --debug {command} ...)" in said
    assert "--db'?" not in said


@pytest.mark.parametrize("command", [["agent", "ls-x"], ["run", "grid.yaml"], ["slurm", "x"]])
@pytest.mark.parametrize("gpus", [",,", ""])
def test_gpus_that_name_no_device_are_refused(work: Path, command: list[str], gpus: str) -> None:
    """``--gpus ,,`` gave the workers no device and said nothing: every run then saw the
    machine's GPUs, the very thing --gpus is given to prevent."""
    proc = cli_at(work, *command, "--gpus", gpus, "-f", "mytrain:train")
    _clean_failure(proc)
    assert "--gpus" in proc.stderr and "names no GPU" in proc.stderr
    assert not (work / "localsweep.db").exists()
