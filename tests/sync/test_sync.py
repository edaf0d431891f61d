"""``localsweep sync`` end to end: real offline runs, the real ``wandb sync``, and a W&B
stand-in server on 127.0.0.1 that records every request (no real W&B server can run
here)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from sync_helpers import ROWS, Site, StandinServer, interrupt_sync, run_cli, tree_digest

import localsweep
from localsweep.store import Store, _sync_state

pytestmark = pytest.mark.slow


def _targets(site: Site) -> list[_sync_state.SyncTarget]:
    store = Store(site.db)
    try:
        return _sync_state.find_targets(store.engine, site.sweep_id)
    finally:
        store.close()


def _outcomes(site: Site, target_id: int) -> dict[str, _sync_state.SyncRunOutcome]:
    store = Store(site.db)
    try:
        return _sync_state.run_outcomes(store.engine, target_id)
    finally:
        store.close()


def test_sync_creates_one_sweep_and_every_run_joins_it_with_history_and_files(
    site: Site, server: StandinServer
) -> None:
    before = tree_digest(site.root / "wandb")
    report = localsweep.sync(site.sweep_id, entity="team")

    assert report.ok, report.runs
    assert [r.outcome for r in report.runs] == ["synced"] * 3
    [created] = server.created_sweeps()
    name = report.server_sweep
    assert name is not None and name in server.sweeps
    assert report.url.endswith(f"/team/proj/sweeps/{name}")
    # The config as wandb sweep sends it: our own key removed, the rest as written.
    config = yaml.safe_load(created.variables["config"])
    assert "localsweep" not in config
    assert config["parameters"] == {"x": {"values": [1, 2, 3]}}
    assert created.variables["entityName"] == "team"
    assert created.variables["projectName"] == "proj"

    first = server.first_upserts()
    assert set(first) == set(site.run_ids)
    for run_id in site.run_ids:
        assert first[run_id]["sweep"] == name
        on_server = server.runs[run_id]
        assert on_server.complete and on_server.exit_code == 0
        assert [row["i"] for row in on_server.history] == list(range(ROWS))
        assert {"notes.txt", "wandb-summary.json", "config.yaml"} <= set(on_server.files)
    # The local sweep is finished, so the server's is marked finished too.
    assert server.sweeps[name].state == "FINISHED"
    assert report.finished_on_server
    # The originals are untouched: no marker, no rewritten byte.
    assert tree_digest(site.root / "wandb") == before


def test_a_second_sync_creates_no_sweep_and_uploads_nothing(
    site: Site, server: StandinServer
) -> None:
    first = localsweep.sync(site.sweep_id, entity="team")
    seen = len(server.requests)

    second = localsweep.sync(site.sweep_id, entity="team")

    assert second.server_sweep == first.server_sweep
    assert not second.created
    assert [r.outcome for r in second.runs] == ["already synced"] * 3
    later = server.requests[seen:]
    assert not [r for r in later if r.operation in ("UpsertSweep", "UpsertBucket")]
    assert not [r for r in later if "file_stream" in r.path or r.method == "PUT"]
    assert len(server.created_sweeps()) == 1


def test_a_refused_run_is_reported_failed_and_the_next_sync_uploads_only_it(
    site: Site, server: StandinServer
) -> None:
    refused = site.run_ids[1]
    server.fail_run_ids = {refused}

    result = run_cli("sync", site.sweep_id, "--entity", "team", "--retries", "1")

    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "not found" in result.stdout  # the server's 404, in the table
    assert "1 run(s) not uploaded" in result.stderr
    assert server.uploaded_runs() == set(site.run_ids) - {refused}
    [target] = _targets(site)
    outcomes = _outcomes(site, target.id)
    assert outcomes[refused].outcome == "failed"
    assert outcomes[refused].attempts == 2  # the first upload and one retry
    # With runs left behind, the server's sweep stays open.
    assert server.sweeps[target.server_sweep_id].state != "FINISHED"

    server.fail_run_ids = set()
    resumed = localsweep.sync(site.sweep_id, entity="team")

    assert resumed.ok
    assert {r.run_id: r.outcome for r in resumed.runs}[refused] == "synced"
    assert len(server.created_sweeps()) == 1
    for run_id in site.run_ids:
        assert server.completions(run_id) == 1
    assert server.sweeps[target.server_sweep_id].state == "FINISHED"


def test_an_interrupted_sync_resumed_uploads_the_rest_and_none_twice(
    site: Site, server: StandinServer
) -> None:
    # A run the server completed before wandb sync wrote its marker is sent again (see
    # docs/sync.md, Running it again); every other run, once.
    staging = Path.cwd() / ".localsweep-sync" / site.sweep_id
    _recorded, cut_after_completion = interrupt_sync(server, site.sweep_id, staging, site.run_ids)

    resumed = localsweep.sync(site.sweep_id, entity="team")

    assert resumed.ok, resumed.runs
    assert len(server.created_sweeps()) == 1
    assert server.uploaded_runs() == set(site.run_ids)
    for run_id in site.run_ids:
        assert server.completions(run_id) == (2 if run_id in cut_after_completion else 1)
        # Sent again, a run's rows the server holds are not: each is there once.
        assert [r["_step"] for r in server.runs[run_id].history] == list(range(ROWS))
    name = resumed.server_sweep
    for run_id, upsert in server.first_upserts().items():
        assert upsert["sweep"] == name, run_id


def test_runs_are_attached_as_prior_runs_when_the_server_refuses_runs_in_a_sweep(
    site: Site, server: StandinServer
) -> None:
    server.refuse_sweep_runs = True

    report = localsweep.sync(site.sweep_id, entity="team", retries=0)

    assert report.ok, report.runs
    assert report.path == "prior_runs"
    assert any("prior runs" in w for w in report.warnings)
    name = report.server_sweep
    assert name is not None
    assert server.uploaded_runs() == set(site.run_ids)
    assert all(server.runs[r].sweep is None for r in site.run_ids)
    filters = json.loads(server.sweeps[name].prior_runs_filters or "{}")
    assert sorted(f["name"] for f in filters["$or"]) == sorted(site.run_ids)
    assert len(server.created_sweeps()) == 1


def test_program_mode_runs_sync_like_in_process_ones(site: Site, server: StandinServer) -> None:
    report = localsweep.sync(site.program_sweep_id, entity="team")

    assert report.ok, report.runs
    assert len(report.runs) == 2
    for run in report.runs:
        on_server = server.runs[run.run_id]
        assert on_server.sweep == report.server_sweep
        assert len(on_server.history) == ROWS


def test_runs_from_several_machines_are_found_in_the_wandb_dirs_given(
    site: Site, server: StandinServer, tmp_path: Path
) -> None:
    # Each machine's wandb/ folder copied to one place; the agents' recorded folders are gone.
    machines = [tmp_path / "node1" / "wandb", tmp_path / "node2" / "wandb"]
    for folder in machines:
        folder.mkdir(parents=True)
    for index, run_id in enumerate(site.run_ids):
        shutil.move(site.run_folder(run_id), machines[index % 2])

    missing = localsweep.sync(site.sweep_id, entity="team", dry_run=True)
    assert [r.outcome for r in missing.runs] == ["missing"] * 3
    assert "--wandb-dir" in (missing.runs[0].message or "")

    result = run_cli(
        "sync",
        site.sweep_id,
        "-e",
        "team",
        "--wandb-dir",
        str(machines[0].parent),
        "--wandb-dir",
        str(machines[1]),
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert server.uploaded_runs() == set(site.run_ids)


def test_dry_run_prints_the_plan_and_touches_no_network(site: Site, server: StandinServer) -> None:
    result = run_cli("sync", site.sweep_id, "--dry-run", "-e", "team")

    assert result.returncode == 0, result.stderr
    assert result.stdout.count("would sync") == 3
    assert "Would create a sweep in team/proj" in result.stdout
    assert server.requests == []
    assert _targets(site) == []


def test_keep_running_leaves_the_server_sweep_open(site: Site, server: StandinServer) -> None:
    report = localsweep.sync(site.sweep_id, entity="team", keep_running=True)

    assert report.ok
    assert not report.finished_on_server
    assert report.server_sweep is not None
    assert server.sweeps[report.server_sweep].state != "FINISHED"
