"""A run whose agent is gone reads the same in ``show``, the report and ``localsweep ui``:
``running (silent 60m)``, the agent most likely gone (the report said plain ``running``
and "still running"); and a crashed run's runtime ends at its last heartbeat, not when
another agent reaped it (a run killed after 8 s showed 29 s)."""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from report_data import report_data, row_cells
from sqlalchemy import create_engine, text

import localsweep
from localsweep.config import parse_config
from localsweep.records import Proposal, RunState, RunView
from localsweep.report import write_report
from localsweep.search import make_search
from localsweep.store import AgentInfo, RunRecord, Store

GRID = {
    "method": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"x": {"values": [1, 2, 3, 4]}},
}
#: An agent on another machine: only its heartbeat tells whether it is alive.
REMOTE = AgentInfo(id="remote-agent", host="another-machine.invalid", pid=1)


def _claim(store: Store, sweep_id: str, agent: AgentInfo) -> RunRecord:
    config = store.get_sweep(sweep_id).config
    search = make_search(config)

    def propose(runs: Sequence[RunView], number: int) -> Proposal | None:
        return search.propose(runs, random.Random(number))

    claim = store.claim_run(sweep_id, agent, propose, nest=config.nest)
    assert claim.run is not None, claim
    return claim.run


def _set(store: Store, run_id: str, **values: datetime) -> None:
    # SQL, not the Store API: agents only ever beat "now".
    engine = create_engine(store.url)
    try:
        with engine.begin() as conn:
            sets = ", ".join(f"{k} = :{k}" for k in values)
            conn.execute(text(f"UPDATE runs SET {sets} WHERE id = :id"), {**values, "id": run_id})
    finally:
        engine.dispose()


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


@pytest.fixture
def sweep(tmp_path: Path) -> tuple[str, str, str, str]:
    """A sweep with a run crashed 8 s after its start (reaped two hours later), a finished
    run, and a run whose agent went silent an hour ago: (db, sweep id, crashed, silent)."""
    db = str(tmp_path / "s.db")
    store = Store(db)
    try:
        sweep_id = store.create_sweep(parse_config(GRID)).id
        crashed = _claim(store, sweep_id, REMOTE)
        start = _now() - timedelta(hours=2)
        _set(store, crashed.id, created_at=start, heartbeat_at=start + timedelta(seconds=8))
        done = _claim(store, sweep_id, AgentInfo.current())  # reaps the crashed one
        store.finish_run(done, RunState.FINISHED, summary={"loss": 1.0}, metric=1.0, exit_code=0)
        silent = _claim(store, sweep_id, REMOTE)
        _set(store, silent.id, heartbeat_at=_now() - timedelta(hours=1))
    finally:
        store.close()
    assert localsweep.Api(db).run(crashed.id).state == "crashed"
    return db, sweep_id, crashed.id, silent.id


def test_the_report_says_what_show_says_of_a_silent_run(
    sweep: tuple[str, str, str, str], tmp_path: Path
) -> None:
    db, sweep_id, _crashed, silent = sweep
    page = write_report(localsweep.Api(db).sweep(sweep_id), tmp_path / "r.html")
    data = report_data(page)
    assert row_cells(data["table"], silent)["state"] == "running (silent 60m)"
    html = page.read_text(encoding="utf-8")
    found = re.search(r'<div data-part="overview">(.*?)<h2', html, re.S)
    assert found is not None
    overview = " ".join(found.group(1).split())
    assert "the agent is most likely gone" in overview
    assert "still running" not in overview  # its one running run is silent

    shown = subprocess.run(
        [sys.executable, "-m", "localsweep", "show", sweep_id, "--db", db],
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    assert "running (silent 60m)" in shown.stdout
    assert "the agent is most likely gone" in " ".join(shown.stdout.split())


def test_a_crashed_runs_runtime_ends_at_its_last_heartbeat(
    sweep: tuple[str, str, str, str], tmp_path: Path
) -> None:
    db, sweep_id, crashed, _silent = sweep
    run = localsweep.Api(db).run(crashed)
    assert run.finished_at is not None and run.heartbeat_at is not None
    assert (run.finished_at - run.created_at).total_seconds() > 3600  # reaped late
    data = report_data(write_report(localsweep.Api(db).sweep(sweep_id), tmp_path / "r.html"))
    assert row_cells(data["table"], crashed)["runtime (s)"] == 8.0


def test_the_live_page_marks_a_silent_run_and_unmarks_it_when_its_agent_beats_again(
    sweep: tuple[str, str, str, str],
) -> None:
    pytest.importorskip("starlette")
    from localsweep.ui._live import LiveSweeps
    from localsweep.ui._pages import run_page

    db, sweep_id, crashed, silent = sweep
    store = Store(db)
    try:
        live = LiveSweeps(store)
        first = live.update(sweep_id, None)
        assert row_cells(first["table"], silent)["state"] == "running (silent 60m)"
        assert "the agent is most likely gone" in " ".join(first["parts"]["overview"].split())
        page = run_page(localsweep.Api(db).run(silent), nav="", plotly_src="")
        assert "running (silent 60m)" in page and "most likely gone" in page
        crashed_page = run_page(localsweep.Api(db).run(crashed), nav="", plotly_src="")
        assert ">8s<" in crashed_page

        # A suspended agent beats again: heartbeats move no change token, so the server
        # reads the run again rather than keep it silent by the heartbeat it read.
        _set(store, silent, heartbeat_at=_now())
        later = live.update(sweep_id, first["version"])
        (row,) = [r for r in later["rows"]["changed"] if r[1] == silent]
        assert row[3] == "running"
        assert "most likely gone" not in later["parts"]["overview"]
    finally:
        store.close()


def test_the_ui_index_marks_a_silent_run_and_reads_only_what_moved(
    sweep: tuple[str, str, str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The index (reloaded every 5 s) keeps each sweep's runs as the live pages do: a
    reload with nothing moved reads no run, a silent run is marked until its agent beats
    again. It read every run of every sweep at each reload (0.9 s of CPU at 20,000 runs)."""
    pytest.importorskip("starlette")
    from localsweep.ui._live import LiveSweeps
    from localsweep.ui._pages import index_page

    db, _sweep_id, _crashed, silent = sweep
    store = Store(db)
    try:
        live = LiveSweeps(store)
        assert "(silent 1)" in index_page(live.sweeps(), nav="")

        def every_run(*args: object) -> None:
            raise AssertionError("the index read every run again")

        monkeypatch.setattr(Store, "list_runs", every_run)
        read: list[int] = []
        runs_since = Store.runs_since

        def counted(self: Store, *args: object, **kwargs: object) -> list[RunRecord]:
            found = runs_since(self, *args, **kwargs)  # type: ignore[arg-type]
            read.append(len(found))
            return found

        monkeypatch.setattr(Store, "runs_since", counted)
        assert "(silent 1)" in index_page(live.sweeps(), nav="")
        assert read == []  # nothing moved: the change token alone was read
        _set(store, silent, heartbeat_at=_now())
        assert "silent" not in index_page(live.sweeps(), nav="")
    finally:
        store.close()
