"""``--db`` URLs at the command line: a URL that cannot work is one message with the fix
(exit 2, no traceback), and a password in the URL is never printed, nor put into a
suggested command. Real ``localsweep`` processes; a real PostgreSQL whose role logs in with
a password."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
from cli_process import cli_at

#: The tests check what a user without PGPASSWORD in their shell sees.
NO_PASSWORD = ("PGPASSWORD",)

pytestmark = pytest.mark.slow

PASSWORD = "pick-a-password"

GRID = """\
program: train.py
method: grid
metric: {name: loss}
parameters:
  x: {values: [1, 2]}
"""


def _bad_input(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    return " ".join(proc.stderr.split())


@pytest.fixture
def work(tmp_path: Path) -> Path:
    (tmp_path / "grid.yaml").write_text(GRID)
    (tmp_path / "train.py").write_text("")
    return tmp_path


def _args(command: str) -> list[str]:
    return {"ls": ["ls"], "sweep": ["sweep", "grid.yaml"], "agent": ["agent", "ls-nope"]}[command]


@pytest.mark.skipif(importlib.util.find_spec("psycopg2") is not None, reason="psycopg2 here")
@pytest.mark.parametrize("command", ["ls", "sweep", "agent"])
def test_missing_driver_is_one_message_naming_it_and_what_to_write(
    work: Path, command: str
) -> None:
    url = f"postgresql+psycopg2://sweeper:{PASSWORD}@127.0.0.1:1/sweeps"
    message = _bad_input(cli_at(work, *_args(command), "--db", url, drop=NO_PASSWORD))
    assert "'psycopg2'" in message and "is not installed" in message
    assert "postgresql+psycopg://sweeper:***@127.0.0.1:1/sweeps" in message
    assert PASSWORD not in message


@pytest.mark.skipif(importlib.util.find_spec("MySQLdb") is not None, reason="MySQLdb here")
def test_mysql_without_its_driver_says_install_it_or_use_psycopg(work: Path) -> None:
    message = _bad_input(cli_at(work, "ls", "--db", "mysql://u@127.0.0.1/sweeps", drop=NO_PASSWORD))
    assert "'MySQLdb'" in message and "Install that driver" in message
    assert "postgresql+psycopg://" in message


@pytest.mark.parametrize("command", ["ls", "sweep", "agent"])
def test_postgres_scheme_says_write_postgresql(work: Path, command: str) -> None:
    url = f"postgres://sweeper:{PASSWORD}@127.0.0.1:1/sweeps"
    message = _bad_input(cli_at(work, *_args(command), "--db", url, drop=NO_PASSWORD))
    assert "Heroku's spelling of postgresql://" in message
    assert "Write postgresql+psycopg://sweeper:***@127.0.0.1:1/sweeps" in message


@pytest.mark.postgres
def test_wrong_password_is_bad_input_saying_check_the_password(
    work: Path, postgres_password_db: str
) -> None:
    url = make_url(postgres_password_db).set(password="wrong").render_as_string(False)
    message = _bad_input(
        cli_at(work, "ls", "--db", url, env={"LOCALSWEEP_STORE_TIMEOUT": "60"}, drop=NO_PASSWORD)
    )
    assert "Check the user and password in the URL" in message
    assert "unreachable" not in message


@pytest.mark.postgres
def test_sweep_never_prints_the_password_and_suggests_how_to_pass_it(
    work: Path, postgres_password_db: str
) -> None:
    made = cli_at(work, "sweep", "grid.yaml", "--db", postgres_password_db, drop=NO_PASSWORD)
    assert made.returncode == 0, made.stderr
    assert PASSWORD not in made.stderr + made.stdout
    sweep_id = made.stdout.strip()
    bare = postgres_password_db.replace(f":{PASSWORD}@", "@")
    assert f"Run sweep agent with: localsweep agent --db {bare} {sweep_id}" in made.stderr
    assert "~/.pgpass" in made.stderr and "PGPASSWORD" in made.stderr
    # The suggestion works as said: the URL without its password, the password aside.
    shown = cli_at(work, "show", sweep_id, "--db", bare, env={"PGPASSWORD": PASSWORD})
    assert shown.returncode == 0, shown.stderr
    missing = cli_at(work, "agent", "ls-nope", "--db", postgres_password_db, drop=NO_PASSWORD)
    message = _bad_input(missing)
    assert "no sweep 'ls-nope'" in message and PASSWORD not in message


@pytest.mark.postgres
def test_sweep_with_the_url_in_localsweep_db_suggests_no_db_flag(
    work: Path, postgres_password_db: str
) -> None:
    made = cli_at(
        work, "sweep", "grid.yaml", env={"LOCALSWEEP_DB": postgres_password_db}, drop=NO_PASSWORD
    )
    assert made.returncode == 0, made.stderr
    assert PASSWORD not in made.stderr
    assert f"Run sweep agent with: localsweep agent {made.stdout.strip()}" in made.stderr
