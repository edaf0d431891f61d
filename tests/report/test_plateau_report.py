"""The report of a sweep where hyperband and the plateau rule both stopped runs (real
wandb offline): each stop shows with its reason."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from report_data import report_data

import localsweep
from localsweep.report import write_report

CONFIG = {
    "method": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"quality": {"values": [0, 1, 2, 3]}},
    "early_terminate": {"type": "hyperband", "min_iter": 2, "eta": 2},
    "localsweep": {"early_stopping": {"threshold": 0.01, "patience": 2}},
}


def curve(quality: int) -> list[float]:
    if quality == 0:
        return [1.0 - 0.09 * e for e in range(10)]
    if quality == 1:  # flat after its fourth value: the plateau rule stops it at its sixth
        return [2.0 - 0.1 * min(e, 3) for e in range(10)]
    return [1.0 + quality - 0.1 * e for e in range(10)]  # hyperband stops these at band 2


@pytest.fixture(scope="module")
def mixed_sweep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[localsweep.Sweep]:
    import wandb

    tmp = tmp_path_factory.mktemp("plateau")

    def train() -> None:
        with wandb.init() as run:
            for loss in curve(run.config["quality"]):
                run.log({"loss": loss})

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("WANDB_MODE", "offline")
        mp.setenv("WANDB_SILENT", "true")
        mp.setenv("WANDB_DISABLE_GIT", "true")
        mp.setenv("WANDB_DIR", str(tmp))
        mp.chdir(tmp)
        yield localsweep.run(CONFIG, train, count=None, db=tmp / "s.db")


def test_the_runs_table_gives_each_runs_end_reason(
    mixed_sweep: localsweep.Sweep, tmp_path: Path
) -> None:
    table = report_data(write_report(mixed_sweep, tmp_path / "r.html"))["table"]
    column = table["columns"].index("end reason")
    reasons = {row[1]: row[column] for row in table["rows"]}
    by_quality = {run.config["quality"]: run.id for run in mixed_sweep.runs}

    assert [reasons[by_quality[q]] for q in (0, 1, 2, 3)] == [
        None,
        "plateau",
        "hyperband",
        "hyperband",
    ]


def test_plateau_stops_are_marked_at_their_last_value(
    mixed_sweep: localsweep.Sweep, tmp_path: Path
) -> None:
    data = report_data(write_report(mixed_sweep, tmp_path / "r.html"))
    (curves,) = [p for p in data["plots"] if p["id"] == "plot-curves"]
    (plateau,) = [t for t in curves["data"] if t["name"].startswith("plateau")]
    (band,) = [t for t in curves["data"] if t["name"].startswith("stopped early")]

    assert plateau["x"] == [6] and plateau["y"] == [pytest.approx(1.7)]
    assert sorted(band["x"]) == [2, 2]


def test_the_overview_says_what_stopped_runs(mixed_sweep: localsweep.Sweep, tmp_path: Path) -> None:
    text = write_report(mixed_sweep, tmp_path / "r.html").read_text(encoding="utf-8")

    assert 'id="stopped-count">3<' in text
    assert "2 by hyperband, 1 on a plateau" in text
