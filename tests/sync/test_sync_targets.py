"""What a sync knows of earlier ones, and of the target it uploads to: its state is kept
per server, entity and project, one sync of a sweep runs at a time, the server's sweep
is finished only once every run is on it, and a dry run plans for the server the sync
would use. Real offline runs, the real ``wandb sync``, and the W&B stand-in on
127.0.0.1 (no real W&B server can run here)."""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sync_helpers import CHILD_TIMEOUT, ROWS, Site, StandinServer, run_cli

import localsweep

pytestmark = pytest.mark.slow


def _kill_sync_after_first_upload(server: StandinServer, site: Site, *args: str) -> None:
    """``localsweep sync SWEEP -e team -n 1 ARGS``, killed with SIGKILL (a machine lost)
    right after wandb sync finished its first run (its ``.synced`` marker is written):
    what it uploaded is not on record in the store."""
    state = site.root / ".localsweep-sync" / site.sweep_id
    server.upload_delay = 1.0
    command = ["sync", site.sweep_id, "-e", "team", "-n", "1", *args]
    proc = subprocess.Popen(
        [sys.executable, "-m", "localsweep.cli", *command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + CHILD_TIMEOUT
    while not any(state.rglob("*.wandb.synced")) and time.monotonic() < deadline:
        assert proc.poll() is None, "the sync ended before it uploaded a run"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=CHILD_TIMEOUT)
    server.upload_delay = 0.0


def test_a_run_a_killed_sync_uploaded_to_one_project_is_uploaded_to_another(
    site: Site, server: StandinServer
) -> None:
    _kill_sync_after_first_upload(server, site, "-p", "projA")

    report = localsweep.sync(site.sweep_id, entity="team", project="projB")

    assert report.ok, report.runs
    # Every run is sent to projB's sweep: what reached projA is not "already synced" there.
    assert {r.run_id: r.outcome for r in report.runs} == dict.fromkeys(site.run_ids, "synced")
    for run_id in site.run_ids:
        assert server.runs[run_id].sweep == report.server_sweep
    assert report.finished_on_server


def test_a_second_sync_of_the_sweep_while_one_runs_stops_with_a_clear_message(
    site: Site, server: StandinServer
) -> None:
    # A sync holding the sweep's state folder's lock (as one still uploading does).
    state = site.root / ".localsweep-sync" / site.sweep_id
    state.mkdir(parents=True)
    with open(state / "sync.lock", "w") as held:
        held.write(f"pid {os.getpid()} on this host")
        held.flush()
        fcntl.flock(held, fcntl.LOCK_EX)
        second = run_cli("sync", site.sweep_id, "-e", "team")

    assert second.returncode == 1
    assert "Traceback" not in second.stderr
    assert f"another localsweep sync of sweep {site.sweep_id} is running" in second.stderr
    assert "pid" in second.stderr  # which one
    # It stopped before anything: no sweep created, nothing sent.
    assert server.created_sweeps() == []
    assert server.uploaded_runs() == set()

    after = run_cli("sync", site.sweep_id, "-e", "team")  # the lock went with the first
    assert after.returncode == 0, after.stdout + after.stderr
    assert server.uploaded_runs() == set(site.run_ids)


def test_the_server_sweep_stays_running_while_a_run_is_missing(
    site: Site, server: StandinServer, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    moved = site.run_ids[0]
    shutil.move(site.run_folder(moved), elsewhere)

    first = localsweep.sync(site.sweep_id, entity="team")

    assert not first.ok
    assert {r.run_id: r.outcome for r in first.runs}[moved] == "missing"
    assert first.server_sweep is not None
    assert not first.finished_on_server
    assert server.sweeps[first.server_sweep].state != "FINISHED"
    assert any("left running" in w for w in first.warnings)

    second = localsweep.sync(site.sweep_id, entity="team", wandb_dirs=[elsewhere])

    assert second.ok, second.runs
    assert second.finished_on_server
    assert server.sweeps[first.server_sweep].state == "FINISHED"
    assert len(server.runs[moved].history) == ROWS


def test_a_dry_run_plans_for_the_server_wandb_base_url_names(
    site: Site, server: StandinServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced = localsweep.sync(site.sweep_id, entity="team")
    assert synced.ok, synced.runs
    # Another W&B server (a dry run asks none: it need not be there).
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")

    planned = run_cli("sync", site.sweep_id, "--dry-run", "-e", "team")

    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "already synced" not in planned.stdout
    assert planned.stdout.count("would sync") == len(site.run_ids)
    assert "Would create a sweep in team/proj" in planned.stdout
    assert "Would reuse" not in planned.stdout
