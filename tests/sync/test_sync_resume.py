"""``localsweep sync`` of runs that ran in several attempts: a run preempted twice and
resumed (three offline folders) reaches W&B as one run with every attempt's rows in
order, as it would have online with ``resume="allow"``; a killed run whose grid point ran
again is uploaded with a note that says so.

Real processes (an agent in program mode, a program that marks itself preempting, a
sweep cancelled while a run runs), real wandb offline and the real ``wandb sync``,
against the W&B stand-in server (``tests/helpers/wandb_standin.py``: no real W&B
server can run here). What the stand-in adds for this, from wandb's own source: it
answers ``RunResumeStatus`` (which wandb sync asks before uploading a folder whose
``wandb.init`` was told to resume) as W&B's server does, and writes history lines at
the offset the client gives, so an attempt sent over the first one's rows shows up as
lost rows.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sync_helpers import CHILD_TIMEOUT, StandinServer

import localsweep

pytestmark = pytest.mark.slow

#: Rows each attempt of a preempted run logs: attempts 1 and 2 end preempted.
ATTEMPT_ROWS = (3, 2, 4)

PROGRAM = """
    import os
    import sys
    import time
    from pathlib import Path

    import wandb

    ROWS = {rows}
    run = wandb.init()
    work = Path(os.environ["LOCALSWEEP_TEST_WORK"])
    kind = run.config["kind"]
    checkpoint = work / f"checkpoint-{{run.id}}"
    start = int(checkpoint.read_text()) if checkpoint.exists() else 0
    if kind == "hang" and not (work / "hung").exists():
        (work / "hung").write_text("")
        run.log({{"loss": 1.0, "epoch": 0}})
        (work / "hanging").write_text(str(os.getpid()))
        while True:  # until the agent stops it (the sweep is cancelled)
            time.sleep(0.1)
    attempt = len(list(work.glob(f"attempt-{{run.id}}-*"))) + 1
    (work / f"attempt-{{run.id}}-{{attempt}}").write_text("")
    rows = ROWS[attempt - 1] if kind != "hang" else 2
    for epoch in range(start, start + rows):
        row = {{"loss": 10.0 / (epoch + 1), "epoch": epoch}}
        if kind == "explicit":
            run.log(row, step=epoch)  # as docs/faults.md recommends: step= from the checkpoint
        else:
            run.log(row)  # _step starts at 0 again in a resumed offline attempt
    checkpoint.write_text(str(start + rows))
    if kind != "hang" and attempt < len(ROWS):
        run.mark_preempting()
        run.finish(exit_code=1)
        sys.exit(1)
    run.finish()
"""


def _env(root: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "WANDB_MODE": "offline",
        "WANDB_SILENT": "true",
        "WANDB_DISABLE_GIT": "true",
        "WANDB_DIR": str(root),
        "LOCALSWEEP_DB": str(root / "localsweep.db"),
        "LOCALSWEEP_TEST_WORK": str(root / "work"),
    }
    env.pop("WANDB_SERVICE", None)
    return env


def _agent(root: Path, sweep_id: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "localsweep.cli", "agent", sweep_id],
        cwd=root,
        env=_env(root),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _cli(root: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "localsweep.cli", *args],
        cwd=root,
        env=_env(root),
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def resumed_sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A finished program-mode grid sweep (made once): ``kind`` ``hang`` (its first run
    was killed when the sweep was cancelled, and the point ran again once resumed), ``explicit`` and
    ``implicit`` (each preempted twice and resumed: three folders, 3 + 2 + 4 rows,
    logged with ``step=`` from the checkpoint, or without)."""
    root = tmp_path_factory.mktemp("resumed")
    (root / "work").mkdir()
    (root / "train.py").write_text(textwrap.dedent(PROGRAM.format(rows=ATTEMPT_ROWS)))
    (root / "sweep.yaml").write_text(
        f"program: {root / 'train.py'}\nmethod: grid\nproject: proj\n"
        "metric: {name: loss, goal: minimize}\n"
        "parameters:\n  kind: {values: [hang, explicit, implicit]}\n"
    )
    sweep_id = _cli(root, "sweep", "sweep.yaml").strip().splitlines()[-1]
    first = _agent(root, sweep_id)
    deadline = time.monotonic() + CHILD_TIMEOUT
    while not (root / "work" / "hanging").exists():
        assert first.poll() is None and time.monotonic() < deadline, first.stdout
        time.sleep(0.1)
    # Cancelled while the hanging run runs: it is stopped and recorded killed; once the
    # sweep is resumed, its grid point runs again under a new run id.
    _cli(root, "sweep", "--cancel", sweep_id)
    out, _ = first.communicate(timeout=CHILD_TIMEOUT)
    assert first.returncode == 0, out
    _cli(root, "sweep", "--resume", sweep_id)
    second = _agent(root, sweep_id)
    out, _ = second.communicate(timeout=CHILD_TIMEOUT)
    assert second.returncode == 0, out
    return root, sweep_id


