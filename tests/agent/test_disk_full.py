"""The disk of the wandb folder fills up during a sweep (a real tmpfs, filled): localsweep's
own files for a run (its parameter file) cannot be written. That is not the training code
failing: the agent says "disk full" once and stops, the run is not counted, and once space
is freed the next agent runs every point. Needs root (mount), as CI runs."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import localsweep

pytestmark = pytest.mark.slow

TRAIN = """
import os
import wandb


def train():
    with wandb.init() as run:
        run.log({"loss": float(run.config["x"])})


def fills_the_disk():
    with wandb.init() as run:
        run.log({"loss": float(run.config["x"])})
        # The disk fills up while the run works (a checkpoint, another job's files).
        with open(os.path.join(os.environ["WANDB_DIR"], "filler"), "ab") as f:
            try:
                while True:
                    f.write(b"x" * 65536)
                    f.flush()
            except OSError:
                pass
"""
PROGRAM = "import wandb\nwith wandb.init() as run:\n    run.log({'loss': float(run.config['x'])})\n"


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A small tmpfs of this test's own, mounted and unmounted here."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _fill(disk: Path, leave: int = 0) -> None:
    """Fill ``disk``, then give ``leave`` bytes back."""
    with open(disk / "filler", "wb") as f:
        try:
            while True:
                f.write(b"x" * 65536)
                f.flush()
        except OSError:
            pass
    if leave:
        os.truncate(disk / "filler", (disk / "filler").stat().st_size - leave)


def _cli(cwd: Path, disk: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_DIR": str(disk)}
    env["PYTHONPATH"] = os.pathsep.join([str(cwd), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "localsweep.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _grid(tmp_path: Path, program: bool) -> str:
    (tmp_path / "t.py").write_text(TRAIN)
    (tmp_path / "p.py").write_text(PROGRAM)
    head = "program: p.py\n" if program else ""
    (tmp_path / "g.yaml").write_text(
        head + "method: grid\nmetric: {name: loss}\nparameters:\n  x: {values: [1, 2, 3]}\n"
    )
    return localsweep.sweep(str(tmp_path / "g.yaml"), db=str(tmp_path / "s.db"))


MODES = {
    "function": ["--function", "t:train"],
    "process": ["--function", "t:train", "--isolation", "process"],
    "program": [],
}


@pytest.mark.parametrize("mode", list(MODES))
def test_a_full_wandb_disk_stops_the_agent_with_one_message_and_loses_no_point(
    tmp_path: Path, disk: Path, mode: str
) -> None:
    sweep_id = _grid(tmp_path, program=mode == "program")
    _fill(disk)
    function = MODES[mode]

    full = _cli(tmp_path, disk, "agent", sweep_id, "--db", "s.db", *function)

    assert full.returncode == 1, full.stderr
    assert "Traceback" not in full.stderr
    [error] = [line for line in full.stderr.splitlines() if line.startswith("Error:")]
    assert error.startswith("Error: disk full: localsweep could not write ")
    assert "its point is offered again" in error and "WANDB_DIR" in error
    assert "goes on with `localsweep agent --db s.db " in error  # how to go on
    assert f" {sweep_id}` (Python: " in error
    runs = localsweep.Api(str(tmp_path / "s.db")).sweep(sweep_id).runs
    assert [r.state for r in runs] == ["killed"]  # not failed: not the training code's fault
    assert not list(disk.glob("wandb/settings.localsweep-*"))  # no half-written file left

    (disk / "filler").unlink()
    again = _cli(tmp_path, disk, "agent", sweep_id, "--db", "s.db", *function)

    assert again.returncode == 0, again.stderr
    runs = localsweep.Api(str(tmp_path / "s.db")).sweep(sweep_id).runs
    finished = sorted(r.config["x"] for r in runs if r.state == "finished")
    assert finished == [1, 2, 3]
    # The run that never started has nothing to upload: not a failure of the sync.
    plan = localsweep.sync(
        sweep_id, entity="team", db=tmp_path / "s.db", wandb_dirs=[disk], dry_run=True
    )
    assert plan.ok, plan.runs
    [never] = [r for r in plan.runs if r.state == "killed"]
    assert never.outcome == "left"
    assert "never started: localsweep could not set it up (write its files" in (never.message or "")


def test_a_run_that_ends_on_a_full_disk_is_kept_and_named_in_a_warning(
    tmp_path: Path, disk: Path
) -> None:
    sweep_id = _grid(tmp_path, program=False)

    full = _cli(tmp_path, disk, "agent", sweep_id, "--db", "s.db", "-f", "t:fills_the_disk")

    # Its rows reached the store; wandb's own file may be cut short, and the agent says so.
    assert "ended while the disk of its wandb folder" in " ".join(full.stderr.split())
    runs = localsweep.Api(str(tmp_path / "s.db")).sweep(sweep_id).runs
    assert (runs[0].state, runs[0].summary["loss"]) == ("finished", 1.0)
    # The next run cannot start on the full disk: the agent stops instead of failing it.
    assert full.returncode == 1 and "Error: disk full" in full.stderr
    assert [r.state for r in runs[1:]] == ["killed"]


@pytest.mark.parametrize("mode", list(MODES))
def test_a_nearly_full_wandb_disk_fails_no_run_as_the_users_error(
    tmp_path: Path, disk: Path, mode: str
) -> None:
    # Room for localsweep's own small files, not for wandb's: the run itself then fails
    # (wandb cannot write, or the run's process cannot report). It used to be recorded
    # failed, run after run, and the sweep's points were used up.
    sweep_id = _grid(tmp_path, program=mode == "program")
    _fill(disk, leave=8192)

    full = _cli(tmp_path, disk, "agent", sweep_id, "--db", "s.db", *MODES[mode])

    assert full.returncode == 1, full.stderr
    assert "Error: disk full: run " in full.stderr, full.stderr
    runs = localsweep.Api(str(tmp_path / "s.db")).sweep(sweep_id).runs
    assert [(r.state, r.end_reason) for r in runs] == [("killed", "setup_error")]


FILLS_THEN_PRINTS = """
import os
import wandb

