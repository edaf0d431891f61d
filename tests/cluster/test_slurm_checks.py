"""What ``localsweep slurm`` refuses (exit code 2, one message) or warns of before it writes or
submits a job whose tasks would fail, wait, or miss the database; without a cluster
(``--dry-run`` and ``--script-only`` with the job pinned by ``--nodelist``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import localsweep
from localsweep.cluster import SlurmError, time_limit_seconds
from localsweep.cluster._checks import loopback_host
from localsweep.store import Store

pytestmark = pytest.mark.slow  # real `localsweep` processes

GRID = {"method": "grid", "program": "train.py", "parameters": {"x": {"values": [1, 2, 3]}}}


@pytest.fixture(autouse=True)
def _program(tmp_path: Path) -> None:
    (tmp_path / "train.py").write_text("")


def _localsweep(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "localsweep", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _refused(out: subprocess.CompletedProcess[str], *said: str) -> None:
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and out.stdout == ""
    for text in said:
        assert text in out.stderr, out.stderr


@pytest.fixture
def sweep_id(tmp_path: Path) -> str:
    return localsweep.sweep(GRID, db=str(tmp_path / "sweeps.db"))


def _slurm(sweep_id: str, *args: str) -> subprocess.CompletedProcess[str]:
    return _localsweep(
        "slurm", sweep_id, "--agents", "1", "--nodelist", "n1", "--db", "sweeps.db", *args
    )


def test_a_script_path_in_a_missing_folder_is_refused_and_nothing_is_made(
    tmp_path: Path, sweep_id: str
) -> None:
    out = _slurm(sweep_id, "--script-only", "/nonexist/dir/job.sbatch")
    _refused(out, "--script-only", "/nonexist/dir does not exist")
    assert not (tmp_path / "localsweep-logs").exists()


def test_a_log_folder_under_a_file_is_refused_at_dry_run_and_script_only(
    tmp_path: Path, sweep_id: str
) -> None:
    (tmp_path / "job.sbatch").write_text("")
    for mode in (["--dry-run"], ["--script-only", "out.sbatch"]):
        out = _slurm(sweep_id, "--log-dir", "job.sbatch/logs", *mode)
        _refused(out, "--log-dir", f"{tmp_path / 'job.sbatch'} is a file")
    assert not (tmp_path / "out.sbatch").exists()


@pytest.mark.parametrize("text", ["10min", "1h", "1:2:3:4", "1-2-3", "1.5", "", " 30", "1:2 "])
def test_a_time_limit_sbatch_would_refuse_is_an_error(text: str) -> None:
    with pytest.raises(SlurmError, match="DAYS-HOURS:MINUTES:SECONDS"):
        time_limit_seconds(text)


def test_zero_days_count_as_days() -> None:
    # 0-12 is twelve hours, as sbatch reads it (not twelve minutes).
    assert time_limit_seconds("0-12") == 12 * 3600
    assert time_limit_seconds("-1") is None


def test_a_time_limit_sbatch_would_refuse_is_refused_at_dry_run(sweep_id: str) -> None:
    out = _slurm(sweep_id, "--time", "10min", "--dry-run")
    _refused(out, "--time", "'10min'", "HOURS:MINUTES:SECONDS", "UNLIMITED")


def test_an_unimportable_function_is_refused_with_the_agents_message(sweep_id: str) -> None:
    out = _slurm(sweep_id, "--function", "nosuchmod:fn", "--script-only", "job.sbatch")
    said = "cannot import 'nosuchmod' for --function: No module named 'nosuchmod'"
    _refused(out, said)
    assert not Path("job.sbatch").exists()
    agent = _localsweep("agent", sweep_id, "--function", "nosuchmod:fn", "--db", "sweeps.db")
    assert agent.returncode == 2 and said in agent.stderr  # the same words as the agent's

    Path("trainer.py").write_text("def train():\n    pass\n")
    _refused(_slurm(sweep_id, "--function", "trainer:trian", "--dry-run"), "'trian'")
    assert _slurm(sweep_id, "--function", "trainer:train", "--dry-run").returncode == 0
    Path("broken.py").write_text("def train(:\n")
    _refused(_slurm(sweep_id, "--function", "broken:train", "--dry-run"), "SyntaxError")


def test_an_unimportable_function_with_setup_lines_is_only_a_warning(sweep_id: str) -> None:
    # The --setup lines may activate the environment that has the module.
    out = _slurm(sweep_id, "--function", "nosuchmod:fn", "--setup", "source env/bin/activate",
                 "--dry-run")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "Warning: cannot import 'nosuchmod'" in out.stderr
    assert "--function nosuchmod:fn" in out.stdout


@pytest.mark.parametrize("action", ["stop", "cancel"])
def test_a_stopped_or_cancelled_sweep_is_refused_with_how_to_resume_it(
    sweep_id: str, action: str
) -> None:
    assert _localsweep("sweep", f"--{action}", sweep_id, "--db", "sweeps.db").returncode == 0
    out = _slurm(sweep_id, "--dry-run")
    state = "finished (stopped)" if action == "stop" else "canceled"
    _refused(out, f"is {state}", f"localsweep sweep --resume {sweep_id}")
    # Resumed, it takes agents again.
    assert _localsweep("sweep", "--resume", sweep_id, "--db", "sweeps.db").returncode == 0
    assert _slurm(sweep_id, "--dry-run").returncode == 0


def test_a_sweep_that_finished_by_itself_is_refused_without_a_resume_hint(
    sweep_id: str,
) -> None:
    store = Store("sweeps.db")
    try:
        store.finish_sweep(sweep_id, "exhausted")  # what the agent writes at the grid's end
    finally:
        store.close()
    out = _slurm(sweep_id, "--dry-run")
    _refused(out, "grid is exhausted", "new sweep")
    assert "--resume" not in out.stderr  # it cannot be resumed


def test_a_paused_sweep_is_a_warning(sweep_id: str) -> None:
    assert _localsweep("sweep", "--pause", sweep_id, "--db", "sweeps.db").returncode == 0
    out = _slurm(sweep_id, "--dry-run")
    assert out.returncode == 0, out.stderr
    assert "is paused" in out.stderr and f"localsweep sweep --resume {sweep_id}" in out.stderr
    assert "#SBATCH --array=0-0" in out.stdout


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("postgresql+psycopg://u:p@127.0.0.1:5432/db", "127.0.0.1"),
        ("postgresql+psycopg://u:p@127.0.1.1/db", "127.0.1.1"),
        ("postgresql+psycopg://u:p@localhost/db", "localhost"),
        ("postgresql+psycopg://u:p@[::1]:5432/db", "::1"),
        (
            "postgresql+psycopg://u@/db?host=/var/run/postgresql",
            "the Unix socket /var/run/postgresql",
        ),
        ("postgresql+psycopg://u@/db", "the default Unix socket (no host in the URL)"),
        ("postgresql+psycopg://u:p@db.internal:5432/db", None),
        ("postgresql+psycopg://u:p@10.1.2.3/db", None),
        ("sqlite:///sweeps.db", None),
    ],
)
def test_loopback_database_hosts_are_recognised(
    url: str, host: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PGHOST", raising=False)
    assert loopback_host(url) == host


@pytest.mark.postgres
def test_a_loopback_postgresql_url_warns_when_agents_may_run_on_other_nodes(
    postgres_db: str,
) -> None:
    sweep_id = localsweep.sweep(GRID, db=postgres_db)
    host = postgres_db.split("@")[1].split(":")[0]
    for where in (["--nodes", "2"], ["--nodelist", "othernode"]):
        out = _localsweep(
            "slurm", sweep_id, "--agents", "2", *where, "--db", postgres_db, "--dry-run"
        )
        assert out.returncode == 0, out.stderr  # a warning: the user may know better
        assert f"agents on other nodes cannot reach the database at {host}" in out.stderr
        assert "hostname" in out.stderr or "name of the server's machine" in out.stderr
