"""``localsweep slurm`` against a real SLURM (the one-node cluster of ``conftest.py``): the job
array's agents share the sweep, the script submitted is the one ``--dry-run`` prints, and a
job that reaches its time limit mid-run hands its run on to the next task."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

import localsweep
from localsweep.records import RunState
from localsweep.store import Store

if TYPE_CHECKING:
    from tests.cluster.conftest import SlurmCluster

pytestmark = pytest.mark.slow

TRAIN = """\
import time
import wandb

def train():
    with wandb.init() as run:
        time.sleep(1)  # long enough that every agent of the array gets a share
        run.log({"loss": float(run.config["a"] * 10 + run.config["b"])})
"""

GRID = {
    "method": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"a": {"values": [1, 2, 3]}, "b": {"values": [1, 2, 3, 4]}},
}


def _localsweep(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "localsweep", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _logs(folder: Path) -> str:
    return "\n".join(
        f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
        for p in sorted(folder.rglob("*.out"))
    )


def test_three_array_tasks_complete_a_12_point_grid_each_point_once(
    slurm: SlurmCluster, tmp_path: Path
) -> None:
    (tmp_path / "train.py").write_text(TRAIN)
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(GRID, db=db)

    submitted = _localsweep(
        "slurm", sweep_id, "--agents", "3", "--function", "train:train", "--db", db,
        "--setup", 'echo "$SLURM_ARRAY_TASK_ID" > "setup-$SLURM_ARRAY_TASK_ID.txt"',
    )  # fmt: skip
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip()
    assert job_id.isdigit(), submitted.stdout
    log_dir = tmp_path / "localsweep-logs" / sweep_id
    assert f"Submitted job {job_id}" in submitted.stderr
    assert f"localsweep show {sweep_id}" in submitted.stderr
    assert str(log_dir) in submitted.stderr

    states = slurm.wait_job(job_id)
    assert states == {f"{job_id}_{i}": "COMPLETED" for i in range(3)}, _logs(log_dir)

    store = Store(db)
    runs = store.list_runs(sweep_id)
    store.close()
    assert [r.state for r in runs] == [RunState.FINISHED] * 12, _logs(log_dir)
    points = sorted((r.config["a"], r.config["b"]) for r in runs)
    assert points == sorted(itertools.product([1, 2, 3], [1, 2, 3, 4]))
    assert sorted(r.metric for r in runs) == sorted(10.0 * a + b for a, b in points)
    # The array's agents shared the grid, each in its own task with its own log.
    assert len({r.agent_id for r in runs}) >= 2, _logs(log_dir)
    for task in range(3):
        assert (tmp_path / f"setup-{task}.txt").read_text() == f"{task}\n"  # --setup ran
        log = (log_dir / f"{job_id}_{task}.out").read_text()
        assert f"task {task} of job {job_id}" in log
        assert "Agent done" in log, log


def test_dry_run_prints_exactly_the_script_that_is_submitted(
    slurm: SlurmCluster, tmp_path: Path
) -> None:
    (tmp_path / "train.py").write_text(TRAIN)
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(GRID, db=db)
    args = [
        "slurm", sweep_id, "--agents", "2", "--count", "1", "--function", "train:train",
        "--time", "5", "--cpus-per-task", "1", "--partition", slurm.partition,
        "--sbatch-arg=--hold", "--db", db,
    ]  # fmt: skip

    dry = _localsweep(*args, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert not (tmp_path / "localsweep-logs").exists()  # nothing submitted, nothing made
    assert "#SBATCH --hold" in dry.stdout and "#SBATCH --array=0-1" in dry.stdout

    real = _localsweep(*args)
    assert real.returncode == 0, real.stderr
    job_id = real.stdout.strip()
    try:
        submitted = slurm.run("scontrol", "write", "batch_script", job_id, "-").stdout
        assert submitted == dry.stdout
        saved = tmp_path / "localsweep-logs" / sweep_id / f"{job_id}.sbatch"
        assert saved.read_text() == dry.stdout
    finally:
        slurm.run("scancel", job_id, check=False)


# A program that checkpoints each step under its run id and, resumed, carries on from its
# checkpoint: the loop that preemption and requeue are for. Its first attempt would take
# far longer than the job's time limit; each start is written down with the array task.
PREEMPTIBLE = """\
import os, time
from pathlib import Path
import wandb