with wandb.init() as run:
    run.log({"loss": float(run.config["x"])})
    print("before the disk filled", flush=True)
    with open(os.path.join(os.environ["WANDB_DIR"], "filler"), "ab") as f:
        try:
            while True:
                f.write(b"x" * 65536)
                f.flush()
        except OSError:
            pass
    for i in range(300):  # more than the page the output file has left
        print(f"still training {i} " + "." * 100, flush=True)  # into the agent's pipe
"""


def test_a_programs_output_on_a_full_disk_does_not_break_its_pipe(
    tmp_path: Path, disk: Path
) -> None:
    # The agent copies a program's output to a file beside its run folder; once that file
    # could not be written, the copier died and closed the pipe, and the program's next
    # print failed with BrokenPipeError.
    (tmp_path / "p.py").write_text(FILLS_THEN_PRINTS)
    (tmp_path / "g.yaml").write_text(
        "program: p.py\nmethod: grid\nmetric: {name: loss}\nparameters:\n  x: {values: [1]}\n"
    )
    sweep_id = localsweep.sweep(str(tmp_path / "g.yaml"), db=str(tmp_path / "s.db"))

    proc = _cli(tmp_path, disk, "agent", sweep_id, "--db", "s.db")

    assert "BrokenPipeError" not in proc.stderr + proc.stdout
    assert "Exception in thread" not in proc.stderr
    assert "still training 299" in proc.stdout  # every line still reached the terminal
    assert "cannot write its output to" in " ".join(proc.stderr.split())


def test_workers_on_a_full_disk_say_it_once_and_the_agent_once(tmp_path: Path, disk: Path) -> None:
    sweep_id = _grid(tmp_path, program=True)
    _fill(disk)

    full = _cli(tmp_path, disk, "agent", sweep_id, "--db", "s.db", "--workers", "2")

    assert full.returncode == 1, full.stderr
    # At most once from a worker while the other finishes, and the agent's last line (it
    # was said once per worker, then again).
    assert 1 <= full.stderr.count("disk full: localsweep could not write") <= 2, full.stderr
    assert full.stderr.rstrip().splitlines()[-1].startswith("Error: disk full")
