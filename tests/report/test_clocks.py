"""A run's times are written, and its heartbeat judged, by one clock: the database's.

Agents and viewers on several machines share a PostgreSQL database, and their clocks need
not agree. A viewer whose clock was five minutes fast called every running run silent in
``show``, ``ls``, the report and ``localsweep ui`` (five minutes slow: none); and a run
claimed by one agent and reaped by another whose clock was an hour behind ended before it
began, with a negative runtime in the report. Processes run here with their clock off
through libfaketime, as on such machines; the server's clock is this machine's.

A run's runtime is wandb's ``_runtime`` when its stored summary has one (what W&B shows),
and never negative, whatever clocks wrote its times.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cli_process import cli_at
from report_data import report_data, row_cells
from skewed_clock import skewed_env
from sqlalchemy import create_engine, text

import localsweep
from localsweep.config import parse_config
from localsweep.records import RunState
from localsweep.store import AgentInfo, RunRecord, Store

GRID = {
    "method": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"x": {"values": [1, 2, 3, 4, 5, 6]}},
}
#: 200 s without a heartbeat, as a viewer says it (3m; 4m if this test ran slowly).
SILENT = re.compile(r"running \(silent [34]m\)")
#: An agent on another machine: only its heartbeat tells whether it is alive.
REMOTE = AgentInfo(id="remote-agent", host="another-machine.invalid", pid=1)
HELPER = Path(__file__).parents[1] / "helpers" / "skewed_clock.py"


def on_postgres(test: Any) -> Any:
    """A test on a real PostgreSQL server, with processes whose clock is off."""
    return pytest.mark.postgres(pytest.mark.slow(test))


def _server_now(url: str) -> datetime:
    """Now by the PostgreSQL server's clock (UTC, naive, as run times are stored)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            value: datetime = conn.execute(
                text("SELECT timezone('UTC', clock_timestamp())")
            ).scalar_one()
            return value
    finally:
        engine.dispose()


def _sql(url: str, statement: str, **params: Any) -> None:
    # SQL, not the Store API: agents only ever beat "now".
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(statement), params)
    finally:
        engine.dispose()


def _claim(store: Store, sweep_id: str, agent: AgentInfo) -> RunRecord:
    import random

    from localsweep.search import make_search

    config = store.get_sweep(sweep_id).config
    search = make_search(config)
    claim = store.claim_run(
        sweep_id,
        agent,
        lambda runs, number: search.propose(runs, random.Random(number)),
        nest=config.nest,
    )
    assert claim.run is not None, claim
    return claim.run