STEPS = 40
run = wandb.init()
ckpt = Path("ckpt-" + run.id)
start = int(ckpt.read_text()) if ckpt.exists() else 0
with open("starts.txt", "a") as f:
    f.write(f"{run.id} {os.environ.get('SLURM_ARRAY_TASK_ID')} {start}\\n")
for step in range(start, STEPS):
    run.log({"loss": 1.0 / (step + 1)}, step=step)
    ckpt.write_text(str(step + 1))
    if start == 0:
        time.sleep(5)  # the first attempt is slow; the job's time limit ends it mid-run
run.finish()
"""


def _preemptible_sweep(folder: Path) -> tuple[str, str]:
    """A one-point program-mode sweep of PREEMPTIBLE in ``folder``: its database, its id."""
    (folder / "train.py").write_text(PREEMPTIBLE)
    db = str(folder / "sweeps.db")
    config = {
        "method": "grid",
        "program": "train.py",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"x": {"values": [1]}},
    }
    return db, localsweep.sweep(config, db=db)


@pytest.mark.timeout(900)
def test_a_job_whose_time_limit_ends_mid_run_has_its_run_requeued_and_finished_by_another_task(
    slurm: SlurmCluster, tmp_path: Path
) -> None:
    db, sweep_id = _preemptible_sweep(tmp_path)

    # Two tasks, one at a time, each limited to two minutes; SLURM warns the agent 90 s
    # ahead (its timer is coarse: it may warn up to a minute later), while the first attempt
    # of the run would take 200 s.
    submitted = _localsweep(
        "slurm", sweep_id, "--agents", "2", "--max-running", "1", "--time", "2",
        "--signal-before", "90", "--db", db,
    )  # fmt: skip
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip()
    log_dir = tmp_path / "localsweep-logs" / sweep_id
    slurm.wait_job(job_id, timeout=600)

    starts = [line.split() for line in (tmp_path / "starts.txt").read_text().splitlines()]
    store = Store(db)
    runs = store.list_runs(sweep_id)
    history = store.history(runs[0].id) if runs else []
    store.close()
    # One run, started by task 0, cut off by the time limit, resumed by task 1 with the same
    # run id from its checkpoint, and finished there.
    assert len(runs) == 1, (runs, _logs(log_dir))
    run = runs[0]
    assert run.state == RunState.FINISHED, _logs(log_dir)
    assert [s[0] for s in starts] == [run.id, run.id], starts
    assert [s[1] for s in starts] == ["0", "1"], starts
    assert int(starts[1][2]) > 0  # the second attempt resumed from the checkpoint
    assert run.metric == pytest.approx(1.0 / 40)
    assert max(row["_step"] for row in history) == 39
    assert os.path.exists(tmp_path / f"ckpt-{run.id}")


@pytest.mark.timeout(900)
def test_a_task_slurm_requeues_keeps_both_attempts_in_its_log(
    slurm: SlurmCluster, tmp_path: Path
) -> None:
    """``scontrol requeue`` (what PreemptMode=REQUEUE does) stops a task mid-run and runs
    it again, writing the same log file: appended to, it keeps the first attempt's lines
    (sbatch truncates it by default: the task's first run, and why it stopped, were gone)."""
    import time

    db, sweep_id = _preemptible_sweep(tmp_path)
    submitted = _localsweep("slurm", sweep_id, "--agents", "1", "--db", db)
    assert submitted.returncode == 0, submitted.stderr
    job_id = submitted.stdout.strip()
    log_dir = tmp_path / "localsweep-logs" / sweep_id
    deadline = time.monotonic() + 300
    while not (tmp_path / "starts.txt").exists():
        assert time.monotonic() < deadline, _logs(log_dir) + slurm.log("slurmctld")
        time.sleep(0.5)
    time.sleep(3)  # a few steps into its first attempt
    slurm.run("scontrol", "requeue", f"{job_id}_0")
    slurm.wait_job(job_id, timeout=600)

    log = (log_dir / f"{job_id}_0.out").read_text()
    assert log.count(f"localsweep agent: task 0 of job {job_id}") == 2, log
    first, second = log.split(f"localsweep agent: task 0 of job {job_id}")[1:]
    assert "preempted" in first, log  # why the first attempt stopped, kept
    assert "Agent done" in second, log
    store = Store(db)
    (run,) = store.list_runs(sweep_id)
    store.close()
    assert run.state == RunState.FINISHED and run.attempt == 2, log


def test_an_unknown_partition_is_refused_naming_the_partitions_sinfo_lists(
    slurm: SlurmCluster, tmp_path: Path
) -> None:
    (tmp_path / "train.py").write_text(TRAIN)
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(GRID, db=db)
    args = ["slurm", sweep_id, "--agents", "2", "--function", "train:train", "--db", db]
    out = _localsweep(*args, "--partition", "nosuch", "--dry-run")
    assert out.returncode == 2, out.stderr
    assert "partition 'nosuch' does not exist" in out.stderr
    assert f"sinfo lists {slurm.partition} (default)" in out.stderr
    assert "0 nodes" not in out.stderr and "Traceback" not in out.stderr
    # The partition that exists has one node, this one: SQLite is fine there.
    out = _localsweep(*args, "--partition", slurm.partition, "--dry-run")
    assert out.returncode == 0, out.stderr
    assert "Warning" not in out.stderr


@pytest.mark.parametrize(
    "text",
    ["30", "5:30", "12:00:00", "0-12", "1-2", "1-2:30", "1-2:30:15", "UNLIMITED", "infinite", "0"],
)
def test_every_time_limit_we_accept_sbatch_accepts(slurm: SlurmCluster, text: str) -> None:
    out = slurm.run("sbatch", "--test-only", f"--time={text}", "--wrap=true", check=False)
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("text", ["10min", "1:2:3:4", "1-2-3", "1h", "1.5", " 30", ""])
def test_every_time_limit_we_refuse_sbatch_refuses(slurm: SlurmCluster, text: str) -> None:
    out = slurm.run("sbatch", "--test-only", f"--time={text}", "--wrap=true", check=False)
    assert out.returncode != 0 and "time" in out.stderr.lower(), out.stderr


@pytest.mark.postgres
def test_a_loopback_postgresql_url_is_no_warning_when_every_node_is_this_machine(
    slurm: SlurmCluster, postgres_db: str, tmp_path: Path
) -> None:
    (tmp_path / "train.py").write_text(TRAIN)
    sweep_id = localsweep.sweep(GRID, db=postgres_db)
    out = _localsweep(
        "slurm", sweep_id, "--agents", "2", "--function", "train:train", "--db", postgres_db,
        "--dry-run",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "Warning" not in out.stderr


@pytest.mark.postgres
def test_an_unknown_partition_is_refused_with_postgresql_too(
    slurm: SlurmCluster, postgres_db: str, tmp_path: Path
) -> None:
    (tmp_path / "train.py").write_text(TRAIN)
    sweep_id = localsweep.sweep(GRID, db=postgres_db)
    out = _localsweep(
        "slurm", sweep_id, "--agents", "2", "--nodes", "2", "--function", "train:train",
        "--partition", "gpu", "--db", postgres_db, "--dry-run",
    )  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert "partition 'gpu' does not exist" in out.stderr
    assert f"sinfo lists {slurm.partition} (default)" in out.stderr
