"""The agent's progress lines for a multi-objective sweep (``metrics:``): each run's value of
every objective, and the size of the sweep's Pareto set so far where a single-metric sweep
names its best run; with a real agent and real SQLite."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import localsweep
from localsweep.agent._progress import SweepProgress
from localsweep.search._multi import non_dominated
from localsweep.store import Store

CONFIG = {
    "method": "custom",
    "run_cap": 8,
    "metrics": [{"name": "loss"}, {"name": "acc", "goal": "maximize"}],
    "parameters": {"x": {"min": 0.0, "max": 1.0}},
    "localsweep": {"seed": 3},
}


def train(config: dict[str, Any]) -> dict[str, float]:
    x = config["x"]
    if x > 0.8:
        return {"loss": x}  # no acc: on no front
    return {"loss": (x - 0.3) ** 2, "acc": x}


def test_each_line_gives_the_objectives_and_the_pareto_front_so_far(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    sweep_id = localsweep.sweep(CONFIG, db=db)
    stream = io.StringIO()
    with SweepProgress(Store(db), sweep_id, stream=stream) as progress:
        localsweep.agent(sweep_id, train, db=db, quiet=True, on_run_end=progress.on_run_end)
    lines = [line for line in stream.getvalue().splitlines() if " finished" in line]
    runs = localsweep.Api(db).sweep(sweep_id).runs
    assert len(lines) == len(runs) == 8
    goals = [m.goal for m in localsweep.Api(db).sweep(sweep_id).parsed_config.metrics]
    for k, (line, run) in enumerate(zip(lines, runs, strict=True), 1):
        assert "no best yet" not in line
        acc = f"{run.summary['acc']:.6g}" if "acc" in run.summary else "-"
        assert f"run {run.id} finished loss={run.summary['loss']:.6g} acc={acc} " in line
        # The front after run k: the finished runs so far that no other one beats.
        points = [(r.summary["loss"], r.summary["acc"]) for r in runs[:k] if "acc" in r.summary]
        size = len(non_dominated(points, goals))
        said = re.search(r"\((\d+)/8 done; (.*)\)$", line)
        assert said is not None, line
        assert said.group(1) == str(k)
        if size:
            assert said.group(2) == f"Pareto front: {size} run{'' if size == 1 else 's'}"
        else:
            assert said.group(2) == "Pareto front: no run yet"
    assert size == len(localsweep.Api(db).sweep(sweep_id).pareto_runs()) >= 2
    assert any("acc=-" in line for line in lines)


def test_a_run_without_an_objective_is_warned_of_once_naming_the_close_key(
    tmp_path: Path, capfd: Any
) -> None:
    config = {
        "method": "custom",
        "metrics": [{"name": "loss"}, {"name": "accuracy", "goal": "maximize"}],
        "parameters": {"x": {"min": 0.0, "max": 1.0}},
    }
    sweep = localsweep.run(
        config, lambda c: {"loss": c["x"], "acc": c["x"]}, count=3, db=tmp_path / "s.db"
    )
    err = capfd.readouterr().err
    warnings = [line for line in err.splitlines() if "Warning:" in line]
    assert len(warnings) == 1, err
    assert "the sweep objective 'accuracy' was never logged" in warnings[0]
    assert "Did you mean 'acc'?" in warnings[0]
    assert "Pareto front: no run yet" in err
    assert sweep.pareto_runs() == []
    # show says it too, where it would list the Pareto set.
    from click.testing import CliRunner

    from localsweep.cli import cli

    shown = CliRunner().invoke(cli, ["show", sweep.id, "--db", str(tmp_path / "s.db")])
    assert shown.exit_code == 0
    assert "the sweep objective 'accuracy' was never logged" in shown.output


def test_the_bar_shows_the_pareto_front_where_it_shows_the_best(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    sweep_id = localsweep.sweep(CONFIG, db=db)
    stream = io.StringIO()
    with SweepProgress(Store(db), sweep_id, stream=stream, mode="bar") as progress:
        localsweep.agent(sweep_id, train, db=db, quiet=True, on_run_end=progress.on_run_end)
    front = len(localsweep.Api(db).sweep(sweep_id).pareto_runs())
    last = stream.getvalue().strip().splitlines()[-1]
    assert "8/8" in last and f"Pareto front: {front} runs" in last, last


def test_a_run_whose_objective_diverged_is_said_to_have_no_result_itself(
    tmp_path: Path, capfd: Any
) -> None:
    """One run's NaN is that run's: the warning said no run was on the Pareto front while
    the front held the sweep's other runs."""
    config = {
        "method": "custom",
        "metrics": [{"name": "loss"}, {"name": "acc", "goal": "maximize"}],
        "parameters": {"x": {"min": 0.0, "max": 1.0}},
    }

    calls: list[int] = []

    def train(c: dict[str, Any]) -> dict[str, float]:
        calls.append(1)
        acc = float("nan") if len(calls) == 3 else c["x"]
        return {"loss": c["x"], "acc": acc}

    sweep = localsweep.run(config, train, count=3, db=tmp_path / "s.db")
    err = capfd.readouterr().err
    assert "'acc' has no finite value" in err, err
    assert "This run has no result: it is on no Pareto front" in err
    assert "no run is on the Pareto front" not in err
    assert sweep.pareto_runs()