def _skewed_python(offset: str | None, *args: str) -> str:
    """Run ``skewed_clock.py ARGS`` with its clock ``offset`` from this machine's (``None``:
    this machine's); its output."""
    env = {**os.environ, **(skewed_env(offset) if offset else {})}
    done = subprocess.run(
        [sys.executable, str(HELPER), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _line_of(output: str, run_id: str) -> str:
    (line,) = [line for line in output.splitlines() if run_id in line]
    return line


# ------------------------------------------------------------------ silent runs


@pytest.fixture
def two_running(
    postgres_db: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, str, str, str]]:
    """A sweep on PostgreSQL with two running runs of an agent on another machine: one
    beaten just now, one last beaten 200 s ago by the server's clock (past the 120 s
    heartbeat timeout kept with its claim). (url, sweep id, alive run, silent run)."""
    monkeypatch.delenv("LOCALSWEEP_HEARTBEAT_TIMEOUT", raising=False)
    store = Store(postgres_db)
    try:
        sweep_id = store.create_sweep(parse_config(GRID)).id
        alive = _claim(store, sweep_id, REMOTE)
        silent = _claim(store, sweep_id, REMOTE)
    finally:
        store.close()
    _sql(
        postgres_db,
        "UPDATE runs SET heartbeat_at = timezone('UTC', clock_timestamp()) "
        "- interval '200 seconds' WHERE id = :id",
        id=silent.id,
    )
    yield postgres_db, sweep_id, alive.id, silent.id


@on_postgres
@pytest.mark.parametrize("offset", ["+300s", "-300s"], ids=["viewer-5m-fast", "viewer-5m-slow"])
def test_show_ls_and_the_report_judge_heartbeats_by_the_databases_clock(
    two_running: tuple[str, str, str, str], tmp_path: Path, offset: str
) -> None:
    url, sweep_id, alive, silent = two_running
    skew = skewed_env(offset)

    shown = cli_at(tmp_path, "show", sweep_id, "--db", url, env=skew)
    assert shown.returncode == 0, shown.stderr
    assert SILENT.search(_line_of(shown.stdout, silent))
    assert "silent" not in _line_of(shown.stdout, alive)

    listed = cli_at(tmp_path, "ls", "--db", url, env=skew)
    assert listed.returncode == 0, listed.stderr
    assert "2 (1 silent)" in listed.stdout

    page = tmp_path / "report.html"
    written = cli_at(tmp_path, "report", sweep_id, "--db", url, "-o", str(page), env=skew)
    assert written.returncode == 0, written.stderr
    table = report_data(page)["table"]
    assert SILENT.fullmatch(row_cells(table, silent)["state"])
    assert row_cells(table, alive)["state"] == "running"


@on_postgres
@pytest.mark.parametrize("offset", ["+300s", "-300s"], ids=["viewer-5m-fast", "viewer-5m-slow"])
def test_the_ui_judges_heartbeats_by_the_databases_clock(
    two_running: tuple[str, str, str, str], offset: str
) -> None:
    pytest.importorskip("starlette")
    url, sweep_id, alive, silent = two_running
    pages = json.loads(_skewed_python(offset, "ui", url, sweep_id, alive, silent))

    assert "(silent 1)" in pages["index"]
    for table in (pages["update"]["table"], report_data(pages["sweep"])["table"]):
        assert SILENT.fullmatch(row_cells(table, silent)["state"])
        assert row_cells(table, alive)["state"] == "running"
    assert SILENT.search(pages["runs"][silent])
    assert "still running" in pages["runs"][alive]
    assert "silent" not in pages["runs"][alive]


# ------------------------------------------------------------------ run times


def _times(url: str, run_ids: Sequence[str] | None = None) -> dict[str, RunRecord]:
    store = Store(url)
    try:
        sweep_ids = [s.id for s in store.list_sweeps()]
        found = {r.id: r for s in sweep_ids for r in store.list_runs(s)}
    finally:
        store.close()
    return found if run_ids is None else {i: found[i] for i in run_ids}


@on_postgres
def test_an_agent_whose_clock_is_off_records_its_runs_by_the_servers_clock(
    postgres_db: str, tmp_path: Path
) -> None:
    (tmp_path / "clock_train.py").write_text("def train(config):\n    return float(config['x'])\n")
    sweep_id = localsweep.sweep(GRID, db=postgres_db)
    path = [p for p in [os.environ.get("PYTHONPATH")] if p]
    before = _server_now(postgres_db)
    ran = cli_at(
        tmp_path, "agent", sweep_id, "--db", postgres_db, "--count", "2", "--quiet",
        "--function", "clock_train:train",
        env={**skewed_env("+1h"), "PYTHONPATH": os.pathsep.join([str(tmp_path), *path])},
    )  # fmt: skip
    after = _server_now(postgres_db)
    assert ran.returncode == 0, ran.stderr
    runs = list(_times(postgres_db).values())
    assert [r.state for r in runs] == [RunState.FINISHED] * 2
    for run in runs:
        assert run.finished_at is not None
        assert before <= run.created_at <= run.finished_at <= after
        assert run.heartbeat_at == run.finished_at


@on_postgres
def test_a_requeued_runs_end_is_by_the_servers_clock(postgres_db: str) -> None:
    sweep_id = localsweep.sweep(GRID, db=postgres_db)
    before = _server_now(postgres_db)
    run_id = _skewed_python("-1h", "claim", postgres_db, sweep_id, "preempted").strip()
    after = _server_now(postgres_db)
    run = _times(postgres_db, [run_id])[run_id]
    assert run.state is RunState.PREEMPTED
    assert run.finished_at is not None
    assert before <= run.created_at <= run.finished_at <= after
    assert run.heartbeat_at == run.finished_at


@on_postgres
@pytest.mark.parametrize(
    ("claimer", "reaper"),
    [("+1h", None), (None, "-1h")],
    ids=["claimed-by-a-clock-1h-fast", "reaped-by-a-clock-1h-slow"],
)
def test_a_run_reaped_by_another_agent_does_not_end_before_it_began(
    postgres_db: str, tmp_path: Path, claimer: str | None, reaper: str | None
) -> None:
    sweep_id = localsweep.sweep(GRID, db=postgres_db)
    before = _server_now(postgres_db)
    # Its agent claims it and is gone (its process ended): the next claim on this machine
    # marks it crashed.
    dead = _skewed_python(claimer, "claim", postgres_db, sweep_id).strip()
    _skewed_python(reaper, "claim", postgres_db, sweep_id)
    after = _server_now(postgres_db)

    run = _times(postgres_db, [dead])[dead]
    assert (run.state, run.end_reason) == (RunState.CRASHED, "agent_died")
    assert run.finished_at is not None and run.heartbeat_at is not None
    assert before <= run.created_at <= run.heartbeat_at <= run.finished_at <= after

    page = tmp_path / "report.html"
    written = cli_at(tmp_path, "report", sweep_id, "--db", postgres_db, "-o", str(page))
    assert written.returncode == 0, written.stderr
    runtime = row_cells(report_data(page)["table"], dead)["runtime (s)"]
    assert runtime is not None and runtime >= 0


@on_postgres
def test_a_sweep_made_and_stopped_where_the_clock_is_off_has_the_servers_times(
    postgres_db: str, tmp_path: Path
) -> None:
    # Its creation starts the report's sweep duration, which its runs' ends close.
    config = tmp_path / "sweep.json"
    config.write_text(json.dumps(GRID))
    skew = skewed_env("+1h")
    before = _server_now(postgres_db)
    made = cli_at(tmp_path, "sweep", str(config), "--db", postgres_db, env=skew)
    assert made.returncode == 0, made.stderr
    sweep_id = made.stdout.strip()
    stopped = cli_at(tmp_path, "stop", sweep_id, "--db", postgres_db, env=skew)
    assert stopped.returncode == 0, stopped.stderr
    after = _server_now(postgres_db)
    store = Store(postgres_db)
    try:
        sweep = store.get_sweep(sweep_id)
    finally:
        store.close()
    assert sweep.finished_at is not None
    assert before <= sweep.created_at <= sweep.finished_at <= after


# ------------------------------------------------------------------ runtimes


def _ended_run(db: Path, summary: dict[str, Any], ran: timedelta) -> tuple[str, str]:
    """A sweep with one finished run whose summary is ``summary``, stored as claimed
    ``ran`` before its end (negative: its end came first). (sweep id, run id)"""
    store = Store(db)
    try:
        sweep_id = store.create_sweep(parse_config(GRID)).id
        run = _claim(store, sweep_id, AgentInfo.current())
        store.finish_run(run, RunState.FINISHED, summary=summary, metric=1.0, exit_code=0)
        ended = store.get_run(run.id).finished_at
        assert ended is not None
    finally:
        store.close()
    _sql(
        f"sqlite:///{db}",
        "UPDATE runs SET created_at = :start WHERE id = :id",
        start=ended - ran,
        id=run.id,
    )
    return sweep_id, run.id


def _shown_runtimes(db: Path, sweep_id: str, run_id: str, tmp_path: Path) -> tuple[Any, str]:
    """The run's runtime in the report's runs table, and what its ui page says it ran for."""
    pytest.importorskip("starlette")
    from localsweep.report import write_report
    from localsweep.ui._pages import run_page

    page = write_report(localsweep.Api(db).sweep(sweep_id), tmp_path / "report.html")
    runtime = row_cells(report_data(page)["table"], run_id)["runtime (s)"]
    ui = run_page(localsweep.Api(db).run(run_id), nav="", plotly_src="")
    found = re.search(r'ran for</div><div class="value">([^<]*)<', ui)
    assert found is not None
    return runtime, found.group(1)


def test_a_runs_runtime_is_wandbs_runtime_when_its_summary_has_one(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    sweep_id, run_id = _ended_run(db, {"loss": 1.0, "_runtime": 125.0}, timedelta(seconds=131))
    assert _shown_runtimes(db, sweep_id, run_id, tmp_path) == (125.0, "2m 5s")


def test_a_run_stored_as_ending_before_it_began_shows_no_negative_runtime(
    tmp_path: Path,
) -> None:
    # As agents whose clocks disagreed wrote it before the database's clock wrote both.
    from localsweep.report._study import sweep_study

    db = tmp_path / "s.db"
    sweep_id, run_id = _ended_run(db, {"loss": 1.0}, -timedelta(hours=1))
    assert _shown_runtimes(db, sweep_id, run_id, tmp_path) == (0.0, "0s")
    study, _axes = sweep_study(localsweep.Api(db).sweep(sweep_id))
    (trial,) = study.trials
    assert trial.duration == timedelta(0)


def test_the_runtimes_of_function_runs_are_shown_without_opening_their_files(
    wandb_sweep: localsweep.Sweep, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # wandb's _runtime of a function-mode run is in its wandb file, not in the store:
    # reading it for the runs table opened one file per run (10% of the report's time at
    # 10,000 runs on a local disk). Such a run's runtime is its claim to its end.
    from localsweep.report import write_report
    from localsweep.report._silent import run_end
    from localsweep.wandb_bridge import _summary_tail

    def no_file(*args: object) -> None:
        raise AssertionError("the report opened a run's wandb file")

    # Where the Api's run summary takes it from when it reads a run's file.
    monkeypatch.setattr(_summary_tail, "with_wandb_keys", no_file)
    sweep = localsweep.Api(wandb_sweep._store.url).sweep(wandb_sweep.id)  # nothing read yet
    table = report_data(write_report(sweep, tmp_path / "r.html"))
    for run in sweep.runs:
        end = run_end(run)
        assert end is not None
        expected = round(max(0.0, (end - run.created_at).total_seconds()), 2)
        assert row_cells(table["table"], run.id)["runtime (s)"] == expected


def test_a_runs_runtime_does_not_depend_on_whether_its_summary_was_read(
    wandb_sweep: localsweep.Sweep,
) -> None:
    # The runtime took wandb's _runtime from a summary read already (the run page reads
    # it), and claim-to-end otherwise: one run, two runtimes on two pages.
    from localsweep.report._silent import run_runtime

    sweep = localsweep.Api(wandb_sweep._store.url).sweep(wandb_sweep.id)
    for run in sweep.runs:
        before = run_runtime(run)
        assert "_runtime" in run.summary  # read now, from the run's wandb file
        assert run_runtime(run) == before


@pytest.mark.parametrize(("seconds", "said"), [(-3600.0, "0s"), (math.nan, "—"), (math.inf, "—")])
def test_a_duration_is_said_sanely_for_a_number_that_is_no_duration(
    seconds: float, said: str
) -> None:
    from localsweep.report._html import _duration

    assert _duration(seconds) == said


@on_postgres
def test_the_servers_clock_is_read_once_a_minute_not_once_per_run(postgres_db: str) -> None:
    # Run.summary of each killed run read the server's clock to know whether to wait for
    # its file: 50 such runs made 50 queries.
    from sqlalchemy import event

    store = Store(postgres_db)
    asked: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "clock_timestamp" in statement:
            asked.append(statement)

    event.listen(store._session.engine, "before_cursor_execute", count)
    try:
        first = store.db_time()
        later = [store.db_time() for _ in range(50)]
        assert len(asked) == 1
        assert all(timedelta(0) <= t - first < timedelta(seconds=30) for t in later)
    finally:
        store.close()
