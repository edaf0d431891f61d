"""What prior runs change in a sweep, through the real store and agent: a grid does not
repeat their points, bayes learns from them before its first proposal, run_cap counts only
the sweep's own runs, hyperband judges against their histories, and every reader shows
them, marked, apart from the sweep's own runs."""

from __future__ import annotations

import csv
import math
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import localsweep

GRID = {
    "method": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"x": {"values": [0, 1, 2, 3]}, "y": {"values": ["a", "b"]}},
}


def _loss(config: dict[str, Any]) -> float:
    return config["x"] + (0.5 if config["y"] == "b" else 0.0)


def _points(runs: list[localsweep.Run]) -> list[tuple[Any, Any]]:
    return [(r.config["x"], r.config["y"]) for r in runs]


def test_a_grid_seeded_with_half_its_points_runs_exactly_the_other_half() -> None:
    old = localsweep.run(GRID, _loss, count=4, db="old.db")
    new = localsweep.run(GRID, _loss, count=None, db="new.db", prior_runs=[f"old.db#{old.id}"])
    assert sorted(_points(new.prior_runs)) == sorted(_points(old.runs))
    assert len(new.runs) == 4
    assert set(_points(new.runs)).isdisjoint(_points(old.runs))
    assert len(set(_points(new.runs)) | set(_points(old.runs))) == 8
    assert (new.state, new.finished_reason) == ("FINISHED", "exhausted")


def test_a_grid_its_prior_runs_cover_runs_nothing_and_is_exhausted() -> None:
    old = localsweep.run(GRID, _loss, count=None, db="s.db")
    new = localsweep.run(GRID, _loss, count=None, db="s.db", prior_runs=[old.id])
    assert len(new.prior_runs) == 8 and new.runs == []
    assert (new.state, new.finished_reason) == ("FINISHED", "exhausted")


def test_a_grid_seeded_from_a_table_of_text_values_skips_those_points_too() -> None:
    with open("runs.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["Name", "State", "x", "y", "loss"])
        writer.writerow(["r1", "finished", "1", "a", "1.0"])
        writer.writerow(["r2", "finished", "3.0", "b", "3.5"])
        writer.writerow(["r3", "failed", "0", "a", ""])  # failed: its point is run
        writer.writerow(["r4", "finished", "2", "a", ""])  # no metric: still holds its point
    new = localsweep.run(GRID, _loss, count=None, db="new.db", prior_runs=["runs.csv"])
    assert sorted(_points(new.prior_runs)) == [(1, "a"), (2, "a"), (3, "b")]
    assert [r.metric for r in new.prior_runs] == [1.0, 3.5, None]
    assert len(new.runs) == 5 and (0, "a") in _points(new.runs)
    assert {(1, "a"), (2, "a"), (3, "b")}.isdisjoint(_points(new.runs))


def test_run_cap_counts_only_the_sweeps_own_runs() -> None:
    config = {
        "method": "random",
        "metric": {"name": "loss"},
        "run_cap": 3,
        "parameters": {"x": {"min": 0.0, "max": 1.0}},
    }
    uncapped = {k: v for k, v in config.items() if k != "run_cap"}
    old = localsweep.run(uncapped, lambda c: c["x"], count=5, db="s.db")
    new = localsweep.run(config, lambda c: c["x"], count=None, db="s.db", prior_runs=[old.id])
    assert len(new.prior_runs) == 5
    assert len(new.runs) == 3
    assert new.finished_reason == "run_cap"


def test_best_run_includes_prior_runs_and_runs_keeps_them_apart() -> None:
    old = localsweep.run(GRID, _loss, count=1, db="s.db")  # (0, "a"): the best point
    new = localsweep.run(GRID, _loss, count=2, db="s.db", prior_runs=[old.runs[0].id])
    best = new.best_run()
    assert best is not None and best.prior and best.id == old.runs[0].id
    assert all(not r.prior for r in new.runs) and len(new.runs) == 2
    assert [r.number for r in new.runs] == [0, 1]
    assert repr(best) == f"<Run {best.id} (finished, prior)>"


# ------------------------------------------------------------------------------- bayes

TARGET = 0.8


def _bayes(sampler: str, seed: int) -> dict[str, Any]:
    return {
        "method": "bayes",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"x": {"min": 0.0, "max": 1.0}, "z": {"min": 0.0, "max": 1.0}},
        "localsweep": {"sampler": sampler, "seed": seed},
    }


