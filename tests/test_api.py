"""The read API: sweeps and runs as stored, shaped like wandb.Api's objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import localsweep
from localsweep import Api, NotFoundError


def _grid(values: list[Any], goal: str = "minimize", name: str = "loss") -> dict[str, Any]:
    return {
        "method": "grid",
        "metric": {"name": name, "goal": goal},
        "parameters": {"x": {"values": values}},
    }


def _train(config: dict[str, Any]) -> dict[str, float]:
    if config["x"] == 0:
        raise ValueError("x must not be 0")
    return {"loss": float(config["x"]), "acc": 1.0 / config["x"]}


def test_sweeps_are_listed_in_the_order_they_were_created(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    first = localsweep.sweep(_grid([1]), db=db)
    second = localsweep.sweep(_grid([2]), db=db)
    assert [s.id for s in Api(db).sweeps()] == [first, second]


def test_a_new_sweep_is_pending_with_its_config_as_written(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    config = _grid([1, 2])
    sweep = Api(db).sweep(localsweep.sweep(config, project="proj", db=db))
    assert sweep.state == "PENDING"
    assert sweep.finished_reason is None
    # With the distribution W&B's server fills in (tests/test_api_sweep_config.py).
    assert sweep.config == {
        **config,
        "parameters": {"x": {"values": [1, 2], "distribution": "categorical"}},
    }
    assert sweep.project == "proj"
    assert sweep.name == sweep.id
    assert sweep.runs == []


def test_a_sweep_is_found_by_its_wandb_style_path(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    sweep_id = localsweep.sweep(_grid([1]), db=db)
    assert Api(db).sweep(f"my-entity/my-project/{sweep_id}").id == sweep_id


def test_an_unknown_sweep_or_run_raises_not_found(tmp_path: Path) -> None:
    localsweep.sweep(_grid([1]), db=tmp_path / "s.db")
    api = Api(tmp_path / "s.db")
    with pytest.raises(NotFoundError, match="ls-missing"):
        api.sweep("ls-missing")
    with pytest.raises(NotFoundError, match="nope1234"):
        api.run("nope1234")


def test_an_unknown_sweep_or_run_is_a_value_error_as_in_wandb_api(tmp_path: Path) -> None:
    """wandb.Api raises ``RunNotFoundError(ValueError)`` for an unknown run and a
    ``ValueError`` for an unknown sweep: a ported ``except ValueError:`` must still catch."""
    localsweep.sweep(_grid([1]), db=tmp_path / "s.db")
    api = Api(tmp_path / "s.db")
    with pytest.raises(ValueError, match="nope1234"):
        api.run("p/nope1234")
    with pytest.raises(ValueError, match="ls-nope1234"):
        api.sweep("p/ls-nope1234")
    with pytest.raises(KeyError):  # what it was before, still true
        api.run("nope1234")


def test_runs_come_in_creation_order_with_config_state_and_summary(tmp_path: Path) -> None:
    sweep = localsweep.run(_grid([2, 0, 1]), _train, db=tmp_path / "s.db")
    runs = sweep.runs
    assert [r.number for r in runs] == [0, 1, 2]
    assert [r.config for r in runs] == [{"x": 2}, {"x": 0}, {"x": 1}]
    assert [r.state for r in runs] == ["finished", "failed", "finished"]
    assert runs[0].summary == {"loss": 2.0, "acc": 0.5}
    assert runs[0].metric == 2.0
    assert runs[0].exit_code == 0
    assert runs[0].sweep_id == sweep.id
    assert runs[0].name == "run-0"
    assert runs[0].finished_at is not None and runs[0].finished_at >= runs[0].created_at
    assert "x must not be 0" in (runs[1].error or "")
    assert runs[0].history() == [{"loss": 2.0, "acc": 0.5, "_step": 0}]


def test_a_run_is_found_by_id_and_by_wandb_style_path(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    sweep = localsweep.run(_grid([1]), _train, db=db)
    run_id = sweep.runs[0].id
    api = Api(db)
    assert api.run(run_id).config == {"x": 1}
    assert api.run(f"entity/project/{run_id}").id == run_id


def test_best_run_minimizes_the_sweep_metric_over_finished_runs(tmp_path: Path) -> None:
    sweep = localsweep.run(_grid([3, 0, 1, 2]), _train, db=tmp_path / "s.db")
    best = sweep.best_run()
    assert best is not None and best.config == {"x": 1}


def test_best_run_maximizes_when_the_goal_says_so(tmp_path: Path) -> None:
    sweep = localsweep.run(_grid([3, 1, 2], goal="maximize"), _train, db=tmp_path / "s.db")
    best = sweep.best_run()
    assert best is not None and best.config == {"x": 3}


def test_best_run_may_order_by_another_summary_key_as_wandb_does(tmp_path: Path) -> None:
    # wandb's QueryGenerator.format_order_key: no sign or `-` is descending (the largest
    # first), `+` ascending; `summary_metrics.` and `config.` prefixes name where to look.
    sweep = localsweep.run(_grid([3, 1, 2]), _train, db=tmp_path / "s.db")
    ids = {run.config["x"]: run.id for run in sweep.runs}
    for order, x in [
        ("acc", 1),
        ("-acc", 1),
        ("+acc", 3),
        ("summary_metrics.acc", 1),
        ("+summary_metrics.acc", 3),
        ("config.x", 3),
        ("+config.x", 1),
        ("+createdAt", 3),
        ("createdAt", 2),
    ]:
        best = sweep.best_run(order=order)
        assert best is not None and best.id == ids[x], order
    assert sweep.best_run(order="no_such_key") is None


def test_an_order_on_a_define_metric_summary_reads_the_aggregate_it_has(tmp_path: Path) -> None:
    # wandb.define_metric("acc", summary="max") keeps {"max": ...} under the key: an order in
    # either direction ranks by that max, where looking only for the aggregate the direction
    # suggests ("+acc": a min) found no run at all.
    def train(config: dict[str, Any]) -> dict[str, Any]:
        return {"loss": config["x"], "acc": {"max": 0.5 + 0.1 * config["x"]}}

    sweep = localsweep.run(_grid([2, 1, 3]), train, db=tmp_path / "s.db", quiet=True)
    for order, x in [("acc", 3), ("-acc", 3), ("+acc", 1), ("+summary_metrics.acc", 1)]:
        best = sweep.best_run(order=order)
        assert best is not None and best.config == {"x": x}, order


def test_best_run_ordered_by_name_ranks_by_run_id_as_api_runs_does(tmp_path: Path) -> None:
    """W&B's server ``name`` of a run is its id (wandb's ``Run.id`` is ``attrs["name"]``):
    ``best_run(order="name")`` agrees with ``Api.runs(order="-name")``, not with the
    display names' text order (``run-9`` above ``run-11``)."""
    db = tmp_path / "s.db"
    sweep = localsweep.run(_grid(list(range(1, 13))), _train, db=db, quiet=True)
    ids = sorted(run.id for run in sweep.runs)
    api = Api(db)
    for order, expected in [("name", ids[-1]), ("-name", ids[-1]), ("+name", ids[0])]:
        best = sweep.best_run(order=order)
        assert best is not None and best.id == expected, order
    assert api.runs(order="-name")[0].id == ids[-1]
    assert api.runs(order="+name")[0].id == ids[0]