@pytest.fixture
def site(
    resumed_sweep: tuple[Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, str, dict[str, str]]:
    """This test's copy of the sweep as the working directory; returns it, the sweep id
    and its runs' ids by kind (``hang-killed`` for the run that was killed)."""
    source, sweep_id = resumed_sweep
    root = tmp_path / "site"
    shutil.copytree(source, root)
    with sqlite3.connect(root / "localsweep.db") as conn:
        conn.execute("UPDATE runs SET dir = replace(dir, ?, ?)", (str(source), str(root)))
        rows = conn.execute(
            "SELECT id, state, config_json FROM runs WHERE sweep_id = ? ORDER BY number",
            (sweep_id,),
        ).fetchall()
    ids = {}
    for run_id, run_state, config in rows:
        kind = json.loads(config)["kind"]
        ids[f"{kind}-killed" if run_state == "killed" else kind] = run_id
    monkeypatch.chdir(root)
    monkeypatch.setenv("WANDB_DIR", str(root))
    monkeypatch.setenv("LOCALSWEEP_DB", str(root / "localsweep.db"))
    return root, sweep_id, ids


def _folders(root: Path, run_id: str) -> list[Path]:
    return sorted((root / "wandb").glob(f"offline-run-*-{run_id}"))


def test_the_sweep_has_runs_in_three_attempts_and_a_killed_run_run_again(
    site: tuple[Path, str, dict[str, str]],
) -> None:
    root, _sweep_id, ids = site
    assert set(ids) == {"hang-killed", "hang", "explicit", "implicit"}
    assert len(_folders(root, ids["explicit"])) == 3
    assert len(_folders(root, ids["implicit"])) == 3


def test_every_attempt_of_a_resumed_run_reaches_wandb_as_one_run_in_order(
    site: tuple[Path, str, dict[str, str]], server: StandinServer
) -> None:
    _root, sweep_id, ids = site
    report = localsweep.sync(sweep_id, entity="team")

    assert report.ok, report.runs
    rows = sum(ATTEMPT_ROWS)
    for kind in ("explicit", "implicit"):
        on_server = server.runs[ids[kind]]
        # All 9 rows, in order, as one run: online with resume="allow" W&B would hold
        # the same. Without step= the resumed attempts' _step went on from the last one.
        assert [r["epoch"] for r in on_server.history] == list(range(rows)), kind
        assert [r["_step"] for r in on_server.history] == list(range(rows)), kind
        assert on_server.sweep == report.server_sweep
        assert on_server.complete and on_server.exit_code == 0
        assert on_server.summary["epoch"] == rows - 1
    by_id = {r.run_id: r for r in report.runs}
    assert by_id[ids["explicit"]].outcome == "synced"
    assert "3 attempts (3 + 2 + 4 = 9 rows)" in (by_id[ids["explicit"]].message or "")


def test_the_dry_run_names_each_runs_attempts_and_rows(
    site: tuple[Path, str, dict[str, str]],
) -> None:
    _root, sweep_id, ids = site
    report = localsweep.sync(sweep_id, entity="team", dry_run=True)

    by_id = {r.run_id: r for r in report.runs}
    for kind in ("explicit", "implicit"):
        row = by_id[ids[kind]]
        assert row.outcome == "would sync"
        assert (row.message or "").startswith(
            "3 attempts (3 + 2 + 4 = 9 rows): uploaded oldest first as one run"
        )
    assert by_id[ids["hang"]].message is None  # one attempt, nothing to say


def test_a_killed_run_whose_point_ran_again_is_uploaded_with_a_note_that_says_so(
    site: tuple[Path, str, dict[str, str]], server: StandinServer
) -> None:
    _root, sweep_id, ids = site
    dry = {r.run_id: r for r in localsweep.sync(sweep_id, entity="team", dry_run=True).runs}
    killed = dry[ids["hang-killed"]]
    assert killed.state == "killed" and killed.outcome == "would sync"
    assert f"superseded: its grid point ran again as run {ids['hang']}" in (killed.message or "")
    assert "superseded" not in (dry[ids["hang"]].message or "")

    report = localsweep.sync(sweep_id, entity="team")
    done = {r.run_id: r for r in report.runs}
    assert done[ids["hang-killed"]].outcome == "synced"
    assert "superseded" in (done[ids["hang-killed"]].message or "")
    # Uploaded as it is: W&B shows it as one more run of the sweep, not finished.
    on_server = server.runs[ids["hang-killed"]]
    assert on_server.sweep == report.server_sweep
    assert on_server.exit_code != 0


def test_an_upload_stopped_midway_goes_on_after_the_attempts_the_server_has(
    site: tuple[Path, str, dict[str, str]], server: StandinServer
) -> None:
    root, sweep_id, ids = site
    run_id = ids["implicit"]
    server.refuse_resume_ids = {run_id}  # the second attempt's upload fails
    first = localsweep.sync(sweep_id, entity="team", retries=0)

    row = {r.run_id: r for r in first.runs}[run_id]
    assert row.outcome == "failed"
    assert "1 of its 3 attempts uploaded" in (row.message or "")
    assert len(server.runs[run_id].history) == ATTEMPT_ROWS[0]

    # The store says which attempts the server has, even once the staging folder is gone.
    shutil.rmtree(root / ".localsweep-sync")
    server.refuse_resume_ids = set()
    second = localsweep.sync(sweep_id, entity="team")
    assert second.ok, second.runs
    assert [r["epoch"] for r in server.runs[run_id].history] == list(range(sum(ATTEMPT_ROWS)))
    # Each attempt's folder was sent once (its first upsert names the host it ran on).
    sent = [u for u in server.runs[run_id].upserts if u.get("host")]
    assert len(sent) == len(ATTEMPT_ROWS)


def test_an_attempt_cut_mid_upload_is_sent_on_after_the_rows_the_server_holds(
    site: tuple[Path, str, dict[str, str]], server: StandinServer
) -> None:
    _root, sweep_id, ids = site
    rows = sum(ATTEMPT_ROWS)
    # The second attempt's upload stalls after its first row (the server then holds the
    # first attempt's rows and that one) until --upload-timeout stops wandb sync (a bound:
    # the stall lasts until the server stops); the retry goes on from there.
    held = ATTEMPT_ROWS[0] + 1
    server.cut_history = {ids["implicit"]: held}

    report = localsweep.sync(sweep_id, entity="team", retries=2, upload_timeout=20)

    assert report.ok, report.runs
    assert not server.cut_history  # the stall happened
    on_server = server.runs[ids["implicit"]]
    assert [r["epoch"] for r in on_server.history] == list(range(rows))
    assert [r["_step"] for r in on_server.history] == list(range(rows))
    assert on_server.complete and on_server.exit_code == 0
    message = {r.run_id: r for r in report.runs}[ids["implicit"]].message or ""
    assert f"continued after the {held} row(s) a failed wandb sync had sent" in message


def test_a_resumed_run_with_an_attempts_folder_missing_is_not_uploaded_and_says_so(
    site: tuple[Path, str, dict[str, str]], server: StandinServer
) -> None:
    root, sweep_id, ids = site
    run_id = ids["explicit"]
    shutil.rmtree(_folders(root, run_id)[1])  # the second attempt's folder: another machine's

    report = localsweep.sync(sweep_id, entity="team")

    row = {r.run_id: r for r in report.runs}[run_id]
    assert row.outcome == "missing"
    assert "ran in 3 attempts but only 2 folder(s) were found (7 rows)" in (row.message or "")
    assert "--wandb-dir" in (row.message or "")
    assert run_id not in server.runs  # no part of it: the middle could not be added later
    assert not report.ok
    assert server.runs[ids["implicit"]].history  # the others are uploaded

    # One folder left: its rows are counted too (not a placeholder).
    shutil.rmtree(_folders(root, run_id)[-1])
    planned = localsweep.sync(sweep_id, entity="team", dry_run=True)
    message = {r.run_id: r for r in planned.runs}[run_id].message or ""
    assert re.search(r"only 1 folder\(s\) were found \(\d+ rows\)", message), message


def test_a_later_folder_not_started_with_resume_is_not_uploaded_and_says_why(
    site: tuple[Path, str, dict[str, str]], server: StandinServer
) -> None:
    root, sweep_id, ids = site
    run_id = ids["hang"]
    # The same run id started again by hand, without resume: wandb sync would upload it
    # over the run's rows, not after them. (In a sweep wandb takes the id from the
    # environment, as an agent gives it.)
    subprocess.run(
        [
            sys.executable,
            "-c",
            "import wandb\nwith wandb.init(project='proj') as r:\n    r.log({'loss': 0.5})",
        ],
        cwd=root,
        env={**_env(root), "WANDB_SWEEP_ID": sweep_id, "WANDB_RUN_ID": run_id},
        timeout=CHILD_TIMEOUT,
        check=True,
    )
    assert len(_folders(root, run_id)) == 2

    dry = {r.run_id: r for r in localsweep.sync(sweep_id, entity="team", dry_run=True).runs}
    row = dry[run_id]
    assert row.outcome == "split"
    message = row.message or ""
    assert "2 folders (3 rows)" in message and "not started with resume" in message
    report = localsweep.sync(sweep_id, entity="team")
    assert {r.run_id: r for r in report.runs}[run_id].outcome == "split"
    assert run_id not in server.runs
    assert not report.ok

    # What the message says to do works: the unwanted folder moved away, the run goes up.
    assert "Move the folder(s) you do not want out of the wandb folder" in message
    first = _folders(root, run_id)[0].name  # the agent's; the later one was started by hand
    assert f"The run as localsweep recorded it (its rows, its metric) is {first}" in message
    (aside := root.parent / "set-aside").mkdir()
    shutil.move(_folders(root, run_id)[-1], aside)
    report = localsweep.sync(sweep_id, entity="team")
    assert {r.run_id: r for r in report.runs}[run_id].outcome == "synced"
    assert run_id in server.runs


def test_the_cli_dry_run_table_shows_the_attempts_and_the_superseded_run(
    site: tuple[Path, str, dict[str, str]],
) -> None:
    root, sweep_id, ids = site
    proc = subprocess.run(
        [sys.executable, "-m", "localsweep.cli", "sync", sweep_id, "--dry-run"],
        cwd=root,
        env={**_env(root), "COLUMNS": "400"},
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "3 attempts (3 + 2 + 4 = 9 rows): uploaded oldest first as one run" in proc.stdout
    assert f"superseded: its grid point ran again as run {ids['hang']}" in proc.stdout


def test_a_superseded_run_wandb_recorded_nothing_of_is_left_and_no_failure(
    site: tuple[Path, str, dict[str, str]], server: StandinServer
) -> None:
    from localsweep.wandb_bridge._logformat import FILE_HEADER

    root, sweep_id, ids = site
    killed = ids["hang-killed"]
    # What an agent kill -9'd a moment after the run started leaves: a run file with only
    # its header (no Run record). Its grid point ran again as another run, which finished.
    [folder] = _folders(root, killed)
    [run_file] = folder.glob("run-*.wandb")
    run_file.write_bytes(FILE_HEADER)

    dry = subprocess.run(
        [sys.executable, "-m", "localsweep.cli", "sync", sweep_id, "--dry-run"],
        cwd=root,
        env={**_env(root), "COLUMNS": "400"},
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        check=False,
    )
    # Not a failure, so a dry run (a pre-check) and the sync exit 0, every time.
    assert dry.returncode == 0, dry.stdout + dry.stderr
    row = next(line for line in dry.stdout.splitlines() if killed in line)
    assert "superseded" in row and "corrupt" not in row.split("│")[3]
    assert f"ran again as run {ids['hang']}, whose result counts" in row
    assert "uploaded as it is" not in row

    report = localsweep.sync(sweep_id, entity="team")
    line = {r.run_id: r for r in report.runs}[killed]
    assert (line.outcome, report.ok) == ("superseded", True)
    assert "has no run record" in (line.message or "")
    assert "not a failure" in (line.message or "")
    assert killed not in server.runs  # nothing of it to upload
    assert server.runs[ids["hang"]].complete  # its point's result is uploaded
    assert report.finished_on_server
