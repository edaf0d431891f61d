"""What a user of ``localsweep sync`` meets when something is wrong: one clear message and a
non-zero exit, never a traceback; damaged runs are reported and the rest are uploaded."""

from __future__ import annotations

import shutil
import socket
import sqlite3
from pathlib import Path

import pytest
from sync_helpers import Site, StandinServer, run_cli
from wandb.proto import wandb_internal_pb2 as pb

import localsweep
from localsweep.store import Store, _sync_state
from localsweep.wandb_bridge._writer import RecordWriter, read_raw_records

pytestmark = pytest.mark.slow


def _no_targets(site: Site) -> bool:
    store = Store(site.db)
    try:
        return _sync_state.find_targets(store.engine, site.sweep_id) == []
    finally:
        store.close()


def test_without_an_api_key_it_says_to_log_in(
    site: Site, server: StandinServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WANDB_API_KEY")

    result = run_cli("sync", site.sweep_id, "-e", "team")

    assert result.returncode == 1
    assert "not logged in" in result.stderr
    assert "wandb login" in result.stderr
    assert "Traceback" not in result.stderr
    assert not server.created_sweeps()
    assert _no_targets(site)


def test_an_unreachable_server_is_reported_as_such(
    site: Site, server: StandinServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    monkeypatch.setenv("WANDB_BASE_URL", f"http://127.0.0.1:{closed_port}")

    result = run_cli("sync", site.sweep_id, "-e", "team")

    assert result.returncode == 1
    assert "cannot reach the W&B server" in result.stderr
    assert f"127.0.0.1:{closed_port}" in result.stderr
    assert "Traceback" not in result.stderr
    assert _no_targets(site)


def test_a_wrong_entity_is_named_and_nothing_is_uploaded(site: Site, server: StandinServer) -> None:
    result = run_cli("sync", site.sweep_id, "-e", "nobody", "-p", "proj")

    assert result.returncode == 1
    assert "nobody/proj" in result.stderr
    assert "--entity" in result.stderr
    assert "Traceback" not in result.stderr
    assert server.runs == {}
    assert _no_targets(site)


def test_an_unknown_sweep_id_is_bad_input(site: Site, server: StandinServer) -> None:
    result = run_cli("sync", "ls-nosuchid", "-e", "team")

    assert result.returncode == 2
    assert "ls-nosuchid" in result.stderr
    assert "Traceback" not in result.stderr
    assert server.requests == []


def test_a_missing_and_a_corrupt_run_are_reported_and_the_rest_uploaded(
    site: Site, server: StandinServer
) -> None:
    missing, corrupt, good = site.run_ids
    for path in site.run_folder(missing).rglob("*"):
        if path.is_file():
            path.unlink()
    [run_file] = site.run_folder(corrupt).glob("run-*.wandb")
    data = bytearray(run_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    run_file.write_bytes(bytes(data))

    result = run_cli("sync", site.sweep_id, "-e", "team")

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "missing" in result.stdout
    assert "corrupt" in result.stdout
    assert "checksum mismatch" in result.stdout
    assert "2 run(s) not uploaded" in result.stderr
    assert server.uploaded_runs() == {good}


def test_a_run_still_running_is_skipped_and_uploaded_once_it_has_finished(
    site: Site, server: StandinServer
) -> None:
    late = site.run_ids[2]
    with sqlite3.connect(site.db) as conn:
        conn.execute("UPDATE runs SET state = 'running' WHERE id = ?", (late,))
        conn.execute("UPDATE sweeps SET state = 'running'")

    first = localsweep.sync(site.sweep_id, entity="team")

    assert {r.run_id: r.outcome for r in first.runs}[late] == "running"
    assert first.ok  # a running run is not a failure
    assert server.uploaded_runs() == set(site.run_ids[:2])
    assert not first.finished_on_server  # still running here

    with sqlite3.connect(site.db) as conn:
        conn.execute("UPDATE runs SET state = 'finished' WHERE id = ?", (late,))
        conn.execute("UPDATE sweeps SET state = 'finished'")
    second = localsweep.sync(site.sweep_id, entity="team")

    assert {r.run_id: r.outcome for r in second.runs}[late] == "synced"
    assert server.uploaded_runs() == set(site.run_ids)
    assert len(server.created_sweeps()) == 1
    assert second.finished_on_server


def test_a_run_without_an_exit_record_is_said_so_and_uploaded_as_failed(
    site: Site, server: StandinServer
) -> None:
    killed = site.run_ids[0]
    with sqlite3.connect(site.db) as conn:
        conn.execute("UPDATE runs SET state = 'crashed' WHERE id = ?", (killed,))
    [run_file] = site.run_folder(killed).glob("run-*.wandb")
    # As a SIGKILLed run leaves it: every record but the exit record.
    records = read_raw_records(run_file)
    run_file.unlink()
    with RecordWriter(run_file) as writer:
        for data in records:
            record = pb.Record()
            record.ParseFromString(data)
            if record.WhichOneof("record_type") != "exit":
                writer.write(data)

    report = localsweep.sync(site.sweep_id, entity="team")

    line = {r.run_id: r for r in report.runs}[killed]
    assert line.outcome == "synced"
    assert "no exit record" in (line.message or "")
    assert server.runs[killed].complete
    assert server.runs[killed].exit_code != 0  # wandb marks such a run failed


def test_an_upload_out_of_time_counts_as_failed_and_the_session_goes_on(
    site: Site, server: StandinServer, tmp_path: Path
) -> None:
    from wandb_standin import ServerSweep as StandinSweep

    from localsweep.wandb_bridge._server import ServerSession, ServerSweep

    staged = tmp_path / "staged" / site.run_folder(site.run_ids[0]).name
    shutil.copytree(site.run_folder(site.run_ids[0]), staged)
    [run_file] = staged.glob("run-*.wandb")
    # The copy keeps the local sweep id: the stand-in knows it, and holds every upload.
    server.sweeps[site.sweep_id] = StandinSweep("s", site.sweep_id, "team", "proj", "")
    server.upload_delay = 60.0
    with ServerSession(workdir=tmp_path, start_core=True) as session:
        sweep = session.create_sweep({"method": "grid"}, entity="team", project="proj")

        result = session.sync([run_file], entity="team", project="proj", timeout=5.0)

        assert result.synced == () and result.failed == (run_file,)
        assert "timed out" in result.output
        # The stopped child is replaced: the session still answers.
        server.upload_delay = 0.0
        session.finish_sweep(ServerSweep(sweep.name, "team", "proj", ""))
    assert server.sweeps[sweep.name].state == "FINISHED"


def test_a_dry_run_exits_as_the_sync_would_for_a_missing_and_a_corrupt_run(site: Site) -> None:
    missing, corrupt, _good = site.run_ids
    shutil.rmtree(site.run_folder(missing))
    [run_file] = site.run_folder(corrupt).glob("run-*.wandb")
    data = bytearray(run_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    run_file.write_bytes(bytes(data))

    result = run_cli("sync", site.sweep_id, "--dry-run")

    # A script can take a dry run as the sync's pre-check: exit 1, as the sync would.
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "missing" in result.stdout and "corrupt" in result.stdout
    assert "2 run(s) could not be uploaded" in " ".join(result.stderr.split())
    assert _no_targets(site)  # still no network, no write


def test_a_wandb_dir_that_does_not_exist_is_refused_before_anything_starts(
    site: Site, server: StandinServer
) -> None:
    for extra in (("--dry-run",), ()):
        result = run_cli("sync", site.sweep_id, "-e", "team", "--wandb-dir", "nosuchdir", *extra)
        assert result.returncode == 2, result.stdout + result.stderr
        assert "--wandb-dir" in result.stderr and "nosuchdir" in result.stderr
        assert "does not exist" in result.stderr
        assert "Traceback" not in result.stderr
    assert not server.created_sweeps()
    assert _no_targets(site)