def test_best_run_by_created_at_ranks_by_it_where_wandb_drops_the_key(tmp_path: Path) -> None:
    """wandb 0.31's ``format_order_key`` drops ``createdAt``, ``updatedAt``, ``name`` and
    ``sweep`` (its ``best_run`` then returns the oldest run, whatever the sign); localsweep
    ranks by what was asked, and its docs say both."""
    from wandb.apis.public.query_generator import QueryGenerator

    for key in ("createdAt", "-createdAt", "+updatedAt", "name", "sweep"):
        assert QueryGenerator.format_order_key(key) is None, key
    sweep = localsweep.run(_grid([1, 2, 3]), _train, db=tmp_path / "s.db", quiet=True)
    first, *_, last = [run.id for run in sweep.runs]
    best = [sweep.best_run(order=o) for o in ("createdAt", "-createdAt", "+createdAt")]
    assert [run.id if run else None for run in best] == [last, last, first]
    docs = Path(__file__).parents[1] / "docs"
    assert "returns the sweep's oldest run" in (docs / "python-api.md").read_text()
    assert 'Sweep.best_run(order="createdAt")' in (docs / "differences.md").read_text()


def test_times_are_naive_utc_and_the_documented_ports_of_wandbs_text_hold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """wandb.Api's ``created_at`` is ISO text; localsweep's is a ``datetime`` in UTC
    without a zone (docs/differences.md): ``.isoformat()`` is the text, and
    ``.replace(tzinfo=timezone.utc).timestamp()`` the Unix time, whatever the local zone."""
    import json
    import time
    from datetime import datetime, timezone

    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        before = time.time()
        sweep = localsweep.run(_grid([1]), _train, db=tmp_path / "s.db", quiet=True)
        after = time.time()
        (run,) = Api(tmp_path / "s.db").sweep(sweep.id).runs
        for moment in (run.created_at, run.finished_at, run.heartbeat_at, sweep.created_at):
            assert isinstance(moment, datetime) and moment.tzinfo is None
            unix = moment.replace(tzinfo=timezone.utc).timestamp()
            assert before - 1 <= unix <= after + 1
        text = json.loads(json.dumps({"created": run.created_at.isoformat()}))["created"]
        assert datetime.fromisoformat(text) == run.created_at
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    doc = (Path(__file__).parents[1] / "docs" / "differences.md").read_text()
    assert "`run.created_at.isoformat()` is the port of wandb's text" in doc


