"""``localsweep sync`` on a sweep with prior runs (issue #15): a prior run with an offline
run folder is uploaded once, under its own id and without a sweep id, and attached to
the server's sweep as a prior run (as ``wandb sweep -R`` does); a runs-table row is left
with the reason; the sweep's own runs still join the server's sweep. Real offline runs,
the real ``wandb sync``, and the W&B stand-in on 127.0.0.1 (no real W&B server can run
here)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sync_helpers import ROWS, Site, StandinServer, interrupt_sync, run_cli, tree_digest

import localsweep
from localsweep.store import Store

pytestmark = pytest.mark.slow


def _own_run_ids(site: Site) -> list[str]:
    store = Store(site.db)
    try:
        return [r.id for r in store.list_runs(site.prior_sweep_id) if not r.prior]
    finally:
        store.close()


def _prior_names(server: StandinServer, name: str) -> list[str]:
    filters = json.loads(server.sweeps[name].prior_runs_filters or "{}")
    return [f["name"] for f in filters.get("$or", [])]


def _attach_calls(server: StandinServer) -> list[dict[str, object]]:
    return [
        r.variables
        for r in server.operations("UpsertSweep")
        if r.variables.get("id") and r.variables.get("priorRunsFilters")
    ]


def test_prior_runs_are_uploaded_without_the_sweep_and_attached_once(
    site: Site, server: StandinServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Their copies are patched in place from the plan's scan (the hand-run one has no
    # sweep id to clear), never rewritten record by record, which is 15 times slower.
    from localsweep.wandb_bridge import _writer

    def no_rewrite(*args: object, **kwargs: object) -> None:
        raise AssertionError("a prior run's copy was rewritten record by record")

    monkeypatch.setattr(_writer, "rewrite_run_file", no_rewrite)
    hand, other_sweeps = site.prior_ids
    own = _own_run_ids(site)
    assert len(own) == 2  # 5 grid points, 3 of them done by the prior runs
    before = tree_digest(site.root / "wandb")

    report = localsweep.sync(site.prior_sweep_id, entity="team")

    assert report.ok, report.runs
    name = report.server_sweep
    assert name is not None
    rows = {r.run_id: r for r in report.runs}
    # The sweep's own runs join the server's sweep, as before.
    for run_id in own:
        assert rows[run_id].outcome == "synced" and not rows[run_id].prior
        assert server.runs[run_id].sweep == name
    # The prior runs with folders: uploaded under their own ids, in no sweep (the run of
    # the other sweep had that sweep's id in its run file), history and all.
    for run_id in (hand, other_sweeps):
        assert rows[run_id].prior
        assert rows[run_id].outcome == "prior: uploaded and attached"
        assert server.runs[run_id].sweep is None
        assert server.runs[run_id].complete
        assert len(server.runs[run_id].history) == ROWS
        assert server.completions(run_id) == 1
    assert server.uploaded_runs() == {*own, hand, other_sweeps}
    # Attached as the server sweep's prior runs, in one call with both.
    assert _prior_names(server, name) == [hand, other_sweeps]
    assert len(_attach_calls(server)) == 1
    # The table row has no run files: left, and the report says why.
    assert rows["tbl1"].outcome == "prior: left"
    assert "runs table" in (rows["tbl1"].message or "")
    assert "runs.csv" in (rows["tbl1"].message or "")
    assert report.prior_lines[0].startswith(f"Prior runs: 2 of 3 attached to sweep {name}")
    assert any(
        line.startswith("  left prior run tbl1: from a runs table") for line in report.prior_lines
    )
    assert len(server.created_sweeps()) == 1
    # The originals are untouched: no marker, no rewritten byte.
    assert tree_digest(site.root / "wandb") == before

    seen = len(server.requests)
    second = localsweep.sync(site.prior_sweep_id, entity="team")

    assert second.ok and second.server_sweep == name
    later = server.requests[seen:]
    assert not [r for r in later if r.operation in ("UpsertSweep", "UpsertBucket")]
    assert not [r for r in later if "file_stream" in r.path or r.method == "PUT"]
    again = {r.run_id: r.outcome for r in second.runs}
    assert again[hand] == again[other_sweeps] == "prior: already attached"
    assert again["tbl1"] == "prior: left"
    assert _prior_names(server, name) == [hand, other_sweeps]


def test_a_dry_run_lists_the_prior_runs_and_what_it_leaves(
    site: Site, server: StandinServer
) -> None:
    result = run_cli("sync", site.prior_sweep_id, "--dry-run", "-e", "team")

    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert out.count("would sync") == 2
    assert out.count("prior: would upload") == 2
    assert "prior: left" in out
    assert "prior runs: 3, 2 to upload, 0 already uploaded by wandb sync" in out
    assert "left prior run tbl1: from a runs table" in out
    assert server.requests == []


def test_a_prior_run_the_server_refused_is_uploaded_by_the_next_sync_and_then_attached(
    site: Site, server: StandinServer
) -> None:
    hand, other_sweeps = site.prior_ids
    server.fail_run_ids = {hand}

    result = run_cli("sync", site.prior_sweep_id, "-e", "team", "--retries", "0")

    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "prior: failed" in result.stdout
    assert "Prior runs: 1 of 3 attached to sweep" in result.stdout
    assert "1 not uploaded (run sync again)" in result.stdout
    assert "left prior run tbl1: from a runs table" in result.stdout
    [name] = server.sweeps
    assert _prior_names(server, name) == [other_sweeps]

    server.fail_run_ids = set()
    resumed = localsweep.sync(site.prior_sweep_id, entity="team")

    assert resumed.ok, resumed.runs
    outcomes = {r.run_id: r.outcome for r in resumed.runs}
    assert outcomes[hand] == "prior: uploaded and attached"
    assert outcomes[other_sweeps] == "prior: already attached"
    # The whole list in the call, since each call replaces it.
    assert _prior_names(server, name) == [hand, other_sweeps]
    assert server.completions(other_sweeps) == 1
    assert server.completions(hand) == 1
    assert server.runs[hand].sweep is None


def test_on_the_prior_runs_path_the_own_runs_and_the_priors_are_attached_in_one_list(
    site: Site, server: StandinServer
) -> None:
    server.refuse_sweep_runs = True
    own = _own_run_ids(site)

    report = localsweep.sync(site.prior_sweep_id, entity="team", retries=0)

    assert report.ok, report.runs
    assert report.path == "prior_runs"
    name = report.server_sweep
    assert name is not None
    assert sorted(_prior_names(server, name)) == sorted([*own, *site.prior_ids])
    assert len(_attach_calls(server)) == 1
    assert all(server.runs[r].sweep is None for r in [*own, *site.prior_ids])

    # With nothing new, a later sync sends no update (nor any upload).
    again = localsweep.sync(site.prior_sweep_id, entity="team", retries=0)
    assert again.ok, again.runs
    assert len(_attach_calls(server)) == 1
    assert sorted(_prior_names(server, name)) == sorted([*own, *site.prior_ids])


def test_a_prior_run_an_earlier_sync_uploaded_into_its_own_sweep_is_only_attached(
    site: Site, server: StandinServer
) -> None:
    hand, other_sweeps = site.prior_ids
    first = localsweep.sync(site.sweep_id, entity="team")  # the sweep the prior ran in
    assert first.ok and other_sweeps in site.run_ids

    report = localsweep.sync(site.prior_sweep_id, entity="team")

    assert report.ok, report.runs
    rows = {r.run_id: r for r in report.runs}
    assert rows[other_sweeps].outcome == "prior: attached"
    assert "on W&B already" in (rows[other_sweeps].message or "")
    # Not sent again, and still a run of the sweep it ran in.
    assert server.completions(other_sweeps) == 1
    assert server.runs[other_sweeps].sweep == first.server_sweep
    assert rows[hand].outcome == "prior: uploaded and attached"
    name = report.server_sweep
    assert name is not None
    assert _prior_names(server, name) == [hand, other_sweeps]


def test_a_prior_run_another_sweeps_sync_uploaded_is_only_attached(
    site: Site, server: StandinServer
) -> None:
    hand, _ = site.prior_ids
    # A second sweep that starts from the same hand-run training.
    again = localsweep.sweep(
        {
            "method": "grid",
            "project": "proj",
            "metric": {"name": "loss", "goal": "minimize"},
            "parameters": {"x": {"values": [2, 6]}},
        },
        prior_runs=[str(site.run_folder(hand))],
    )
    first = localsweep.sync(site.prior_sweep_id, entity="team")
    assert first.ok, first.runs
    assert server.completions(hand) == 1

    # A dry run says so too, without asking the server (the first sync's wandb may still
    # be sending its own metrics: only the API's requests are counted).
    def api_calls() -> int:
        return sum(r.path == "/graphql" for r in server.requests)

    asked = api_calls()
    planned = run_cli("sync", again, "--dry-run", "-e", "team")
    assert planned.returncode == 0, planned.stdout + planned.stderr
    assert "prior: would attach" in planned.stdout
    assert "prior: would upload" not in planned.stdout
    assert "0 to upload" in planned.stdout
    assert "1 uploaded by an earlier localsweep sync (attached only)" in planned.stdout
    # Without -e the real sync would take W&B's default entity, which a dry run cannot
    # ask: to be uploaded, unless that entity is the one the first sync used.
    unsure = run_cli("sync", again, "--dry-run")
    assert unsure.returncode == 0, unsure.stdout + unsure.stderr
    assert "prior: would upload" in unsure.stdout
    assert (
        "1 to upload (1 only attached if your default entity is team: an earlier "
        "localsweep sync uploaded them there)"
    ) in unsure.stdout
    assert api_calls() == asked

    report = localsweep.sync(again, entity="team")

    assert report.ok, report.runs
    [row] = [r for r in report.runs if r.prior]
    assert row.outcome == "prior: attached"
    assert f"as a prior run of sweep {first.server_sweep}" in (row.message or "")
    # Not sent again: one upload, still in no sweep, and a prior run of both sweeps.
    assert server.completions(hand) == 1
    assert server.runs[hand].sweep is None
    assert report.server_sweep is not None and first.server_sweep is not None
    assert _prior_names(server, report.server_sweep) == [hand]
    assert hand in _prior_names(server, first.server_sweep)


def test_a_prior_folder_wandb_sync_uploaded_is_attached_and_not_uploaded(
    site: Site, server: StandinServer
) -> None:
    hand, other_sweeps = site.prior_ids
    [run_file] = site.run_folder(hand).glob("run-*.wandb")
    run_file.with_name(run_file.name + ".synced").write_text("")  # as wandb sync leaves it

    report = localsweep.sync(site.prior_sweep_id, entity="team")

    assert report.ok, report.runs
    rows = {r.run_id: r.outcome for r in report.runs}
    assert rows[hand] == "prior: attached"
    assert rows[other_sweeps] == "prior: uploaded and attached"
    assert server.completions(hand) == 0
    name = report.server_sweep
    assert name is not None
    assert _prior_names(server, name) == [hand, other_sweeps]


def test_prior_runs_uploaded_before_a_refused_attach_are_attached_by_the_next_sync(
    site: Site, server: StandinServer
) -> None:
    hand, other_sweeps = site.prior_ids
    server.refuse_prior_runs = True

    result = run_cli("sync", site.prior_sweep_id, "-e", "team")

    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "attach prior runs" in result.stderr
    # The sweep was made in that entity and project: no advice to check them; and the
    # runs table is printed.
    assert "Check --entity" not in result.stderr
    assert hand in result.stdout and "Prior runs: 0 of 3 attached" in result.stdout
    [name] = server.sweeps
    assert _prior_names(server, name) == []
    assert server.completions(hand) == server.completions(other_sweeps) == 1

    server.refuse_prior_runs = False
    resumed = localsweep.sync(site.prior_sweep_id, entity="team")

    assert resumed.ok, resumed.runs
    assert resumed.server_sweep == name
    outcomes = {r.run_id: r.outcome for r in resumed.runs}
    assert outcomes[hand] == outcomes[other_sweeps] == "prior: attached"
    assert _prior_names(server, name) == [hand, other_sweeps]
    # Uploaded once, by the first sync.
    assert server.completions(hand) == server.completions(other_sweeps) == 1
    assert server.sweeps[name].state == "FINISHED"


def test_a_sync_interrupted_while_uploading_prior_runs_resumed_uploads_each_once(
    site: Site, server: StandinServer
) -> None:
    # Ctrl-C (to the whole process group, as a terminal sends it) once wandb sync has
    # finished the first prior run (its .synced marker beside the staged copy: what sync
    # itself goes by); the next sync uploads the rest, none twice, and attaches them all.
    hand, other_sweeps = site.prior_ids
    staging = Path.cwd() / ".localsweep-sync" / site.prior_sweep_id
    first, cut_after_completion = interrupt_sync(
        server, site.prior_sweep_id, staging, [hand, other_sweeps]
    )

    resumed = localsweep.sync(site.prior_sweep_id, entity="team")

    assert resumed.ok, resumed.runs
    name = resumed.server_sweep
    assert name is not None
    outcomes = {r.run_id: r.outcome for r in resumed.runs}
    # Finished before the Ctrl-C: only attached now (or already, had the first sync got
    # that far); not yet finished: both now.
    for run_id in (hand, other_sweeps):
        if run_id in first:
            assert outcomes[run_id] in ("prior: attached", "prior: already attached"), outcomes
        else:
            assert outcomes[run_id] == "prior: uploaded and attached", outcomes
    for run_id in (hand, other_sweeps):
        assert server.completions(run_id) == (2 if run_id in cut_after_completion else 1)
        assert server.runs[run_id].sweep is None
    assert sorted(_prior_names(server, name)) == sorted([hand, other_sweeps])
    assert len(server.created_sweeps()) == 1


def test_a_run_another_sweeps_sync_uploaded_as_a_prior_run_is_attached_not_sent_again(
    site: Site, server: StandinServer
) -> None:
    # The sweep with prior runs starts from a run of the in-process sweep: synced first,
    # it uploads that run as its prior run. Its own sweep's sync then finds it on W&B.
    _hand, other_sweeps = site.prior_ids
    first = localsweep.sync(site.prior_sweep_id, entity="team")
    assert first.ok, first.runs
    assert len(server.runs[other_sweeps].history) == ROWS

    planned = localsweep.sync(site.sweep_id, entity="team", dry_run=True)
    assert {r.run_id: r.outcome for r in planned.runs}[other_sweeps] == "would attach"

    report = localsweep.sync(site.sweep_id, entity="team")

    assert report.ok, report.runs
    line = {r.run_id: r for r in report.runs}[other_sweeps]
    assert line.outcome == "attached"
    assert f"as a prior run of sweep {first.server_sweep}" in (line.message or "")
    # On the server once, in its own sweep now, with its rows once, its summary and
    # state as they were; the sweep's other runs uploaded as usual.
    on_server = server.runs[other_sweeps]
    assert on_server.sweep == report.server_sweep
    assert [row["_step"] for row in on_server.history] == list(range(ROWS))
    assert on_server.summary["loss"] == on_server.history[-1]["loss"]
    assert on_server.exit_code == 0
    for run_id in set(site.run_ids) - {other_sweeps}:
        assert len(server.runs[run_id].history) == ROWS
        assert server.runs[run_id].sweep == report.server_sweep
    assert report.finished_on_server
    # Still a prior run of the other sweep.
    assert first.server_sweep is not None
    assert other_sweeps in _prior_names(server, first.server_sweep)
    again = localsweep.sync(site.sweep_id, entity="team")
    assert {r.run_id: r.outcome for r in again.runs}[other_sweeps] == "already synced"
