"""The sbatch script ``localsweep slurm`` writes, and what it refuses, without a cluster:
``--dry-run`` and ``--script-only`` need no SLURM when the job is pinned with ``--nodelist``."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

import localsweep
from localsweep.cluster import SlurmJob, render_script, time_limit_seconds
from localsweep.store import Store

pytestmark = pytest.mark.slow  # real `localsweep` processes

GRID = {"method": "grid", "program": "train.py", "parameters": {"x": {"values": [1, 2, 3]}}}


@pytest.fixture(autouse=True)
def _program(tmp_path: Path) -> None:
    # The jobs start in the test's folder (--chdir): the sweep's script is there.
    (tmp_path / "train.py").write_text("")


def _localsweep(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "localsweep", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


def _directives(script: str) -> list[str]:
    return [
        line.removeprefix("#SBATCH ") for line in script.splitlines() if line.startswith("#SBATCH")
    ]


def test_the_script_runs_one_agent_per_array_task_on_the_same_database() -> None:
    job = SlurmJob(
        "ls-abc12345",
        agents=8,
        db_url="postgresql+psycopg://me:p%40ss@db.internal:5432/sweeps",
        workdir="/home/me/project",
        log_dir="/home/me/project/logs",
        python="/home/me/venv/bin/python",
        max_running=4,
        sbatch_options=(("time", "12:00:00"), ("gpus-per-task", "1")),
        sbatch_args=("--exclusive",),
        agent_args=("--count", "5"),
        setup=("module load cuda/12.4", "source /home/me/venv/bin/activate"),
    )
    script = render_script(job)
    assert script.startswith("#!/bin/bash\n")
    assert _directives(script) == [
        "--job-name=ls-abc12345",
        "--array=0-7%4",
        "--output=/home/me/project/logs/%A_%a.out",
        "--open-mode=append",
        "--chdir=/home/me/project",
        "--signal=B:TERM@120",
        "--time=12:00:00",
        "--gpus-per-task=1",
        "--exclusive",
    ]
    exports = [line for line in script.splitlines() if line.startswith("export ")]
    assert exports == [
        "export LOCALSWEEP_DB=postgresql+psycopg://me:p%40ss@db.internal:5432/sweeps"
    ]
    last = [line for line in script.splitlines() if line.startswith("exec ")]
    assert shlex.split(last[0]) == [
        "exec", "/home/me/venv/bin/python", "-m", "localsweep", "agent", "ls-abc12345",
        "--count", "5",
    ]  # fmt: skip
    lines = script.splitlines()
    # The setup lines run before the agent, in order.
    assert lines.index("module load cuda/12.4") < lines.index("source /home/me/venv/bin/activate")
    assert lines.index("source /home/me/venv/bin/activate") < lines.index(last[0])
    assert render_script(job) == script  # the same job, the same text


def test_the_script_runs_under_bash_and_starts_the_agent(tmp_path: Path) -> None:
    # The script as a plain shell script (no SLURM): the agent it execs says the sweep is
    # unknown, which shows the database and the sweep id reached it.
    job = SlurmJob(
        "ls-nosuchsw",
        agents=1,
        db_url=f"sqlite:///{tmp_path / 'sweeps.db'}",
        workdir=str(tmp_path),
        log_dir=str(tmp_path / "logs"),
    )
    (tmp_path / "job.sh").write_text(render_script(job))
    Store(tmp_path / "sweeps.db").close()  # the database exists; the sweep does not
    done = subprocess.run(
        ["bash", str(tmp_path / "job.sh")], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 2, done.stderr
    assert "ls-nosuchsw" in done.stderr
    assert (tmp_path / "sweeps.db").is_file()


def test_dry_run_with_agent_and_sbatch_options(tmp_path: Path) -> None:
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(GRID, db=db)
    out = _localsweep(
        "slurm", sweep_id, "--agents", "4", "--max-running", "2", "--count", "3",
        "--workers", "2", "--gpus-per-task", "2", "--time", "1:00:00", "--mem", "16G",
        "--account", "proj", "--qos", "normal", "--constraint", "a100", "--nodelist", "gpu01",
        "--partition", "gpu", "--cpus-per-task", "8", "--sbatch-arg=--mail-type=END",
        "--db", db, "--dry-run",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert _directives(out.stdout)[1:] == [
        "--array=0-3%2",
        f"--output={tmp_path}/localsweep-logs/{sweep_id}/%A_%a.out",
        "--open-mode=append",
        f"--chdir={tmp_path}",
        "--signal=B:TERM@120",
        "--partition=gpu",
        "--time=1:00:00",
        "--nodelist=gpu01",
        "--cpus-per-task=8",
        "--gpus-per-task=2",
        "--mem=16G",
        "--account=proj",
        "--qos=normal",
        "--constraint=a100",
        "--mail-type=END",
    ]
    exec_line = next(line for line in out.stdout.splitlines() if line.startswith("exec "))
    # Two workers per task: each gets one of the task's GPUs, as SLURM numbered them.
    assert f"agent {sweep_id} --count 3 --workers 2 " in exec_line
    assert exec_line.endswith('${CUDA_VISIBLE_DEVICES:+--gpus "$CUDA_VISIBLE_DEVICES"}')
    assert not (tmp_path / "localsweep-logs").exists()


def test_script_only_writes_the_script_and_the_log_folder_for_a_later_sbatch(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(GRID, db=db)
    args = ["slurm", sweep_id, "--agents", "2", "--nodelist", "node7", "--db", db]
    out = _localsweep(*args, "--script-only", "job.sbatch")
    assert out.returncode == 0, out.stderr
    assert "sbatch job.sbatch" in out.stderr
    assert (tmp_path / "job.sbatch").read_text() == _localsweep(*args, "--dry-run").stdout
    assert (tmp_path / "job.sbatch").stat().st_mode & 0o777 == 0o600  # it holds the db URL
    assert (tmp_path / "localsweep-logs" / sweep_id).is_dir()


@pytest.mark.parametrize(
    ("extra", "said"),
    [
        (["--nodes", "2"], "--nodes"),
        (["--nodelist", "node1,node2"], "2 nodes"),
    ],
)
def test_sqlite_is_refused_unless_the_job_stays_on_one_node(
    tmp_path: Path, extra: list[str], said: str
) -> None:
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(GRID, db=db)
    out = _localsweep("slurm", sweep_id, "--agents", "2", *extra, "--db", db, "--dry-run")
    assert out.returncode == 2, out.stderr
    assert said in out.stderr and "PostgreSQL" in out.stderr
    assert "Traceback" not in out.stderr and out.stdout == ""


def test_an_unknown_sweep_or_an_array_in_sbatch_arg_is_a_usage_error(tmp_path: Path) -> None:
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(GRID, db=db)
    unknown = _localsweep("slurm", "ls-nosuchsw", "--agents", "2", "--nodelist", "n1", "--db", db)
    assert unknown.returncode == 2 and "ls-nosuchsw" in unknown.stderr
    array = _localsweep(
        "slurm", sweep_id, "--agents", "2", "--nodelist", "n1", "--sbatch-arg=--array=0-9",
        "--db", db,
    )  # fmt: skip
    assert array.returncode == 2 and "--agents" in array.stderr


def test_a_program_missing_from_the_jobs_folder_is_refused_before_submitting(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep({**GRID, "program": "trian.py"}, db=db)
    args = ["slurm", sweep_id, "--agents", "2", "--nodelist", "n1", "--db", db]
    out = _localsweep(*args, "--script-only", "job.sbatch")
    assert out.returncode == 2, out.stderr
    assert "'trian.py' does not exist in" in out.stderr
    assert "Did you mean 'train.py'?" in out.stderr
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "job.sbatch").exists()
    # A --setup line may change folder (or fetch the code): then the job is not judged here.
    out = _localsweep(*args, "--setup", "cd /scratch/me/proj", "--dry-run")
    assert out.returncode == 0, out.stderr
    assert "cd /scratch/me/proj" in out.stdout


def test_without_sbatch_the_error_says_to_use_script_only(tmp_path: Path) -> None:
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(GRID, db=db)
    env = {**os.environ, "PATH": str(Path(sys.executable).parent)}
    out = _localsweep("slurm", sweep_id, "--agents", "2", "--nodelist", "n1", "--db", db, env=env)
    assert out.returncode == 1, out.stderr
    assert "sbatch not found" in out.stderr and "--script-only" in out.stderr


@pytest.mark.postgres
def test_postgresql_lets_the_agents_spread_over_nodes(postgres_db: str) -> None:
    sweep_id = localsweep.sweep(GRID, db=postgres_db)
    out = _localsweep(
        "slurm", sweep_id, "--agents", "16", "--nodes", "2", "--db", postgres_db, "--dry-run"
    )
    assert out.returncode == 0, out.stderr
    assert "#SBATCH --nodes=2" in out.stdout
    assert f"export LOCALSWEEP_DB={shlex.quote(postgres_db)}" in out.stdout


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30", 30 * 60),
        ("5:30", 5 * 60 + 30),
        ("12:00:00", 12 * 3600),
        ("2-0", 2 * 86400),
        ("1-12", 86400 + 12 * 3600),
        ("1-2:30", 86400 + 2 * 3600 + 30 * 60),
        ("1-2:30:15", 86400 + 2 * 3600 + 30 * 60 + 15),
        ("0", None),
        ("UNLIMITED", None),
        ("infinite", None),
    ],
)
def test_time_limits_are_read_as_sbatch_reads_them(text: str, seconds: int | None) -> None:
    assert time_limit_seconds(text) == seconds


def test_a_warning_signal_not_before_the_time_limit_is_refused(tmp_path: Path) -> None:
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(GRID, db=db)
    out = _localsweep(
        "slurm", sweep_id, "--agents", "2", "--nodelist", "n1", "--time", "1", "--db", db,
        "--dry-run",
    )  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert "--signal-before" in out.stderr and "(60 s)" in out.stderr


def test_paths_with_spaces_are_quoted_for_sbatch_and_newlines_refused(tmp_path: Path) -> None:
    job = SlurmJob(
        "ls-abc12345",
        agents=1,
        db_url="sqlite:////data/my sweeps/s.db",
        workdir="/home/me/my project",
        log_dir="/home/me/my project/logs",
    )
    script = render_script(job)
    assert '#SBATCH --output="/home/me/my project/logs/%A_%a.out"' in script
    assert '#SBATCH --chdir="/home/me/my project"' in script
    assert "export LOCALSWEEP_DB='sqlite:////data/my sweeps/s.db'" in script

    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(GRID, db=db)
    out = _localsweep(
        "slurm", sweep_id, "--agents", "1", "--nodelist", "n1", "--setup", "a\nb", "--db", db,
        "--dry-run",
    )  # fmt: skip
    assert out.returncode == 2 and "one line" in out.stderr, out.stderr
