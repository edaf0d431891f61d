"""What ``localsweep sync`` finds before uploading, compared with what the store knows: a
copy of a finished run cut short is refused (never uploaded as a killed run with rows
missing), and runs that never started in wandb are left without failing the sync.
Real offline runs, the real ``wandb sync``, and the W&B stand-in on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sync_helpers import CHILD_TIMEOUT, ROWS, Site, StandinServer, run_cli

import localsweep
from localsweep.wandb_bridge._logformat import FILE_HEADER

pytestmark = pytest.mark.slow


def test_a_finished_runs_copy_cut_short_is_refused_as_incomplete(
    site: Site, server: StandinServer, tmp_path: Path
) -> None:
    cut, *others = site.run_ids
    # Its folder copied here while it ran, or by an rsync interrupted: the run file's
    # tail (its last rows and its exit record) is missing.
    copied = tmp_path / "copied"
    copied.mkdir()
    folder = Path(shutil.copytree(site.run_folder(cut), copied / site.run_folder(cut).name))
    [run_file] = folder.glob("run-*.wandb")
    run_file.write_bytes(run_file.read_bytes()[:-600])

    result = run_cli("sync", site.sweep_id, "-e", "team", "--wandb-dir", str(copied))

    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    row = " ".join(
        " ".join(line.split("│")[1:]) for line in result.stdout.splitlines() if "│" in line
    )
    flat = " ".join(row.split())
    assert "corrupt" in flat
    assert "corrupt/incomplete copy" in flat
    assert folder.name in flat.replace(" ", "")
    assert "copy the run's folder again" in flat
    planned = localsweep.sync(site.sweep_id, entity="team", wandb_dirs=[copied], dry_run=True)
    note = {r.run_id: r.message or "" for r in planned.runs}[cut]
    assert "the disk filled up while the run ran" in note  # the other way a file is cut short
    assert f"of the {ROWS} the store has" in flat
    assert "the run was killed" not in flat
    # Nothing of it was sent; the rest were.
    assert cut not in server.runs
    assert server.uploaded_runs() == set(others)


def test_a_crashed_run_wandb_recorded_nothing_of_is_left_and_no_failure(
    site: Site, server: StandinServer
) -> None:
    # Its agent was killed a moment after the run started: its run file holds only its
    # header; its point did not run again (nothing will ever upload it).
    crashed = site.run_ids[0]
    with sqlite3.connect(site.db) as conn:
        conn.execute("UPDATE runs SET state = 'crashed' WHERE id = ?", (crashed,))
        # The store holds its rows (they reach it at once), wandb wrote none of them: a
        # kill loses what wandb keeps in memory. Not an incomplete copy.
    [run_file] = site.run_folder(crashed).glob("run-*.wandb")
    run_file.write_bytes(FILE_HEADER)

    planned = run_cli("sync", site.sweep_id, "--dry-run", "-e", "team")
    assert planned.returncode == 0, planned.stdout + planned.stderr

    report = localsweep.sync(site.sweep_id, entity="team")

    line = {r.run_id: r for r in report.runs}[crashed]
    assert (line.outcome, report.ok) == ("left", True)
    assert "never started" in (line.message or "")
    assert "has no run record" in (line.message or "")
    assert crashed not in server.runs
    assert server.uploaded_runs() == set(site.run_ids[1:])
    assert report.finished_on_server


def test_a_failed_runs_copy_that_lost_every_row_is_incomplete_not_never_started(
    site: Site, server: StandinServer
) -> None:
    # The run failed after logging, and its copied run file kept only the header: the
    # store holds its rows, so it did start, and its copy is to be made again.
    failed = site.run_ids[0]
    with sqlite3.connect(site.db) as conn:
        conn.execute("UPDATE runs SET state = 'failed', exit_code = 1 WHERE id = ?", (failed,))
    [run_file] = site.run_folder(failed).glob("run-*.wandb")
    run_file.write_bytes(FILE_HEADER)

    report = localsweep.sync(site.sweep_id, entity="team")

    line = {r.run_id: r for r in report.runs}[failed]
    assert (line.outcome, report.ok) == ("corrupt", False)
    assert "never started" not in (line.message or "")
    assert f"the store holds {ROWS} row(s)" in (line.message or "")
    assert "copy the run's folder again" in (line.message or "")
    assert failed not in server.runs
    assert not report.finished_on_server


EARLY = """
import sys

