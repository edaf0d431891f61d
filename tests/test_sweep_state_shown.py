"""A sweep's state reads the same word wherever localsweep shows it: ``show``'s header,
``ls``, the report, the ui's list of sweeps, and what a control command says; with why a
finished sweep ended (``finished (stopped)``), never a cancelled one's twice
(``canceled``, not ``canceled (canceled)``). Real processes on a real SQLite file."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Any

import pytest

import localsweep

sys.path.insert(0, str(Path(__file__).parent / "helpers"))
from cli_process import cli

pytestmark = pytest.mark.slow

#: How each sweep is brought to its state, and the state as shown.
STATES = {
    "pending": "pending",
    "running": "running",
    "paused": "paused",
    "stopped": "finished (stopped)",
    "cancelled": "canceled",
    "exhausted": "finished (exhausted)",
}


def _train(config: dict[str, Any]) -> float:
    return float(config["x"])


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, str]]:
    """A database with one sweep in each state of STATES: its path, and the ids by state."""
    db = str(tmp_path_factory.mktemp("states") / "s.db")
    grid = {"method": "grid", "metric": {"name": "loss"}, "parameters": {"x": {"values": [1, 2]}}}
    api = localsweep.Api(db)
    ids = {}
    for how in STATES:
        if how == "running":  # one of its two points run: more to do
            ids[how] = localsweep.run(grid, _train, count=1, db=db, quiet=True).id
        elif how == "exhausted":
            ids[how] = localsweep.run(grid, _train, db=db, quiet=True).id
        else:
            ids[how] = localsweep.sweep(grid, db=db)
            action = {"paused": "pause", "stopped": "stop", "cancelled": "cancel"}.get(how)
            if action is not None:
                getattr(api.sweep(ids[how]), action)()
    return db, ids


@pytest.mark.parametrize("how", list(STATES))
def test_show_says_the_state_in_its_header(sweeps: tuple[str, dict[str, str]], how: str) -> None:
    db, ids = sweeps
    shown = cli("show", ids[how], "--db", db)
    assert shown.returncode == 0, shown.stderr
    header = shown.stdout.splitlines()[0]
    assert f"grid, {STATES[how]};" in header, header


def test_ls_says_each_sweeps_state_as_show_does(sweeps: tuple[str, dict[str, str]]) -> None:
    db, ids = sweeps
    listed = cli("ls", "--db", db)
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[1]: line for line in listed.stdout.splitlines() if "ls-" in line}
    for how, sweep_id in ids.items():
        assert f" {STATES[how]} " in rows[sweep_id], rows[sweep_id]


@pytest.mark.parametrize("how", list(STATES))
def test_the_report_says_the_state_as_show_does(
    sweeps: tuple[str, dict[str, str]], how: str, tmp_path: Path
) -> None:
    db, ids = sweeps
    out = tmp_path / "r.html"
    made = cli("report", ids[how], "--db", db, "-o", str(out))
    assert made.returncode == 0, made.stderr
    assert f'<span id="sweep-state">{STATES[how]}</span>' in out.read_text()


def test_the_ui_lists_each_sweeps_state_as_show_does(sweeps: tuple[str, dict[str, str]]) -> None:
    testclient = pytest.importorskip("starlette.testclient")
    from localsweep.store import Store
    from localsweep.ui import UiSettings, create_app

    warnings.filterwarnings("ignore", message=".*httpx.*", category=DeprecationWarning)
    db, ids = sweeps
    client = testclient.TestClient(create_app(Store(db), UiSettings()), base_url="http://127.0.0.1")
    page = client.get("/").text
    for how, sweep_id in ids.items():
        row = page[page.index(f'<tr data-sweep="{sweep_id}">') :]
        row = row[: row.index("</tr>")]
        word = STATES[how].split()[0]
        assert f'<td class="state state-{word}">{STATES[how]}</td>' in row, row


def test_a_control_command_says_the_new_state_as_show_does(tmp_path: Path) -> None:
    db = str(tmp_path / "c.db")
    grid = {"method": "grid", "parameters": {"x": {"values": [1]}}}
    sweep_id = localsweep.sweep(grid, db=db)
    cancelled = cli("cancel", sweep_id, "--db", db)
    assert cancelled.returncode == 0, cancelled.stderr
    assert cancelled.stdout.strip() == "canceled"  # the bare word, for scripts
    assert "State: canceled." in " ".join(cancelled.stderr.split())
    again = cli("stop", sweep_id, "--db", db)
    assert "had already ended (canceled)" in " ".join(again.stderr.split())


def test_the_ui_says_the_new_state_of_a_control_as_show_does(tmp_path: Path) -> None:
    testclient = pytest.importorskip("starlette.testclient")
    from localsweep.store import Store
    from localsweep.ui import UiSettings, create_app

    warnings.filterwarnings("ignore", message=".*httpx.*", category=DeprecationWarning)
    db = str(tmp_path / "c.db")
    sweep_id = localsweep.sweep({"method": "grid", "parameters": {"x": {"values": [1]}}}, db=db)
    settings = UiSettings()
    client = testclient.TestClient(create_app(Store(db), settings), base_url="http://127.0.0.1")
    answer = client.post(
        f"/api/sweeps/{sweep_id}/control",
        json={"action": "stop"},
        headers={"X-Localsweep-CSRF": settings.csrf},
    ).json()
    # "state" is the word the page's data-control attribute takes; "shown" what it says.
    assert answer == {
        "state": "finished",
        "shown": "finished (stopped)",
        "action": "stop",
        "said": "sweep finished (stopped)",
    }
