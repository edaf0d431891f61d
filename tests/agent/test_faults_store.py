"""A store error is the store's (issue 11, item 6, the agent's side): the SQLite file deleted
under a running agent, or its disk full, stops the agent with one clear message; the error
never reaches the user's training code (``wandb.log`` never raises it) and the run is not
recorded as the user's failure."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from faults_support import grid, start_agent, wait_for

import localsweep

pytestmark = pytest.mark.slow


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MB tmpfs: a real file system that fills up (needs the right to mount)."""
    mount_point = Path("/tmp") / f"localsweep-full-{uuid.uuid4().hex[:8]}"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        mount_point.rmdir()
        pytest.skip(f"cannot mount a small tmpfs here: {result.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)
        mount_point.rmdir()


def test_the_database_file_deleted_under_a_running_agent_stops_it_with_one_message(
    tmp_path: Path, signals: Path
) -> None:
    db = tmp_path / "sweeps.db"
    sweep_id = localsweep.sweep(grid(4), db=str(db))
    agent = start_agent(
        sweep_id,
        str(db),
        tmp_path / "agent.log",
        function="faults_train:steps",
        env={"LOCALSWEEP_TEST_STEPS": "40"},
    )
    try:
        wait_for(lambda: any(signals.glob("started-*")), "a run started", agents=[agent])
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        assert agent.wait() == 1, agent.output()
    finally:
        agent.kill()
    output = agent.output()
    assert "deleted" in output
    assert "Traceback" not in output
    assert "Agent done" not in output
    assert list(signals.glob("user-saw-*")) == []


def test_a_full_disk_stops_the_agent_with_one_message_not_a_user_failure(
    tmp_path: Path, signals: Path, small_disk: Path
) -> None:
    db = small_disk / "sweeps.db"
    sweep_id = localsweep.sweep(grid(3), db=str(db))
    agent = start_agent(sweep_id, str(db), tmp_path / "agent.log", function="faults_train:big_rows")
    try:
        assert agent.wait() == 1, agent.output()
    finally:
        agent.kill()
    output = agent.output()
    assert "disk full" in output
    assert "Traceback" not in output
    assert list(signals.glob("user-saw-*")) == []
    states = [r.state for r in localsweep.Api(str(db)).sweep(sweep_id).runs]
    assert "failed" not in states
