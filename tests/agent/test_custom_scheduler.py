"""``method: custom`` with ``scheduler: {engine: optuna}`` and multi-objective ``metrics``,
run with real wandb offline: the user's study proposes, its pruner stops runs, several
objectives make a Pareto set, and agent processes sharing a sweep never propose twice."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

import localsweep
from localsweep.cli import cli
from localsweep.errors import ConfigError
from localsweep.search._multi import dominates, objective_values

HELPERS = Path(__file__).parents[1] / "helpers"
AGENT_TIMEOUT = 240

TWO = [{"name": "loss", "goal": "minimize"}, {"name": "acc", "goal": "maximize"}]


def write_sweep(folder: Path, config: dict[str, Any], source: str | None = None) -> Path:
    """A config file (and its scheduler source) in ``folder``, away from the working dir."""
    folder.mkdir(parents=True, exist_ok=True)
    if source is not None:
        (folder / "study.py").write_text(textwrap.dedent(source), encoding="utf-8")
    path = folder / "sweep.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def two_metric_train() -> None:
    import wandb

    with wandb.init() as run:
        x = float(run.config["x"])
        for step in range(3):
            run.log({"loss": (x - 0.2) ** 2 + 0.01 * (3 - step), "acc": x - 0.01 * step})


def info(run: localsweep.Run) -> Any:
    """What the search kept with the run (its sampler, its trial)."""
    return run._record.search_info


def assert_is_the_pareto_set(sweep: localsweep.Sweep) -> None:
    metrics = sweep.parsed_config.objectives
    goals = [m.goal for m in metrics]
    points = {
        r.id: objective_values(r.summary, metrics) for r in sweep.runs if r.state == "finished"
    }
    front = {r.id for r in sweep.pareto_runs()}
    assert front
    for run_id, p in points.items():
        assert p is not None
        beaten = any(dominates(q, p, goals) for q in points.values() if q is not None)
        assert (run_id in front) == (not beaten), run_id


@pytest.mark.slow
def test_an_nsga2_optimizer_proposes_generation_by_generation(tmp_path: Path) -> None:
    path = write_sweep(
        tmp_path / "conf",
        {
            "method": "custom",
            "metrics": TWO,
            "scheduler": {"engine": "optuna", "source": "study.py", "optimizer": "make_study"},
            "parameters": {"x": {"min": 0.0, "max": 1.0}},
            "localsweep": {"seed": 3},
        },
        """
        import optuna

        def make_study():
            sampler = optuna.samplers.NSGAIISampler(population_size=4, seed=1)
            return optuna.create_study(directions=["minimize", "maximize"], sampler=sampler)
        """,
    )
    sweep = localsweep.run(path, two_metric_train, count=10)
    runs = sweep.runs
    assert [r.state for r in runs] == ["finished"] * 10
    assert {info(r)["sampler"] for r in runs} == {"NSGAIISampler"}
    # Trials are rebuilt from the store with the sampler's attributes, so NSGA-II moves
    # past its first population to children of it.
    generations = [info(r)["optuna"]["system_attrs"]["NSGAIISampler:generation"] for r in runs]
    assert generations[:4] == [0, 0, 0, 0]
    assert max(generations) >= 1
    assert sweep.best_run() is None  # meaningless with two objectives
    assert_is_the_pareto_set(sweep)


def pruned_train() -> None:
    import wandb

    with wandb.init() as run:
        x = float(run.config["x"])
        for step in range(8):
            run.log({"loss": x + 1.0 / (step + 1)}, step=step)


@pytest.mark.slow
def test_tpe_with_median_pruner_stops_runs_and_keeps_their_rows(tmp_path: Path) -> None:
    path = write_sweep(
        tmp_path / "conf",
        {
            "method": "custom",
            "metric": {"name": "loss", "goal": "minimize"},
            "scheduler": {"engine": "optuna", "source": "study.py", "optimizer": "make_study"},
            "parameters": {"x": {"min": 0.0, "max": 10.0}},
            "localsweep": {"seed": 0},
        },
        """
        import optuna

        def make_study():
            return optuna.create_study(
                sampler=optuna.samplers.TPESampler(seed=0, n_startup_trials=10),
                pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1),
            )
        """,
    )
    sweep = localsweep.run(path, pruned_train, count=8)
    pruned = [r for r in sweep.runs if r.state == "early_terminated"]
    finished = [r for r in sweep.runs if r.state == "finished"]
    assert pruned and finished
    assert {info(r)["sampler"] for r in sweep.runs} == {"TPESampler"}
    for run in pruned:
        assert run.end_reason == "pruned"
        rows = run.history()
        # Every row logged up to the pruning step is kept, in the store and offline.
        assert [row["_step"] for row in rows] == list(range(run.stopped_at_band + 1))
        assert 1 <= run.stopped_at_band < 7
        assert run.dir is not None and Path(run.dir).is_dir()
        # The pruner stops runs worse than the median of finished runs at the same step.
        assert run.config["x"] > min(r.config["x"] for r in finished)
    for run in finished:
        assert run.end_reason is None and len(run.history()) == 8
    shown = CliRunner().invoke(cli, ["show", sweep.id])
    assert f"stopped early by the study's pruner: {len(pruned)}" in shown.output


def conditional_train() -> None:
    import wandb

    with wandb.init() as run:
        config = dict(run.config)
        opt = config["optimizer"]
        assert isinstance(opt, dict), config  # delivered nested, as wandb does
        loss = config["lr"] + (opt["momentum"] if opt["name"] == "sgd" else 0.5)
        run.log({"loss": loss, "seen": str(sorted(opt))})


@pytest.mark.slow
def test_a_define_by_run_search_space_with_a_conditional_parameter(tmp_path: Path) -> None:
    path = write_sweep(
        tmp_path / "conf",
        {
            "method": "custom",
            "metric": {"name": "loss"},
            "scheduler": {"engine": "optuna", "source": "study.py", "search_space": "space"},
            "localsweep": {"seed": 5},
        },
        """
        def space(trial):
            name = trial.suggest_categorical("optimizer", ["adam", "sgd"])
            opt = {"name": name}
            if name == "sgd":
                opt["momentum"] = trial.suggest_float("momentum", 0.0, 0.9)
            return {"optimizer": opt, "lr": trial.suggest_float("lr", 1e-4, 1e-1, log=True)}
        """,
    )
    sweep = localsweep.run(path, conditional_train, count=8)
    runs = sweep.runs
    assert [r.state for r in runs] == ["finished"] * 8
    kinds = {r.config["optimizer"]["name"] for r in runs}
    assert kinds == {"adam", "sgd"}
    for run in runs:
        opt = run.config["optimizer"]
        assert ("momentum" in opt) == (opt["name"] == "sgd")
        assert run.summary["seen"] == str(sorted(opt))
        params = info(run)["optuna"]["params"]
        assert ("momentum" in params) == (opt["name"] == "sgd")


@pytest.mark.slow
def test_two_metrics_through_localsweep_run_make_a_pareto_set(tmp_path: Path) -> None:
    config = {
        "method": "custom",
        "metrics": TWO,
        "parameters": {"x": {"min": 0.0, "max": 1.0}},
        "localsweep": {"seed": 1},
    }
    sweep = localsweep.run(config, two_metric_train, count=12)
    assert [r.state for r in sweep.runs] == ["finished"] * 12
    assert {info(r)["sampler"] for r in sweep.runs} == {"tpe"}
    assert_is_the_pareto_set(sweep)
    # x trades loss (best at 0.2) against acc (best at 1): each end is on the front.
    front = {r.id for r in sweep.pareto_runs()}
    best_acc = max(sweep.runs, key=lambda r: r.config["x"])
    best_loss = min(sweep.runs, key=lambda r: abs(r.config["x"] - 0.2))
    assert {best_acc.id, best_loss.id} <= front


def _agent(sweep_id: str, db: str, log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HELPERS), env.get("PYTHONPATH", "")])
    with log.open("wb") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "localsweep.cli",
                "agent",
                sweep_id,
                "--function",
                "multi_train:two_metrics",
                "--db",
                db,
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def shared_db(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The database two agents share: a SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "shared.db")
    return str(request.getfixturevalue("postgres_db"))


@pytest.mark.slow
def test_two_agent_processes_share_a_two_metric_sweep_without_duplicates(
    tmp_path: Path, shared_db: str
) -> None:
    # Both agents call the optimizer, so both samplers start from seed 1: without the
    # store's runs and the per-run reseeding they would propose the same points.
    path = write_sweep(
        tmp_path / "conf",
        {
            "method": "custom",
            "metrics": TWO,
            "run_cap": 10,
            "scheduler": {"engine": "optuna", "source": "study.py", "optimizer": "make_study"},
            "parameters": {"x": {"min": 0.0, "max": 1.0}},
        },
        """
        import optuna

        def make_study():
            sampler = optuna.samplers.NSGAIISampler(population_size=4, seed=1)
            return optuna.create_study(directions=["minimize", "maximize"], sampler=sampler)
        """,
    )
    db = shared_db
    sweep_id = localsweep.sweep(path, db=db)
    logs = [tmp_path / f"agent-{i}.log" for i in range(2)]
    procs = [_agent(sweep_id, db, log) for log in logs]
    try:
        for proc in procs:
            proc.wait(timeout=AGENT_TIMEOUT)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for proc, log in zip(procs, logs, strict=True):
        assert proc.returncode == 0, log.read_text()
    sweep = localsweep.Api(db).sweep(sweep_id)
    runs = sweep.runs
    assert len(runs) == 10 and all(r.state == "finished" for r in runs)
    xs = [r.config["x"] for r in runs]
    assert len(set(xs)) == len(xs)
    assert len({r._record.agent_pid for r in runs}) == 2, "one agent ran every run"
    assert_is_the_pareto_set(sweep)


def test_a_missing_source_file_names_the_field(tmp_path: Path) -> None:
    path = write_sweep(
        tmp_path / "conf",
        {
            "method": "custom",
            "metric": {"name": "loss"},
            "scheduler": {"engine": "optuna", "source": "nope.py", "optimizer": "f"},
            "parameters": {"x": {"min": 0.0, "max": 1.0}},
        },
    )
    with pytest.raises(ConfigError) as info:
        localsweep.run(path, lambda config: 0.0, count=1)
    (v,) = info.value.violations
    assert v.path == "scheduler.source" and str(tmp_path / "conf" / "nope.py") in v.message


def test_a_study_whose_directions_differ_from_the_metrics_is_refused(tmp_path: Path) -> None:
    path = write_sweep(
        tmp_path / "conf",
        {
            "method": "custom",
            "metrics": TWO,
            "scheduler": {"engine": "optuna", "source": "study.py", "optimizer": "make_study"},
            "parameters": {"x": {"min": 0.0, "max": 1.0}},
        },
        """
        import optuna

        def make_study():
            return optuna.create_study(directions=["minimize", "minimize"])
        """,
    )
    with pytest.raises(ConfigError) as info:
        localsweep.run(path, lambda config: {"loss": 0.0, "acc": 1.0}, count=1)
    (v,) = info.value.violations
    assert v.path == "scheduler.optimizer" and "maximize" in v.message


def define_metric_train() -> None:
    import wandb

    with wandb.init() as run:
        run.define_metric("loss", summary="min")
        for loss in (3.0, 1.0, 2.0):
            run.log({"loss": loss, "acc": run.config["x"]})


@pytest.mark.slow
def test_each_objective_is_read_from_the_summary_define_metric_included(tmp_path: Path) -> None:
    from localsweep.store import Store

    config = {"method": "custom", "metrics": TWO, "parameters": {"x": {"values": [0.25, 0.75]}}}
    config["localsweep"] = {"seed": 0}
    sweep = localsweep.run(config, define_metric_train, count=2, db=tmp_path / "db.db")
    store = Store(tmp_path / "db.db")
    try:
        views = store.run_views(sweep.id)
    finally:
        store.close()
    # What the search is told: wandb's summary, so the min define_metric asked for.
    told = [objective_values(v.summary_data, sweep.parsed_config.metrics) for v in views]
    assert told == [(1.0, r.config["x"]) for r in sweep.runs]
    # Same loss: the run with the most acc is the Pareto set.
    best = max(r.config["x"] for r in sweep.runs)
    assert {r.config["x"] for r in sweep.pareto_runs()} == {best}


def test_the_agent_command_reports_a_bad_optimizer_as_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(HELPERS))
    path = write_sweep(
        tmp_path / "conf",
        {
            "method": "custom",
            "metrics": TWO,
            "scheduler": {"engine": "optuna", "source": "study.py", "optimizer": "make_study"},
            "parameters": {"x": {"min": 0.0, "max": 1.0}},
        },
        "def make_study():\n    return 42\n",
    )
    db = str(tmp_path / "db.db")
    sweep_id = localsweep.sweep(path, db=db)
    result = CliRunner().invoke(
        cli, ["agent", sweep_id, "--function", "multi_train:two_metrics", "--db", db]
    )
    assert result.exit_code == 2, result.output
    assert "scheduler.optimizer" in result.output and "optuna.Study" in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_the_pruner_stops_runs_in_child_processes_too(tmp_path: Path) -> None:
    path = write_sweep(
        tmp_path / "conf",
        {
            "method": "custom",
            "metric": {"name": "loss", "goal": "minimize"},
            "scheduler": {"engine": "optuna", "source": "study.py", "optimizer": "make_study"},
            "parameters": {"x": {"min": 0.0, "max": 10.0}},
            "localsweep": {"seed": 0},
        },
        """
        import optuna

        def make_study():
            return optuna.create_study(
                sampler=optuna.samplers.TPESampler(seed=0),
                pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1),
            )
        """,
    )
    sweep = localsweep.run(path, pruned_train, count=6, isolation="process")
    pruned = [r for r in sweep.runs if r.state == "early_terminated"]
    assert pruned, [(r.state, r.config) for r in sweep.runs]
    for run in pruned:
        assert run.end_reason == "pruned"
        assert [row["_step"] for row in run.history()] == list(range(run.stopped_at_band + 1))


def test_a_sweep_stops_when_one_run_reaches_every_metrics_target(tmp_path: Path) -> None:
    config = {
        "method": "custom",
        "metrics": [
            {"name": "loss", "target": 0.1},
            {"name": "acc", "goal": "maximize", "target": 0.5},
        ],
        "parameters": {"x": {"values": [0.0, 0.3, 0.6, 0.9]}},
        "localsweep": {"seed": 0},
    }

    def train(config: dict[str, Any]) -> dict[str, float]:
        # Only x = 0.6 reaches both: loss 0.04 <= 0.1 and acc 0.6 >= 0.5.
        return {"loss": (config["x"] - 0.4) ** 2, "acc": config["x"]}

    sweep = localsweep.run(config, train, count=40, db=tmp_path / "db.db")
    assert sweep.finished_reason == "target_reached"
    assert sweep.runs[-1].config["x"] == 0.6
    assert all(r.config["x"] != 0.6 for r in sweep.runs[:-1])


PRUNED_STUDIES = """
import optuna


