"""``localsweep ui`` for a multi-objective sweep (``metrics:``), through Starlette's test
client over a real SQLite store: where a sweep shows its best run, it shows the Pareto set."""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import pytest

import localsweep
from localsweep.store import Store

warnings.filterwarnings("ignore", message=".*httpx.*", category=DeprecationWarning)
testclient = pytest.importorskip("starlette.testclient")

CONFIG = {
    "method": "custom",
    "metrics": [{"name": "loss"}, {"name": "acc", "goal": "maximize"}],
    "parameters": {"x": {"min": 0.0, "max": 1.0}, "noise": {"values": [0, 1]}},
    "localsweep": {"seed": 5},
}


def train(config: dict[str, Any]) -> dict[str, float]:
    return {"loss": (config["x"] - 0.4) ** 2, "acc": config["x"]}


@pytest.fixture
def multi(tmp_path: Path) -> tuple[str, localsweep.Sweep]:
    db = str(tmp_path / "ui.db")
    localsweep.run(CONFIG, train, count=8, db=db, quiet=True)
    return db, localsweep.Api(db).sweeps()[0]


def _client(db: str) -> Any:
    from localsweep.ui import UiSettings, create_app

    app = create_app(Store(db), UiSettings())
    return testclient.TestClient(app, base_url="http://127.0.0.1:8080")


def test_the_index_gives_the_size_of_the_pareto_set(multi: tuple[str, localsweep.Sweep]) -> None:
    db, sweep = multi
    page = _client(db).get("/")
    assert page.status_code == 200
    row = page.text.split(f'data-sweep="{sweep.id}"')[1].split("</tr>")[0]
    size = len(sweep.pareto_runs())
    assert f"<td>Pareto set: {size} run{'s' if size != 1 else ''}</td>" in row


def test_a_run_page_shows_each_objective(multi: tuple[str, localsweep.Sweep]) -> None:
    db, sweep = multi
    run = sweep.pareto_runs()[0]
    page = _client(db).get(f"/runs/{run.id}").text
    for name in ("loss", "acc"):
        card = f'<div class="label">{name}</div><div class="value">{run.summary[name]:.6g}</div>'
        assert card in page


def test_the_live_page_shows_the_pareto_set_and_importance_per_objective(
    multi: tuple[str, localsweep.Sweep],
) -> None:
    db, sweep = multi
    client = _client(db)
    url = f"/api/sweeps/{sweep.id}/update"
    first = client.get(url).json()
    overview = first["parts"]["overview"]
    assert f'id="pareto-count">{len(sweep.pareto_runs())}</div>' in overview
    assert "no finished run with the metric" not in overview
    assert {p["id"] for p in first["plots"]} >= {"plot-history", "plot-parallel", "plot-pareto"}
    marked = {row[1] for row in first["table"]["rows"] if row[first["table"]["mark_column"]]}
    assert marked == {r.id for r in sweep.pareto_runs()}
    # Importance comes from a thread of its own with a later update, one per objective.
    version, part = first["version"], first["parts"]["importance"]
    deadline = time.monotonic() + 60
    while "Computing parameter importance" in part:
        assert time.monotonic() < deadline, "the importance never came"
        time.sleep(0.2)
        update = client.get(url, params={"since": version}).json()
        if not update.get("unchanged"):
            version, part = update["version"], update["parts"].get("importance", part)
    assert 'data-objective="loss"' in part and 'data-objective="acc"' in part
    assert "Computed on 8 runs that finished or stopped early with a value of acc" in part
