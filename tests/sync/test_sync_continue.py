"""``localsweep sync`` of a run that a failed ``wandb sync`` had begun: every row reaches
the server once.

A wandb sync stopped while a run is in flight (here by ``--upload-timeout``: the
stand-in server stores the run's first rows and then holds its upload unanswered, as a
network gone mid-upload would) leaves the server with those rows and the run without
its ``.synced`` marker. wandb-core writes a run's rows at the line count the server
answers, so a run sent again whole would hold its first rows twice; sync asks the server
how many it holds and sends only the rest. Real offline runs, the real ``wandb sync``,
and the stand-in (``tests/helpers/wandb_standin.py``).
"""

from __future__ import annotations

import pytest
from sync_helpers import ROWS, Site, StandinServer

import localsweep

pytestmark = pytest.mark.slow

#: Rows of the cut run the server holds when its upload stalls.
HELD = 10


def _steps(server: StandinServer, run_id: str) -> list[int]:
    return [row["_step"] for row in server.runs[run_id].history]


def test_a_run_cut_mid_upload_is_sent_on_after_the_rows_the_server_holds(
    site: Site, server: StandinServer
) -> None:
    cut = site.run_ids[1]
    server.cut_history = {cut: HELD}

    # The first wandb sync stalls on the cut run until --upload-timeout stops it (a bound:
    # the stall lasts until the server stops); the retry sends it again.
    report = localsweep.sync(site.sweep_id, entity="team", retries=2, upload_timeout=20)

    assert report.ok, report.runs
    assert not server.cut_history  # the stall happened
    for run_id in site.run_ids:
        on_server = server.runs[run_id]
        # Each row once, in order, with the step the store holds.
        assert _steps(server, run_id) == list(range(ROWS)), run_id
        assert [row["i"] for row in on_server.history] == list(range(ROWS)), run_id
        assert on_server.complete and on_server.exit_code == 0
        assert on_server.summary["i"] == ROWS - 1
    row = {r.run_id: r for r in report.runs}[cut]
    assert row.outcome == "synced"
    assert f"continued after the {HELD} row(s) a failed wandb sync had sent" in (row.message or "")
    assert "twice" not in (row.message or "")


def test_a_run_an_earlier_sync_left_cut_is_sent_on_by_the_next_sync(
    site: Site, server: StandinServer
) -> None:
    cut = site.run_ids[0]
    server.cut_history = {cut: HELD}
    # No retry here: the bound leaves wandb sync time to reach the stall first.
    first = localsweep.sync(site.sweep_id, entity="team", retries=0, upload_timeout=30)
    failed = {r.run_id: r for r in first.runs}[cut]
    assert failed.outcome == "failed"
    # Why, and what to do: the row named neither before.
    assert "wandb sync timed out: it ran past the upload timeout (30 s)" in (failed.message or "")
    assert "--upload-timeout" in (failed.message or "")
    assert _steps(server, cut) == list(range(HELD))

    second = localsweep.sync(site.sweep_id, entity="team")

    assert second.ok, second.runs
    assert _steps(server, cut) == list(range(ROWS))
    assert server.runs[cut].complete


def test_a_run_sent_again_whole_when_the_server_cannot_say_what_it_holds_says_so(
    site: Site, server: StandinServer
) -> None:
    cut = site.run_ids[2]
    server.cut_history = {cut: HELD}
    server.refuse_resume_ids = {cut}  # the server does not answer how many rows it has

    report = localsweep.sync(site.sweep_id, entity="team", retries=2, upload_timeout=20)

    assert not server.cut_history  # the stall happened
    row = {r.run_id: r for r in report.runs}[cut]
    assert row.outcome == "synced"
    # As before this fix: the run is sent whole, after the rows the server holds.
    assert _steps(server, cut) == list(range(HELD)) + list(range(ROWS))
    assert "W&B holds them twice" in (row.message or "")


def test_a_prior_run_cut_mid_upload_is_sent_on_after_the_rows_the_server_holds(
    site: Site, server: StandinServer
) -> None:
    hand, _other_sweeps = site.prior_ids
    server.cut_history = {hand: HELD}

    report = localsweep.sync(site.prior_sweep_id, entity="team", retries=2, upload_timeout=20)

    assert report.ok, report.runs
    assert not server.cut_history  # the stall happened
    assert _steps(server, hand) == list(range(ROWS))
    assert server.runs[hand].complete and server.runs[hand].sweep is None
    [row] = [
        r
        for r in report.runs
        if r.prior
        and "prior: uploaded" in r.outcome
        and f"continued after the {HELD} row(s)" in (r.message or "")
    ]
    assert row.outcome == "prior: uploaded and attached"
