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


@pytest.mark.parametrize("method", ["random", "grid"])
def test_the_index_counts_runs_done_as_the_agents_do(db: str, method: str) -> None:
    """The list's runs column is the agents' "k/N done": a killed or crashed run gives its
    point back and is not done, a preempted one runs again. It counted every run not
    running (3/2 for a run_cap of 2 with one run interrupted; backwards when a preempted
    run was taken again)."""
    import random

    from localsweep.records import RunState
    from localsweep.search import make_search
    from localsweep.store import AgentInfo

    values = {"values": [1, 2, 3, 4]}
    config = {"method": method, "metric": {"name": "loss"}, "parameters": {"x": values}}
    if method == "random":
        config["run_cap"] = 2
    sweep_id = localsweep.sweep(config, db=db)
    store = Store(db)
    search = make_search(store.get_sweep(sweep_id).config)
    agent = AgentInfo.current()

    def start() -> object:
        claim = store.claim_run(
            sweep_id, agent, lambda runs, n: search.propose(runs, random.Random(n))
        )
        assert claim.run is not None
        return claim.run

    store.finish_run(start(), RunState.FINISHED, metric=1.0)  # type: ignore[arg-type]
    store.finish_run(start(), RunState.KILLED)  # type: ignore[arg-type]
    store.finish_run(start(), RunState.CRASHED)  # type: ignore[arg-type]
    store.finish_run(start(), RunState.PREEMPTED)  # type: ignore[arg-type]
    store.close()
    page = _client(db).get("/").text  # type: ignore[attr-defined]
    expected = "1/2" if method == "random" else "1/4"
    assert f'<td class="num">{expected}</td>' in page, page


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
    assert localsweep.Api(db).sweep(small_sweep.id).state != "PAUSED"
    page = client.get(f"/sweeps/{small_sweep.id}")
    assert settings.csrf in page.text  # the page carries it for its own buttons
    bad = client.post(url, json={"action": "explode"}, headers={"X-Localsweep-CSRF": settings.csrf})
    assert bad.status_code == 400


def test_a_control_that_changes_nothing_says_so_as_the_cli_does(
    small_sweep: localsweep.Sweep, db: str
) -> None:
    """Cancel on a sweep that had ended answered "sweep finished", as if it had done
    something; ``localsweep cancel`` says it had already ended and nothing changed."""
    from localsweep.ui import UiSettings, create_app

    settings = UiSettings()
    client = testclient.TestClient(
        create_app(Store(db), settings), base_url="http://127.0.0.1:8080"
    )
    url = f"/api/sweeps/{small_sweep.id}/control"
    headers = {"X-Localsweep-CSRF": settings.csrf}
    paused = client.post(url, json={"action": "pause"}, headers=headers).json()
    assert paused["said"] == "sweep paused" and paused["state"] == "paused"
    again = client.post(url, json={"action": "pause"}, headers=headers).json()
    assert again["said"] == "sweep was already paused: nothing changed"
    stopped = client.post(url, json={"action": "stop"}, headers=headers).json()
    assert "nothing changed" not in stopped["said"]
    late = client.post(url, json={"action": "cancel"}, headers=headers).json()
    assert late["said"].startswith("sweep had already ended (")
    assert late["said"].endswith("): nothing changed")
    assert localsweep.Api(db).sweep(small_sweep.id).state == stopped["state"].upper()


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


def test_a_plot_whose_traces_only_grew_is_sent_as_the_new_points() -> None:
    from localsweep.report._delta import _plot_change

    layout = {"title": {"text": "Learning curves"}}
    old = {
        "id": "plot-curves",
        "layout": layout,
        "data": [
            {"type": "scatter", "name": "finished", "x": [1, 2], "y": [0.5, 0.4]},
            {"type": "scatter", "name": "running", "x": [1], "y": [0.9], "text": ["r"]},
            {"type": "scatter", "name": "best", "x": [1], "y": [0.3]},
        ],
    }
    grown = {
        **old,
        "data": [
            old["data"][0],
            {
                "type": "scatter",
                "name": "running",
                "x": [1, 2],
                "y": [0.9, 0.7],
                "text": ["r", "r"],
            },
            {"type": "scatter", "name": "best", "x": [1, 2], "y": [0.3, 0.2]},
        ],
    }
    # One group per set of arrays that grew (Plotly.extendTraces takes one set a call).
    assert _plot_change(old, grown) == {
        "id": "plot-curves",
        "extend": [
            {"update": {"text": [["r"]], "x": [[2]], "y": [[0.7]]}, "traces": [1]},
            {"update": {"x": [[2]], "y": [[0.2]]}, "traces": [2]},
        ],
    }
    # A point changed, a trace added or the layout changed: the whole figure.
    changed = {**grown, "data": [{**old["data"][0], "y": [0.5, 0.3]}, *grown["data"][1:]]}
    assert _plot_change(old, changed) is changed
    more = {**old, "data": [*old["data"], {"type": "scatter", "x": [], "y": []}]}
    assert _plot_change(old, more) is more
    relaid = {**grown, "layout": {"title": {"text": "other"}}}
    assert _plot_change(old, relaid) is relaid