def chosen():
    return optuna.create_study(
        directions=["minimize", "maximize"], pruner=optuna.pruners.MedianPruner(n_startup_trials=1)
    )


def default():
    return optuna.create_study(directions=["minimize", "maximize"])
"""


@pytest.mark.parametrize(("optimizer", "warned"), [("chosen", True), ("default", False)])
def test_a_chosen_pruner_left_out_of_a_two_metric_sweep_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, optimizer: str, warned: bool
) -> None:
    """Optuna cannot prune multi-objective trials: a pruner the user gave the study is
    said as a warning (it was an INFO line, unseen, and the user believed runs were
    pruned); the MedianPruner every create_study gets by default is not worth one."""
    config = {
        "method": "custom",
        "metrics": TWO,
        "parameters": {"x": {"min": 0.0, "max": 1.0}},
        "scheduler": {"engine": "optuna", "source": "study.py", "optimizer": optimizer},
    }
    path = write_sweep(tmp_path / "cfg", config, PRUNED_STUDIES)
    with caplog.at_level(logging.INFO, logger="localsweep"):
        sweep = localsweep.run(str(path), two_metric_train, count=1, db=tmp_path / "s.db")
    assert [r.state for r in sweep.runs] == ["finished"]
    said = [r for r in caplog.records if "is not used: Optuna cannot prune" in r.getMessage()]
    assert said and (said[0].levelno == logging.WARNING) is warned