def test_best_run_may_order_by_a_text_config_key(tmp_path: Path) -> None:
    """W&B sorts text values too: ``order="config.optimizer"`` is not "no value"."""
    config = {
        "method": "grid",
        "metric": {"name": "loss"},
        "parameters": {"optimizer": {"values": ["sgd", "adam", "rmsprop"]}},
    }
    sweep = localsweep.run(config, lambda c: 1.0, db=tmp_path / "s.db", quiet=True)
    for order, name in [("config.optimizer", "sgd"), ("+config.optimizer", "adam")]:
        best = sweep.best_run(order=order)
        assert best is not None and best.config["optimizer"] == name, order


def test_best_run_is_none_without_a_metric_or_a_finished_run(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    no_metric = {"method": "grid", "parameters": {"x": {"values": [1]}}}
    assert localsweep.run(no_metric, _train, db=db).best_run() is None
    assert localsweep.run(_grid([0]), _train, db=db).best_run() is None


def test_a_finished_sweep_says_why(tmp_path: Path) -> None:
    sweep = localsweep.run(_grid([1, 2]), _train, db=tmp_path / "s.db")
    assert (sweep.state, sweep.finished_reason) == ("FINISHED", "exhausted")


def test_api_reads_localsweep_db_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCALSWEEP_DB", str(tmp_path / "env.db"))
    sweep_id = localsweep.sweep(_grid([1]))
    assert (tmp_path / "env.db").is_file()
    assert [s.id for s in Api().sweeps()] == [sweep_id]


def test_without_any_setting_everything_uses_localsweep_db_in_the_working_directory(
    tmp_path: Path,
) -> None:
    sweep = localsweep.run(_grid([1]), _train)
    assert (tmp_path / "localsweep.db").is_file()
    assert Api().sweep(sweep.id).runs[0].metric == 1.0


def test_a_run_with_wandb_knows_its_offline_folder(tmp_path: Path) -> None:
    import wandb

    def train() -> None:
        with wandb.init() as run:
            run.log({"loss": 1.0})

    sweep = localsweep.run(_grid([1]), train, db=tmp_path / "s.db")
    run = Api(tmp_path / "s.db").sweep(sweep.id).runs[0]
    assert run.dir is not None
    assert Path(run.dir, f"run-{run.id}.wandb").is_file()


@pytest.mark.parametrize("count", [-1, 0, 1.5, True, "3"])
def test_agent_and_run_reject_a_count_that_is_not_a_whole_number_of_runs(
    tmp_path: Path, count: object
) -> None:
    cfg = {"method": "grid", "parameters": {"x": {"values": [1, 2]}}}
    db = tmp_path / "s.db"
    with pytest.raises(ValueError, match="count must be a whole number"):
        localsweep.run(cfg, lambda c: 1.0, count=count, db=db)  # type: ignore[arg-type]
    sweep_id = localsweep.sweep(cfg, db=db)
    with pytest.raises(ValueError, match="count must be a whole number"):
        localsweep.agent(sweep_id, lambda c: 1.0, count=count, db=db)  # type: ignore[arg-type]
    assert localsweep.Api(db).sweep(sweep_id).runs == []


def test_api_on_a_missing_database_creates_nothing(tmp_path: Path) -> None:
    with pytest.raises(localsweep.NotFoundError, match="no localsweep database"):
        localsweep.Api(tmp_path / "typo" / "s.db").sweeps()
    assert list(tmp_path.iterdir()) == []


def test_run_config_is_every_key_the_run_set_and_params_the_sweeps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import wandb

    monkeypatch.chdir(tmp_path)

    def train() -> None:
        with wandb.init(config={"epochs": 7, "model": {"depth": 3}}) as run:
            run.config.update({"seed": 11})
            wandb.log({"loss": run.config.x})

    sweep = localsweep.run(_grid([2]), train, db=tmp_path / "s.db", quiet=True)
    (run,) = sweep.runs
    assert run.params == {"x": 2}
    assert run.config == {"x": 2, "epochs": 7, "model": {"depth": 3}, "seed": 11}
    # a train(config) run has no wandb file: its config is its parameters
    (plain,) = localsweep.run(_grid([3]), _train, db=tmp_path / "s.db", quiet=True).runs
    assert plain.config == plain.params == {"x": 3}


def test_run_config_waits_for_wandbs_last_write_of_a_run_that_just_ended(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """wandb-core writes a run's file in bursts, and its last one can land just after
    run.finish() returns; read at that moment, a short run's file holds nothing yet."""
    import threading

    import wandb

    monkeypatch.chdir(tmp_path)

    def train() -> None:
        with wandb.init(config={"epochs": 7}) as run:
            wandb.log({"loss": run.config.x})

    (ended,) = localsweep.run(_grid([2]), train, db=tmp_path / "s.db", quiet=True).runs
    path = Path(ended.dir or "") / f"run-{ended.id}.wandb"
    written = path.read_bytes()
    path.write_bytes(written[:7])  # as on disk before wandb-core's last write: the header
    late = threading.Timer(0.5, path.write_bytes, args=(written,))
    late.start()
    try:
        (run,) = Api(tmp_path / "s.db").sweep(ended.sweep_id).runs  # a fresh read
        assert run.config == {"x": 2, "epochs": 7}
    finally:
        late.join()


def test_sweep_takes_entity_then_project_in_wandb_sweeps_order(tmp_path: Path) -> None:
    """``wandb.sweep(sweep, entity=None, project=None, prior_runs=None)``: a call ported
    with its arguments by position files the sweep under the same entity and project."""
    db = str(tmp_path / "s.db")
    sweep = Api(db).sweep(localsweep.sweep(_grid([1]), "my-team", "my-project", db=db))
    assert (sweep.entity, sweep.project) == ("my-team", "my-project")


def test_history_and_scan_history_take_wandb_apis_arguments(tmp_path: Path) -> None:
    """Scripts written for wandb.Api call ``history(keys=..., samples=...)`` and
    ``scan_history(...)``: the same arguments pick the same rows here."""
    import wandb

    def train() -> None:
        with wandb.init() as run:
            for i in range(10):
                row = {"loss": float(i)}
                if i % 2 == 0:
                    row["acc"] = i / 10
                run.log(row)

    db = str(tmp_path / "s.db")
    (run,) = localsweep.run(_grid([1]), train, db=db, quiet=True).runs
    assert len(run.history()) == 10
    with_acc = run.history(keys=["acc"])
    assert with_acc == [{"acc": i / 10, "_step": i} for i in range(0, 10, 2)]
    sampled = run.history(samples=3)
    assert [r["_step"] for r in sampled] == [0, 4, 9]  # evenly spread, first and last kept
    assert [r["_step"] for r in run.scan_history(min_step=3, max_step=6)] == [3, 4, 5]
    assert [r["loss"] for r in run.scan_history(keys=["loss"], page_size=2)] == [
        float(i) for i in range(10)
    ]
    with pytest.raises(ValueError, match=r"keys=\['acc'\]"):
        run.history(keys="acc")  # type: ignore[arg-type]
    try:
        import pandas  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install pandas"):
            run.history(pandas=True)
    else:
        assert len(run.history(pandas=True)) == 10
