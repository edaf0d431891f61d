"""A new user's first-hour mistakes (docs: the --function, --db and sweep-id rules in
docs/cli.md): each is one message naming the fix and exit code 2, never a traceback.
Every test starts real ``localsweep`` processes on real SQLite files."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import click
import pytest

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
from cli_process import cli_at

pytestmark = pytest.mark.slow

CONFIG = "method: random\nmetric: {name: val_loss}\nparameters:\n  lr: {min: 0.001, max: 0.1}\n"
TRAIN = "def train():\n    pass\n"


def refused(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    return " ".join(proc.stderr.split())


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("firsthour")
    (folder / "s.yaml").write_text(CONFIG)
    (folder / "train.py").write_text(TRAIN)
    (folder / "synerr.py").write_text("import os\ndef train(:\n    pass\n")
    (folder / "nameerr.py").write_text("import os\nx = undefined_name\ndef train(): pass\n")
    (folder / "exits.py").write_text("import sys\nsys.exit(3)\ndef train(): pass\n")
    (folder / "needs.py").write_text("import os\nimport nee\ndef train(): pass\n")
    made = cli_at(folder, "sweep", "s.yaml")
    assert made.returncode == 0, made.stderr
    return folder, made.stdout.strip()


@pytest.mark.parametrize(
    ("function", "says"),
    [
        ("synerr:train", "SyntaxError: invalid syntax ({folder}/synerr.py, line 2"),
        ("nameerr:train", "NameError: name 'undefined_name' is not defined ({folder}/nameerr"),
        ("exits:train", "sys.exit(3) as it was imported ({folder}/exits.py, line 2)"),
        ("needs:train", "ModuleNotFoundError: No module named 'nee' ({folder}/needs.py, line 2"),
        ("train.py:train", "drop the `.py` (--function train:train)"),
        ("train.train", "a colon, not a dot), got 'train.train': did you mean --function train:"),
        ("trian:train", "in {folder}, the folder it is imported from. Did you mean --function "),
        ("train:trian", "'train' has no attribute 'trian' ({folder}/train.py). Did you mean"),
    ],
)
def test_a_function_that_cannot_be_imported_is_one_message_naming_the_fix(
    work: tuple[Path, str], function: str, says: str
) -> None:
    folder, sweep_id = work
    said = refused(cli_at(folder, "agent", sweep_id, "-f", function, "--count", "1"))
    assert says.format(folder=folder) in said


def test_run_with_a_module_that_fails_at_import_makes_no_sweep(work: tuple[Path, str]) -> None:
    folder, _ = work
    said = refused(cli_at(folder, "run", "s.yaml", "-f", "nameerr:train", "--db", "run.db"))
    assert "importing 'nameerr' for --function failed: NameError" in said
    assert "Created sweep" not in said


@pytest.mark.parametrize("how", ["--db", "LOCALSWEEP_DB"])
def test_a_db_that_is_a_folder_is_refused_naming_a_file_in_it(tmp_path: Path, how: str) -> None:
    (tmp_path / "s.yaml").write_text(CONFIG)
    (tmp_path / "d").mkdir()
    if how == "--db":
        proc = cli_at(tmp_path, "sweep", "s.yaml", "--db", "d")
    else:
        env = {**os.environ, "LOCALSWEEP_DB": "d", "COLUMNS": "300"}
        proc = subprocess.run(
            [sys.executable, "-m", "localsweep.cli", "sweep", "s.yaml"],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=180,
            check=False,
        )
    said = refused(proc)
    assert f"{tmp_path / 'd'} is a folder" in said
    assert str(tmp_path / "d" / "localsweep.db") in said
    assert os.listdir(tmp_path / "d") == []


@pytest.mark.parametrize("command", [("ls",), ("show", "ls-12345678"), ("export", "ls-12345678")])
def test_a_db_folder_given_to_a_reading_command_is_said_to_be_a_folder(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    (tmp_path / "d").mkdir()
    said = refused(cli_at(tmp_path, *command, "--db", "d"))
    assert f"{tmp_path / 'd'} is a folder" in said
    assert str(tmp_path / "d" / "localsweep.db") in said
    assert os.listdir(tmp_path / "d") == []


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_a_db_where_no_file_can_be_made_is_refused_with_exit_2(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(CONFIG)
    said = refused(cli_at(tmp_path, "sweep", "s.yaml", "--db", "/proc/x.db"))
    assert "cannot create the database /proc/x.db" in said
    assert "writable folder" in said


@pytest.mark.parametrize(
    "typed",
    [lambda sid: sid.removeprefix("ls-"), lambda sid: sid[:-1] + ("q" if sid[-1] != "q" else "z")],
    ids=["without-the-ls-prefix", "a-letter-off"],
)
def test_an_unknown_sweep_id_names_the_closest_one_and_how_to_list_them(
    work: tuple[Path, str], typed: Callable[[str], str]
) -> None:
    folder, sweep_id = work
    for command in ("show", "agent"):
        said = refused(cli_at(folder, command, typed(sweep_id)))
        assert f"Did you mean {sweep_id}?" in said
        assert "`localsweep ls` lists this database's sweeps" in said
        assert "pass --db" in said


def test_a_config_file_given_to_agent_says_to_create_the_sweep_first(
    work: tuple[Path, str],
) -> None:
    folder, _ = work
    said = refused(cli_at(folder, "agent", "s.yaml"))
    assert "s.yaml is a config file" in said
    assert "`localsweep sweep s.yaml`" in said


def test_a_sweep_id_given_to_sweep_says_how_to_run_or_control_it(work: tuple[Path, str]) -> None:
    folder, sweep_id = work
    said = refused(cli_at(folder, "sweep", sweep_id))
    assert f"`localsweep agent {sweep_id}`" in said
    assert "--pause" in said


def test_validate_and_sweep_warn_of_a_py_program_started_without_an_interpreter(
    tmp_path: Path,
) -> None:
    (tmp_path / "train.py").write_text(TRAIN)
    (tmp_path / "c1.yaml").write_text(
        "program: train.py\ncommand: ['${env}', '${program}', '${args}']\n" + CONFIG
    )
    for args in (["validate", "c1.yaml"], ["sweep", "c1.yaml"]):
        proc = cli_at(tmp_path, *args)
        assert proc.returncode == 0, proc.stderr
        said = " ".join(proc.stderr.split())
        assert "Warning: `command` starts the `program` 'train.py' itself" in said
        assert "Add `${interpreter}` before `${program}`" in said


@pytest.mark.parametrize("limit", ["0", "-1"])
def test_show_refuses_a_limit_below_one_as_agent_refuses_count_0(
    work: tuple[Path, str], limit: str
) -> None:
    folder, sweep_id = work
    proc = cli_at(folder, "show", sweep_id, "--limit", limit)
    assert proc.returncode == 2, proc.stderr
    assert "Invalid value for '--limit'" in proc.stderr
    assert f"{limit} is not in the range x>=1" in proc.stderr


def test_every_option_of_agent_and_run_has_a_help_text() -> None:
    from localsweep.cli import cli as group

    for name in ("agent", "run"):
        for param in group.commands[name].params:
            if isinstance(param, click.Option) and not param.hidden:
                assert param.help, (name, param.opts)


def test_every_db_option_names_localsweep_db_in_its_help() -> None:
    from localsweep.cli import cli as group

    for name, command in group.commands.items():
        for param in command.params:
            if param.name == "db" and isinstance(param, click.Option):
                assert "LOCALSWEEP_DB" in (param.help or ""), name


def test_the_function_suggested_by_sweep_is_one_train_py_defines(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(CONFIG)
    (tmp_path / "train.py").write_text("import os\n\n\ndef train():\n    pass\n")
    proc = cli_at(tmp_path, "sweep", "s.yaml")
    assert proc.returncode == 0, proc.stderr
    assert "--function train:train for train() in train.py" in " ".join(proc.stderr.split())


def test_an_agent_started_one_folder_below_the_module_is_told_where_to_start(
    work: tuple[Path, str],
) -> None:
    folder, sweep_id = work
    (folder / "o").mkdir(exist_ok=True)
    said = refused(
        cli_at(folder / "o", "agent", sweep_id, "--db", "../localsweep.db", "-f", "train:train")
    )
    assert f"No module named 'train' in {folder / 'o'}, the folder it is imported from" in said
    assert f"{folder / 'train.py'} is one folder up: start the agent in {folder}" in said