def test_a_run_added_to_parallel_coordinates_is_sent_as_its_values() -> None:
    from localsweep.report._delta import _plot_change

    def parcoords(values: list[float], metric: list[float]) -> dict[str, object]:
        line = {"color": metric, "colorscale": "Viridis"}
        dims = [{"label": "lr", "values": values}, {"label": "loss", "values": metric}]
        return {
            "id": "plot-parallel",
            "layout": {},
            "data": [{"type": "parcoords", "dimensions": dims, "line": line}],
        }

    change = _plot_change(parcoords([0.1], [1.0]), parcoords([0.1, 0.2], [1.0, 0.5]))
    assert change == {
        "id": "plot-parallel",
        "extend": [
            {
                "update": {
                    "dimensions.0.values": [[0.2]],
                    "dimensions.1.values": [[0.5]],
                    "line.color": [[0.5]],
                },
                "traces": [0],
            }
        ],
        "redraw": True,
    }


def test_the_server_reads_only_what_changed_since_its_last_look(
    small_sweep: localsweep.Sweep, db: str
) -> None:
    from ui_helpers import train

    from localsweep.ui._state import SweepState

    store = Store(db)
    reads: list[tuple[int, int]] = []
    runs_since = store.runs_since

    def counting(sweep_id: str, min_number: int, open_ids: object = ()) -> list:  # type: ignore[type-arg]
        found = runs_since(sweep_id, min_number, open_ids)  # type: ignore[arg-type]
        reads.append((min_number, len(found)))
        return found

    store.runs_since = counting  # type: ignore[method-assign]
    state = SweepState(store, small_sweep.id)
    assert state.refresh() and reads[-1][1] == 5
    assert not state.refresh()  # nothing moved: the change token alone was read
    assert len(reads) == 1
    localsweep.agent(small_sweep.id, train, count=1, db=db)
    assert state.refresh()
    # Only the new run was read, and the sweep kept has all six.
    assert reads[-1] == (5, 1)
    assert len(state.sweep().runs) == 6
    new = state.sweep().runs[-1]
    assert state.histories([new.id])[new.id] == pytest.approx(
        [row["loss"] for row in new.history()]
    )


def test_runs_changed_where_the_server_does_not_look_are_all_read_again(
    small_sweep: localsweep.Sweep, db: str
) -> None:
    import sqlite3

    from localsweep.ui._state import SweepState

    state = SweepState(Store(db), small_sweep.id)
    state.refresh()
    first = small_sweep.runs[0].id
    # An ended run changed behind the server's back (no incremental read looks at it):
    # the runs per state no longer agree with the change token, so it reads them all.
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE runs SET state = 'failed' WHERE id = ?", (first,))
    assert state.refresh()
    assert {r.id: r.state for r in state.sweep().runs}[first] == "failed"


def test_the_first_paint_has_no_plot_data_and_loads_plotly_after_it(
    small_sweep: localsweep.Sweep, db: str
) -> None:
    page = _client(db).get(f"/sweeps/{small_sweep.id}")  # type: ignore[attr-defined]
    head, body = page.text.split("<body", 1)
    assert "plotly.min.js" not in head  # no script to wait for before the page shows
    assert 'data-plots-expected="0"' in body  # the plots come with the first update
    assert "Loading" in body and 'id="runs-table"' in body
    assert body.count(small_sweep.runs[0].id) >= 1  # the runs table's data is there