if "--x=3" in sys.argv:
    sys.exit("bad config")  # before wandb.init: no run folder is ever made
import wandb

with wandb.init() as run:
    for i in range(3):
        run.log({"loss": run.config["x"] / (i + 1)})
"""


def test_a_program_run_that_failed_before_wandb_init_is_left_and_no_failure(
    site: Site, server: StandinServer
) -> None:
    (site.root / "early.py").write_text(EARLY)
    (site.root / "early.yaml").write_text(
        "program: early.py\nmethod: grid\nproject: proj\n"
        "metric: {name: loss, goal: minimize}\nparameters:\n  x: {values: [1, 3]}\n"
    )
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}

    def cli(*args: str) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "localsweep.cli", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT,
            check=False,
        )
        return proc.stdout

    sweep_id = cli("sweep", "early.yaml").strip().splitlines()[-1]
    cli("agent", sweep_id)

    result = run_cli("sync", sweep_id, "-e", "team")

    assert result.returncode == 0, result.stdout + result.stderr
    flat = " ".join(result.stdout.split())
    assert "left" in flat and "never started" in flat
    assert "wandb.init" in flat
    assert "missing" not in flat
    assert len(server.uploaded_runs()) == 1
    assert "finished)" in flat  # the server's sweep is finished: nothing is left to do


SLOW_START = """\
import time
from pathlib import Path

marker = Path("started-once")
if not marker.exists():
    marker.write_text("")
    time.sleep(120)  # importing its libraries: the agent is stopped here, before wandb.init

import wandb

run = wandb.init()
for i in range(5):
    run.log({"loss": float(5 - i)})