def _quadratic(config: dict[str, Any]) -> float:
    return (config["x"] - TARGET) ** 2 + 0.1 * (config["z"] - 0.5) ** 2


@pytest.mark.parametrize("sampler", ["tpe", "gp-numpy"])
def test_bayes_learns_from_prior_runs_before_its_first_proposal(sampler: str) -> None:
    # 30 earlier runs on a grid over x and z; the best were near x = 0.8.
    with open("earlier.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["x", "z", "loss"])
        for i in range(30):
            x, z = (i % 10) / 9, (i // 10) / 2
            writer.writerow([x, z, _quadratic({"x": x, "z": z})])
    cold, warm = [], []
    for seed in range(5):
        for out, priors in ((cold, None), (warm, ["earlier.csv"])):
            sweep = localsweep.run(
                _bayes(sampler, seed), _quadratic, count=1, db="s.db", prior_runs=priors
            )
            out.append(abs(sweep.runs[0].config["x"] - TARGET))
    # Cold, the first proposal is a random draw; warm, it is near what the priors found.
    assert statistics.median(warm) < 0.15
    assert statistics.median(warm) < statistics.median(cold)


# --------------------------------------------------------------------------- hyperband

HYPERBAND = {
    "method": "grid",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {
        "lr": {"values": [0.03, 0.01, 0.05]},
        "opt": {"parameters": {"name": {"values": ["sgd", "adam"]}}},
    },
    "early_terminate": {"type": "hyperband", "min_iter": 2, "eta": 3},
}


def _worse_curve() -> None:
    import wandb

    with wandb.init() as run:
        for _ in range(5):
            run.log({"loss": 0.6})


def test_hyperband_judges_a_run_against_the_histories_of_prior_runs(
    hand_runs: tuple[Path, list[str]],
) -> None:
    root, _ids = hand_runs
    # The two finished hand runs logged 0.4, 0.2, ... and 0.5, 0.3, ...: at band 2 a run
    # at 0.6 is worse than the threshold their histories set, so it stops there.
    warm = localsweep.run(
        HYPERBAND, _worse_curve, count=1, db="s.db", prior_runs=[str(root / "wandb")]
    )
    (run,) = warm.runs
    assert (run.state, run.stopped_at_band) == ("early_terminated", 2)
    # Alone, the same run has no one to be worse than and finishes.
    cold = localsweep.run(HYPERBAND, _worse_curve, count=1, db="s.db")
    assert cold.runs[0].state == "finished"


# ------------------------------------------------------------------ CLI, show, report


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "localsweep.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
    )


@pytest.mark.slow
def test_the_cli_takes_prior_runs_prints_what_it_took_and_show_marks_them() -> None:
    old = localsweep.run(GRID, _loss, count=2, db="old.db")
    Path("sweep.yaml").write_text(
        "method: grid\nmetric: {name: loss}\n"
        "parameters:\n  x: {values: [0, 1, 2, 3]}\n  y: {values: [a, b]}\n"
    )
    made = _cli("sweep", "sweep.yaml", "-R", f"old.db#{old.id}", "--prior-runs", "nosuch.csv",
                "--db", "new.db")  # fmt: skip
    assert made.returncode == 2
    assert "prior_runs" in made.stderr and "nosuch.csv" in made.stderr
    assert "cannot take the prior runs" in made.stderr
    assert "invalid sweep config" not in made.stderr
    assert "Traceback" not in made.stderr
    assert not Path("new.db").exists()  # nor an empty database
    made = _cli("sweep", "sweep.yaml", "-R", f"old.db#{old.id}", "--db", "new.db")
    assert made.returncode == 0, made.stderr
    assert f"old.db#{old.id} (sweep {old.id} in sqlite:///" in made.stderr
    assert "prior runs: 2 taken, 0 skipped" in made.stderr
    sweep_id = made.stdout.strip()
    shown = _cli("show", sweep_id, "--db", "new.db")
    assert shown.returncode == 0, shown.stderr
    assert "0 runs: no runs; 2 prior runs" in shown.stdout
    assert f"{old.runs[0].id} (prior)" in shown.stdout
    assert "Best run" in shown.stdout and "(prior)" in shown.stdout
    # ls counts them beside the sweep's own runs: its best may be a prior run's.
    listed = _cli("ls", "--db", "new.db")
    assert "0 (+2 prior)" in listed.stdout, listed.stdout


@pytest.mark.slow
def test_the_cli_prints_the_prior_runs_summary_once_and_not_as_a_log_warning() -> None:
    # The library logs the total as a warning when runs were skipped; the CLI prints the
    # whole summary itself, so the warning would repeat its last line in log format.
    Path("sweep.yaml").write_text("method: grid\nmetric: {name: loss}\nparameters:\n"
                                  "  x: {values: [0, 1, 2, 3]}\n")  # fmt: skip
    Path("runs.csv").write_text("Name,State,x,loss\nr1,finished,1,0.5\nr2,finished,9,0.1\n")
    made = _cli("sweep", "sweep.yaml", "-R", "runs.csv", "--db", "s.db")
    assert made.returncode == 0, made.stderr
    assert made.stderr.count("prior runs: 1 taken, 1 skipped") == 1, made.stderr
    # The row named by its Name column; the cell "9" shown as the number it was read as.
    assert "skipped runs.csv row 2 (r2): x = 9 is not one of its values" in made.stderr
    assert "WARNING" not in made.stderr


def test_the_library_logs_a_warning_when_prior_runs_are_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    Path("runs.csv").write_text("Name,State,x,y,loss\nr1,finished,1,a,0.5\nr2,finished,9,a,0.1\n")
    with caplog.at_level("INFO", logger="localsweep"):
        localsweep.sweep(GRID, db="s.db", prior_runs=["runs.csv"])
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warnings == [
        "prior runs: 1 taken, 1 skipped (runs.csv row 2 (r2): x = 9 is not one of its values "
        "(0, 1, 2, 3))"
    ]


def test_the_report_and_the_export_include_prior_runs_marked() -> None:
    pytest.importorskip("plotly")
    from localsweep.report import run_rows, write_report

    old = localsweep.run(GRID, _loss, count=2, db="s.db")
    new = localsweep.run(GRID, _loss, count=2, db="s.db", prior_runs=[old.id])
    html = write_report(new, "report.html").read_text()
    assert 'id="prior-count">and 2 prior runs' in html
    for run in old.runs:
        assert run.id in html
    assert "finished (prior)" in html
    rows = run_rows(new)
    assert [r.get("prior", False) for r in rows] == [True, True, False, False]
    assert rows[0]["prior_source"].startswith(f"run {old.runs[0].id} of sweep {old.id}")
    assert math.isfinite(rows[0]["metric"])


@pytest.mark.postgres
@pytest.mark.slow
def test_prior_runs_on_postgresql_hold_grid_points_and_stay_out_of_run_cap(
    postgres_db: str,
) -> None:
    old = localsweep.run(GRID, _loss, count=4, db=postgres_db)
    new = localsweep.run(GRID, _loss, count=None, db=postgres_db, prior_runs=[old.id])
    assert len(new.prior_runs) == 4 and len(new.runs) == 4
    assert set(_points(new.runs)).isdisjoint(_points(old.runs))
    capped = localsweep.run(
        {**GRID, "run_cap": 2}, _loss, count=None, db=postgres_db, prior_runs=[old.runs[0].id]
    )
    assert len(capped.runs) == 2 and capped.finished_reason == "run_cap"


@pytest.mark.parametrize("first", [True, False])
def test_an_unquoted_glob_given_to_R_says_to_quote_it(first: bool) -> None:
    Path("sweep.yaml").write_text("method: grid\nparameters:\n  x: {values: [0, 1]}\n")
    folders = [f"wandb/offline-run-2026010{i}_000000-abcd000{i}" for i in (1, 2)]
    for folder in folders:
        Path(folder).mkdir(parents=True)
    # What the shell passes for -R wandb/offline-run-* unquoted.
    args = ["-R", *folders, "sweep.yaml"] if first else ["sweep.yaml", "-R", *folders]
    made = _cli("sweep", *args, "--db", "s.db")
    assert made.returncode == 2
    assert "quote it so that localsweep expands it" in made.stderr, made.stderr
    assert "Traceback" not in made.stderr