def test_a_running_runs_new_values_are_sent_as_points_of_its_curve_alone(
    small_sweep: localsweep.Sweep, db: str
) -> None:
    import threading

    from localsweep.agent import Agent, RunOutcome, RunRecorder
    from localsweep.records import RunState
    from localsweep.store import RunRecord
    from localsweep.ui._live import LiveSweeps

    go, done = threading.Event(), threading.Event()

    def runner(run: RunRecord, recorder: RunRecorder) -> RunOutcome:
        # A row is written once the next one starts.
        recorder.on_log({"loss": 0.5}, 0)
        recorder.on_log({"loss": 0.4}, 1)
        recorder.flush()
        go.wait(30)
        recorder.on_log({"loss": 0.3}, 2)
        recorder.flush()
        done.wait(30)
        return RunOutcome(RunState.FINISHED, exit_code=0)

    store = Store(db)
    agent = threading.Thread(
        target=lambda: Agent(Store(db), small_sweep.id, runner=runner, count=1).run()
    )
    agent.start()
    try:

        def logged(n: int) -> bool:
            running = [r for r in store.list_runs(small_sweep.id) if r.state is RunState.RUNNING]
            return (
                bool(running)
                and len(store.metric_histories(small_sweep.id).get(running[0].id, [])) == n
            )

        deadline = time.monotonic() + 30
        while not logged(1):
            assert time.monotonic() < deadline, "the run did not log"
            time.sleep(0.1)
        live = LiveSweeps(store, importance_every=1e9)
        seen = live.update(small_sweep.id, None)
        version = seen["version"]
        while "Computing" in seen.get("parts", {}).get("importance", "Computing"):
            assert time.monotonic() < deadline, "the importance never came"
            time.sleep(0.1)
            seen = live.update(small_sweep.id, version)
            version = seen["version"]
        go.set()
        while not logged(2):
            assert time.monotonic() < deadline, "the run did not log again"
            time.sleep(0.1)
        update = live.update(small_sweep.id, version)
        # Only the learning curves changed, by the one new value of the running run.
        assert [p["id"] for p in update["plots"]] == ["plot-curves"]
        (change,) = update["plots"]
        assert [g["update"]["y"] for g in change["extend"]] == [[[0.4]]]
        assert "table" not in update
        # Its row alone, with its summary so far (as W&B's table shows a running run).
        [row] = update["rows"]["changed"]
        assert row[3:5] == ["running", 0.3]
    finally:
        go.set()
        done.set()
        agent.join(timeout=60)


@pytest.mark.slow
def test_the_live_page_over_postgresql_updates_and_pauses(postgres_db: str) -> None:
    """The ui serves a PostgreSQL store as it serves SQLite: the sweep page, an update
    that brings a run finished meanwhile as one new row, and the pause button's POST."""
    from ui_helpers import CONFIG, train

    from localsweep.ui import UiSettings, create_app

    sweep = localsweep.run(CONFIG, train, count=2, db=postgres_db)
    settings = UiSettings()
    client = testclient.TestClient(
        create_app(Store(postgres_db), settings), base_url="http://127.0.0.1:8080"
    )
    page = client.get(f"/sweeps/{sweep.id}")
    assert page.status_code == 200 and sweep.runs[0].id in page.text
    url = f"/api/sweeps/{sweep.id}/update"
    first = client.get(url).json()
    assert len(first["table"]["rows"]) == 2

    localsweep.agent(sweep.id, train, count=1, db=postgres_db)
    update = client.get(url, params={"since": first["version"]}).json()
    # Importance may land in between; either way the new run arrives as one changed row.
    while update.get("unchanged") or not update["rows"]["changed"]:
        update = client.get(url, params={"since": update["version"]}).json()
    all_ids = {r.id for r in localsweep.Api(postgres_db).sweep(sweep.id).runs}
    new_ids = all_ids - {r.id for r in sweep.runs}
    assert len(all_ids) == 3 and [row[1] for row in update["rows"]["changed"]] == [*new_ids]
    paused = client.post(
        f"/api/sweeps/{sweep.id}/control",
        json={"action": "pause"},
        headers={"X-Localsweep-CSRF": settings.csrf},
    )
    assert paused.status_code == 200, paused.text
    assert localsweep.Api(postgres_db).sweep(sweep.id).state == "PAUSED"
