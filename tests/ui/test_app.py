"""The UI's HTTP surface, through Starlette's test client over a real SQLite store:
what a page shows, what an update sends, and who may do what."""

from __future__ import annotations

import time
import warnings

import pytest

import localsweep
from localsweep.report._page import sweep_view, view_update
from localsweep.store import Store

warnings.filterwarnings("ignore", message=".*httpx.*", category=DeprecationWarning)
testclient = pytest.importorskip("starlette.testclient")


def _client(db: str, **settings: object) -> object:
    from localsweep.ui import UiSettings, create_app

    app = create_app(Store(db), UiSettings(**settings))  # type: ignore[arg-type]
    return testclient.TestClient(app, base_url="http://127.0.0.1:8080")


def test_the_index_lists_every_sweep_with_its_state(small_sweep: localsweep.Sweep, db: str) -> None:
    other = localsweep.sweep({"method": "grid", "parameters": {"x": {"values": [1]}}}, db=db)
    page = _client(db).get("/")  # type: ignore[attr-defined]
    assert page.status_code == 200
    assert f'href="sweeps/{small_sweep.id}"' in page.text
    assert f'href="sweeps/{other}"' in page.text
    assert "pending" in page.text


def test_an_update_sends_only_what_changed(small_sweep: localsweep.Sweep, db: str) -> None:
    client = _client(db)
    url = f"/api/sweeps/{small_sweep.id}/update"
    first = client.get(url).json()  # type: ignore[attr-defined]
    assert set(first["parts"]) >= {"overview", "curves", "importance"}
    assert len(first["table"]["rows"]) == 5
    # Importance is computed on a thread of its own and comes with a later update: only
    # that part changes.
    version, seen = first["version"], first
    deadline = time.monotonic() + 60
    while "Computing parameter importance" in seen["parts"].get("importance", "Computing"):
        assert time.monotonic() < deadline, "the importance never came"
        time.sleep(0.2)
        update = client.get(url, params={"since": version}).json()  # type: ignore[attr-defined]
        if not update.get("unchanged"):
            assert set(update["parts"]) == {"importance"}, update["parts"].keys()
            assert update["rows"] == {"changed": [], "removed": []}
            seen, version = update, update["version"]
    again = client.get(url, params={"since": version}).json()  # type: ignore[attr-defined]
    assert again == {"unchanged": True, "version": version}


def test_a_new_run_changes_its_row_and_the_plots_it_is_in(
    small_sweep: localsweep.Sweep, db: str
) -> None:
    from ui_helpers import train

    before = sweep_view(localsweep.Api(db).sweep(small_sweep.id), importance=False)
    localsweep.agent(small_sweep.id, train, count=1, db=db)
    after = sweep_view(localsweep.Api(db).sweep(small_sweep.id), importance=False)
    update = view_update(before, after)
    changed = update["rows"]["changed"]
    old_ids = {r[1] for r in before.table["rows"]}
    # Only the new run's row is sent: the five old rows did not change.
    assert len(changed) == 1 and changed[0][1] not in old_ids
    assert update["rows"]["removed"] == []
    assert "plot-curves" in {p["id"] for p in update["plots"]}
    assert "meta" not in update["parts"]  # the sweep's state line did not change
    assert "table" not in update


def test_a_run_page_shows_config_summary_and_history(
    small_sweep: localsweep.Sweep, db: str
) -> None:
    run = small_sweep.runs[0]
    page = _client(db).get(f"/runs/{run.id}")  # type: ignore[attr-defined]
    assert page.status_code == 200
    assert f'<code id="run-id">{run.id}</code>' in page.text
    assert "lr:" in page.text  # the config
    assert f"loss: {run.summary['loss']}" in page.text  # the summary
    assert 'id="run-plot-0"' in page.text


def test_an_unknown_sweep_or_run_is_a_404(small_sweep: localsweep.Sweep, db: str) -> None:
    client = _client(db)
    assert client.get("/sweeps/ls-nothere").status_code == 404  # type: ignore[attr-defined]
    assert client.get("/runs/nothere").status_code == 404  # type: ignore[attr-defined]


def test_requests_for_another_host_name_are_refused(small_sweep: localsweep.Sweep, db: str) -> None:
    client = _client(db)
    answer = client.get("/", headers={"host": "attacker.example:8080"})  # type: ignore[attr-defined]
    assert answer.status_code == 403


def test_with_a_token_nothing_is_served_without_it(small_sweep: localsweep.Sweep, db: str) -> None:
    client = _client(db, token="s3cret", loopback_only=False)
    assert client.get("/").status_code == 403  # type: ignore[attr-defined]
    assert client.get("/?token=wrong").status_code == 403  # type: ignore[attr-defined]
    entered = client.get("/?token=s3cret")  # type: ignore[attr-defined]
    assert entered.status_code == 200  # redirected, with the token now a cookie
    assert client.get(f"/sweeps/{small_sweep.id}").status_code == 200  # type: ignore[attr-defined]


def test_control_needs_the_pages_csrf_token_and_origin(
    small_sweep: localsweep.Sweep, db: str
) -> None:
    from localsweep.ui import UiSettings, create_app

    settings = UiSettings()
    client = testclient.TestClient(
        create_app(Store(db), settings), base_url="http://127.0.0.1:8080"
    )
    url = f"/api/sweeps/{small_sweep.id}/control"
    assert client.post(url, json={"action": "pause"}).status_code == 403
    cross = client.post(
        url,
        json={"action": "pause"},
        headers={"X-Localsweep-CSRF": settings.csrf, "Origin": "http://attacker.example"},
    )
    assert cross.status_code == 403
    assert localsweep.Api(db).sweep(small_sweep.id).state != "paused"
    page = client.get(f"/sweeps/{small_sweep.id}")
    assert settings.csrf in page.text  # the page carries it for its own buttons
    bad = client.post(url, json={"action": "explode"}, headers={"X-Localsweep-CSRF": settings.csrf})
    assert bad.status_code == 400


def test_read_only_has_no_controls(small_sweep: localsweep.Sweep, db: str) -> None:
    from localsweep.ui import UiSettings, create_app

    settings = UiSettings(read_only=True)
    client = testclient.TestClient(
        create_app(Store(db), settings), base_url="http://127.0.0.1:8080"
    )
    page = client.get(f"/sweeps/{small_sweep.id}")
    assert 'id="controls"' not in page.text
    answer = client.post(
        f"/api/sweeps/{small_sweep.id}/control",
        json={"action": "pause"},
        headers={"X-Localsweep-CSRF": settings.csrf},
    )
    assert answer.status_code == 403


def test_plotly_is_served_from_the_package(small_sweep: localsweep.Sweep, db: str) -> None:
    client = _client(db)
    page = client.get(f"/sweeps/{small_sweep.id}")  # type: ignore[attr-defined]
    assert "https://" not in page.text.split("<body", 1)[0]
    js = client.get("/static/plotly.min.js")  # type: ignore[attr-defined]
    assert js.status_code == 200 and "Plotly" in js.text[:5000]