run.finish()
"""


def test_a_run_whose_first_attempt_ended_before_wandb_init_is_uploaded(
    server: StandinServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run preempted while its program still imported its libraries (before
    ``wandb.init``: no folder, no row) and resumed: its one folder holds every row the
    store has, so it is uploaded. It was refused as "missing" for good (the hint to copy
    other machines' folders could not be followed), which held the W&B sweep open."""
    import signal
    import time

    monkeypatch.chdir(tmp_path)
    (tmp_path / "slow.py").write_text(SLOW_START)
    (tmp_path / "slow.yaml").write_text(
        "program: slow.py\nmethod: grid\nproject: proj\n"
        "metric: {name: loss, goal: minimize}\nparameters:\n  x: {values: [1]}\n"
    )
    monkeypatch.setenv("LOCALSWEEP_DB", str(tmp_path / "s.db"))
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    sweep_id = localsweep.sweep(str(tmp_path / "slow.yaml"))
    agent = [sys.executable, "-m", "localsweep.cli", "agent", sweep_id]
    first = subprocess.Popen(agent, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + CHILD_TIMEOUT
    while not (tmp_path / "started-once").exists():
        assert first.poll() is None and time.monotonic() < deadline
        time.sleep(0.1)
    first.send_signal(signal.SIGTERM)
    said, _ = first.communicate(timeout=CHILD_TIMEOUT)
    assert first.returncode == 143, said
    again = subprocess.run(agent, env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT)
    assert again.returncode == 0, again.stdout + again.stderr
    (run,) = localsweep.Api().sweep(sweep_id).runs
    assert (run.state, run.attempt) == ("finished", 2)

    report = localsweep.sync(sweep_id, entity="team")

    line = {r.run_id: r for r in report.runs}[run.id]
    assert (line.outcome, report.ok) == ("synced", True), line.message
    assert "ran in 2 attempts; 1 of them ended before wandb.init" in (line.message or "")
    assert [row["loss"] for row in server.runs[run.id].history] == [5.0, 4.0, 3.0, 2.0, 1.0]
    assert report.finished_on_server


def test_a_folder_that_lost_an_attempts_rows_is_still_missing(site: Site) -> None:
    """Fewer folders than attempts, with fewer rows than the store holds: an attempt's
    rows are in a folder not found here (another machine's), still refused."""
    late = site.run_ids[0]
    with sqlite3.connect(site.db) as conn:
        conn.execute("UPDATE runs SET attempt = 2 WHERE id = ?", (late,))
        conn.execute(
            "INSERT INTO history (run_id, step, data_json, metric, has_metric, seq) "
            "VALUES (?, 99, '{}', NULL, 0, 999)",
            (late,),
        )
    planned = localsweep.sync(site.sweep_id, entity="team", dry_run=True)
    refused = {r.run_id: r for r in planned.runs}[late]
    assert refused.outcome == "missing"
    assert "ran in 2 attempts but only 1 folder(s) were found" in (refused.message or "")


def test_a_run_taken_for_dead_that_finished_anyway_is_not_a_second_result_on_wandb(
    site: Site, server: StandinServer
) -> None:
    """A run whose agent was taken for dead (cut off from the database, suspended) while
    its training went on and finished: its wandb file says it finished (exit code 0), but
    the store took it for dead and ran its grid point again. It is not uploaded (W&B would
    show the point's result twice; it was uploaded as "one more (failed) run")."""
    late, again, _ = site.run_ids
    with sqlite3.connect(site.db) as conn:
        (key,) = conn.execute("SELECT point_key FROM runs WHERE id = ?", (late,)).fetchone()
        conn.execute(
            "UPDATE runs SET state = 'crashed', end_reason = 'lease_lost', metric = NULL "
            "WHERE id = ?",
            (late,),
        )
        # The later run ran the same point again (here by the store's word alone).
        conn.execute("UPDATE runs SET point_key = ? WHERE id = ?", (key, again))

    report = localsweep.sync(site.sweep_id, entity="team")

    line = {r.run_id: r for r in report.runs}[late]
    assert (line.outcome, report.ok) == ("superseded", True), line.message
    message = " ".join((line.message or "").split())
    assert f"ran again as run {again}, whose result counts" in message
    assert "says it finished (exit code 0)" in message and "(lease_lost)" in message
    assert late not in server.runs
    assert server.uploaded_runs() == set(site.run_ids) - {late}
    assert report.finished_on_server


def test_a_run_taken_for_dead_that_finished_and_was_not_run_again_is_uploaded_saying_so(
    site: Site, server: StandinServer
) -> None:
    """The same late finish where no run took the point again (a random or bayes sweep;
    a grid whose agents all stopped): it is the point's only run, so it is uploaded, and
    its row says that W&B shows a result localsweep did not count."""
    late = site.run_ids[0]
    with sqlite3.connect(site.db) as conn:
        conn.execute(
            "UPDATE runs SET state = 'crashed', end_reason = 'lease_lost', metric = NULL "
            "WHERE id = ?",
            (late,),
        )

    report = localsweep.sync(site.sweep_id, entity="team")

    line = {r.run_id: r for r in report.runs}[late]
    assert (line.outcome, report.ok) == ("synced", True), line.message
    message = " ".join((line.message or "").split())
    assert "says it finished (exit code 0)" in message, message
    assert "does not count its late result: W&B will show it finished" in message
    assert len(server.runs[late].history) == ROWS


def test_a_wandb_dir_that_does_not_exist_is_refused_from_python_too(
    site: Site, server: StandinServer
) -> None:
    with pytest.raises(FileNotFoundError, match="nosuchdir"):
        localsweep.sync(site.sweep_id, entity="team", wandb_dirs=["nosuchdir"])
    assert server.created_sweeps() == []


def test_a_running_run_wandb_has_written_nothing_of_yet_is_skipped_as_running(
    site: Site, server: StandinServer
) -> None:
    # wandb writes its run file late: seconds into a run it may hold only its header.
    live = site.run_ids[0]
    with sqlite3.connect(site.db) as conn:
        conn.execute("UPDATE runs SET state = 'running' WHERE id = ?", (live,))
        conn.execute("UPDATE sweeps SET state = 'running'")
    [run_file] = site.run_folder(live).glob("run-*.wandb")
    run_file.write_bytes(FILE_HEADER)

    report = localsweep.sync(site.sweep_id, entity="team", include_running=True)

    line = {r.run_id: r for r in report.runs}[live]
    assert (line.outcome, report.ok) == ("running", True)
    assert "has not written its run record yet" in (line.message or "")
    assert server.uploaded_runs() == set(site.run_ids[1:])


TWICE = """
import wandb

wandb.init()
run = wandb.init()  # wandb's default reinit: the open run is handed back
for i in range(3):
    run.log({"loss": run.config["x"] / (i + 1)})
"""


def test_a_run_whose_code_called_wandb_init_twice_is_uploaded(
    site: Site, server: StandinServer
) -> None:
    # The second wandb.init() hands back the open run, but wandb makes a second folder of
    # the same id holding only logs/: sync once called the run missing for it.
    (site.root / "twice.py").write_text(TWICE)
    (site.root / "twice.yaml").write_text(
        "program: twice.py\nmethod: grid\nproject: proj\n"
        "metric: {name: loss, goal: minimize}\nparameters:\n  x: {values: [2]}\n"
    )
    sweep_id = run_cli("sweep", "twice.yaml").stdout.strip().splitlines()[-1]
    assert run_cli("agent", sweep_id).returncode == 0
    [run_id] = [r.id for r in localsweep.Api().sweep(sweep_id).runs]
    folders = sorted((site.root / "wandb").glob(f"offline-run-*-{run_id}*"))
    assert [len(list(f.glob("run-*.wandb"))) for f in folders] == [1, 0]

    report = localsweep.sync(sweep_id, entity="team")

    assert report.ok, report.runs
    assert server.uploaded_runs() == {run_id}
    assert [row["loss"] for row in server.runs[run_id].history] == [2.0, 1.0, 2 / 3]


TABLE = """
import wandb


def train():
    with wandb.init() as run:
        if run.config["x"] == 2:
            # An upload the server does not finish (the stand-in, as a W&B server that
            # fails the table's artifact, answers CreateArtifact with nothing): wandb sync
            # crashes on this run.
            run.log({"table": wandb.Table(columns=["a"], data=[[1]])})
        run.log({"loss": float(run.config["x"])})
"""


def test_a_run_that_makes_wandb_sync_crash_fails_alone(site: Site, server: StandinServer) -> None:
    (site.root / "table_train.py").write_text(TABLE)
    (site.root / "table.yaml").write_text(
        "method: grid\nproject: proj\nmetric: {name: loss, goal: minimize}\n"
        "parameters:\n  x: {values: [2, 1, 3]}\n"
    )
    sweep_id = run_cli("sweep", "table.yaml").stdout.strip().splitlines()[-1]
    agent = run_cli("agent", sweep_id, "-f", "table_train:train")
    assert agent.returncode == 0, agent.stderr
    runs = {r.config["x"]: r.id for r in localsweep.Api().sweep(sweep_id).runs}

    report = localsweep.sync(sweep_id, entity="team")

    outcomes = {r.run_id: r.outcome for r in report.runs}
    assert outcomes[runs[1]] == outcomes[runs[3]] == "synced", report.runs
    assert outcomes[runs[2]] == "failed"
    assert {runs[1], runs[3]} <= server.uploaded_runs()
    # The crash took the batch's wandb process down before it finished any run of it;
    # the retry sends each on after the rows the server got, so each is there once.
    notes = {r.run_id: r.message or "" for r in report.runs}
    for x in (1, 3):
        assert [row["loss"] for row in server.runs[runs[x]].history] == [float(x)], x
        assert "twice" not in notes[runs[x]], notes
