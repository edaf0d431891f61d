"""Where a command writes (``report -o``, ``export -o`` and ``--to``, ``sync
--staging-dir``, ``slurm --script-only``) is checked as ``--db`` is, before any work: a
path under a file, or in a folder that takes no file, is one sentence naming the option,
exit code 2, never a traceback; so is an Optuna storage URL (``export --to``) that cannot
work, in ``--db``'s words. Every test starts real ``localsweep`` processes."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

import localsweep

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
from cli_process import cli_at

pytestmark = pytest.mark.slow

GRID = {"method": "grid", "program": "train.py", "parameters": {"x": {"values": [1, 2]}}}


def _refused(proc: subprocess.CompletedProcess[str], *said: str, code: int = 2) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    text = " ".join(proc.stderr.split())
    for words in said:
        assert words in text, proc.stderr
    return text


@pytest.fixture
def sweep_id(tmp_path: Path) -> str:
    (tmp_path / "afile").write_text("")
    return localsweep.sweep(GRID, db=str(tmp_path / "localsweep.db"))


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["report", "-o", "afile/x.html"], "-o"),
        (["report", "-o", "afile/sub/x.html"], "-o"),
        (["export", "-o", "afile/x.csv"], "-o"),
        (["export", "--format", "optuna", "--to", "afile/x.db"], "--to"),
        (["sync", "--staging-dir", "afile/x", "--dry-run"], "--staging-dir"),
        (
            ["slurm", "--agents", "1", "--nodelist", "n1", "--script-only", "afile/x.sh"],
            "--script-only",
        ),
    ],
    ids=["report", "report-deeper", "export", "export-optuna", "sync", "slurm"],
)
def test_a_path_under_a_file_names_the_option_and_the_file(
    tmp_path: Path, sweep_id: str, args: list[str], option: str
) -> None:
    proc = cli_at(tmp_path, args[0], sweep_id, *args[1:])
    _refused(proc, f"Invalid value for {option}", "afile is a file, not a folder", f"give {option}")
    assert (tmp_path / "afile").read_text() == ""


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
@pytest.mark.parametrize(
    "args",
    [
        ["report", "-o", "/proc/x.html"],
        ["export", "-o", "/proc/x.csv"],
        ["export", "--format", "optuna", "--to", "sqlite:////proc/x.db"],
    ],
    ids=["report", "export", "export-optuna"],
)
def test_a_folder_that_takes_no_file_is_said_with_exit_2(
    tmp_path: Path, sweep_id: str, args: list[str]
) -> None:
    proc = cli_at(tmp_path, args[0], sweep_id, *args[1:])
    _refused(proc, "the folder /proc takes no new file", "a path in a writable folder")


def test_export_to_a_folder_is_said_with_exit_2(tmp_path: Path, sweep_id: str) -> None:
    (tmp_path / "out").mkdir()
    _refused(cli_at(tmp_path, "export", sweep_id, "-o", "out"), "out is a folder")


def test_an_optuna_file_in_new_folders_is_written(tmp_path: Path, sweep_id: str) -> None:
    proc = cli_at(tmp_path, "export", sweep_id, "--format", "optuna", "--to", "a/b/o.db")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "a" / "b" / "o.db").is_file()


@pytest.mark.parametrize("to", ["localsweep.db", "./sub/../localsweep.db", "sqlite:///{db}"])
def test_export_to_the_sweeps_own_database_is_refused(
    tmp_path: Path, sweep_id: str, to: str
) -> None:
    """Optuna put its tables into the localsweep database itself."""
    db = tmp_path / "localsweep.db"
    (tmp_path / "sub").mkdir()
    before = db.read_bytes()
    proc = cli_at(tmp_path, "export", sweep_id, "--format", "optuna", "--to", to.format(db=db))
    _refused(proc, "--to", "is the sweep's own localsweep database")
    assert db.read_bytes() == before


def test_export_to_another_localsweep_database_is_refused(tmp_path: Path, sweep_id: str) -> None:
    """Another project's localsweep database got Optuna's tables, then Optuna's
    RuntimeError traceback (the two schemas' alembic_version rows clash)."""
    other = tmp_path / "other.db"
    localsweep.sweep(GRID, db=str(other))
    before = other.read_bytes()
    proc = cli_at(tmp_path, "export", sweep_id, "--format", "optuna", "--to", "other.db")
    _refused(proc, "--to", "other.db is a localsweep database")
    assert other.read_bytes() == before


@pytest.mark.parametrize("to", ["sqlite://", "sqlite:///:memory:"])
def test_export_to_an_in_memory_storage_is_refused(tmp_path: Path, sweep_id: str, to: str) -> None:
    proc = cli_at(tmp_path, "export", sweep_id, "--format", "optuna", "--to", to)
    _refused(proc, "--to", "in-memory Optuna storage is gone when the command ends")


def test_export_to_a_file_that_is_no_database_is_refused_naming_to(
    tmp_path: Path, sweep_id: str
) -> None:
    (tmp_path / "notes.db").write_text("my notes\n")
    proc = cli_at(tmp_path, "export", sweep_id, "--format", "optuna", "--to", "notes.db")
    _refused(proc, "--to", "notes.db is a file that is no SQLite database")
    assert (tmp_path / "notes.db").read_text() == "my notes\n"


URLS = [
    ("postgres://u@h/db", "postgres:// is Heroku's spelling"),
    ("foo://x", "SQLAlchemy has no dialect 'foo'"),
    ("postgresql+nosuchdriver://u@h/db", "has no driver 'nosuchdriver'"),
]
if importlib.util.find_spec("MySQLdb") is None:
    URLS.append(("mysql://u@h/db", "'MySQLdb' is not installed"))


@pytest.mark.parametrize(("url", "said"), URLS, ids=[u for u, _ in URLS])
def test_an_optuna_url_that_cannot_work_is_said_as_for_db(
    tmp_path: Path, sweep_id: str, url: str, said: str
) -> None:
    to = _refused(cli_at(tmp_path, "export", sweep_id, "--format", "optuna", "--to", url), said)
    assert "Invalid value for --to" in to
    db = _refused(cli_at(tmp_path, "ls", "--db", url), said)
    assert to.split("Invalid value for --to: ", 1)[1] == db.split("Error: ", 1)[1]


def test_an_optuna_server_that_refuses_connections_is_said_as_for_db(
    tmp_path: Path, sweep_id: str
) -> None:
    url = "postgresql+psycopg://u@127.0.0.1:1/db"
    env = {"LOCALSWEEP_STORE_TIMEOUT": "0.5"}
    args = ("export", sweep_id, "--format", "optuna", "--to", url)
    same = (
        "could not open the database",
        "the database server is unreachable",
        "did not recover within",
        "Check that the database",
        "LOCALSWEEP_STORE_TIMEOUT",
    )
    to = _refused(cli_at(tmp_path, *args, env=env), *same, "(--to)", code=1)
    _refused(cli_at(tmp_path, "ls", "--db", url, env=env), *same, code=1)
    assert "Database error" not in to


def test_an_optuna_server_that_turns_the_login_away_names_to(
    tmp_path: Path, sweep_id: str, postgres_url: str
) -> None:
    from sqlalchemy.engine import make_url

    url = make_url(postgres_url).set(username="nosuchrole", password=None)
    text = url.render_as_string(hide_password=False)
    args = ("export", sweep_id, "--format", "optuna", "--to", text)
    _refused(cli_at(tmp_path, *args), "Invalid value for --to", "'nosuchrole'", "createuser")


@pytest.mark.parametrize("whose", ["another", "own"])
def test_an_optuna_url_of_a_localsweep_database_on_a_server_is_refused(
    tmp_path: Path, postgres_url: str, whose: str
) -> None:
    """A localsweep database on PostgreSQL, another or the sweep's own spelled with
    ``localhost`` for ``127.0.0.1``, is refused as a SQLite one is: Optuna would put its
    tables into it (and it stopped with Optuna's traceback)."""
    from sqlalchemy import create_engine, inspect
    from sqlalchemy.engine import make_url

    if whose == "own":
        db = postgres_url
        url = make_url(postgres_url).set(host="localhost")
        to = url.render_as_string(hide_password=False)
    else:
        db, to = str(tmp_path / "localsweep.db"), postgres_url
        localsweep.sweep(GRID, db=postgres_url)
    sweep_id = localsweep.sweep(GRID, db=db)
    args = ("export", sweep_id, "--db", db, "--format", "optuna", "--to", to)
    _refused(cli_at(tmp_path, *args), "Invalid value for --to", "is a localsweep database")
    engine = create_engine(postgres_url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert "studies" not in tables and "runs" in tables


def test_an_optuna_storage_beside_another_programs_runs_table_is_taken(
    tmp_path: Path, sweep_id: str
) -> None:
    """A database of another program with a table named ``runs`` (MLflow's) is no
    localsweep database: Optuna's tables go beside it, as they always could."""
    import sqlite3

    target = tmp_path / "mlflow.db"
    with sqlite3.connect(target) as conn:
        conn.execute("CREATE TABLE experiments (id INTEGER PRIMARY KEY)")
        conn.execute("CREATE TABLE runs (id TEXT PRIMARY KEY)")
    conn.close()
    proc = cli_at(tmp_path, "export", sweep_id, "--format", "optuna", "--to", str(target))
    assert proc.returncode == 0, proc.stderr
    with sqlite3.connect(target) as conn:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    assert {"experiments", "runs", "studies", "trials"} <= tables
