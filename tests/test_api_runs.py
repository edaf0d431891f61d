"""``Api.runs`` as wandb.Api's: a project's runs, MongoDB-style filters and order evaluated
over the database, and the run's and sweep's wandb paths, W&B addresses and reloads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import localsweep
from localsweep import Api


def _grid(values: list[Any], goal: str = "minimize") -> dict[str, Any]:
    return {
        "method": "grid",
        "metric": {"name": "loss", "goal": goal},
        "parameters": {"lr": {"values": values}, "opt": {"values": [{"name": "adam"}]}},
    }


def _train(config: dict[str, Any]) -> dict[str, float]:
    if config["lr"] == 0:
        raise ValueError("lr must not be 0")
    return {"loss": config["lr"] * 10, "acc": 1 - config["lr"]}


@pytest.fixture
def db(tmp_path: Path) -> str:
    """Two sweeps in project ``vision`` (entity ``team``), one in ``audio`` (no entity)."""
    path = str(tmp_path / "s.db")
    localsweep.run(
        _grid([0.3, 0.1, 0]), _train, project="vision", entity="team", db=path, quiet=True
    )
    localsweep.run(_grid([0.2]), _train, project="vision", entity="team", db=path, quiet=True)
    localsweep.run(_grid([0.5]), _train, project="audio", db=path, quiet=True)
    return path


def _lrs(runs: list[localsweep.Run]) -> list[float]:
    return [run.config["lr"] for run in runs]


def test_runs_lists_every_run_of_the_database_oldest_first(db: str) -> None:
    assert _lrs(Api(db).runs()) == [0.3, 0.1, 0, 0.2, 0.5]


def test_runs_of_a_project_path_as_wandb_names_it(db: str) -> None:
    api = Api(db)
    assert _lrs(api.runs("vision")) == [0.3, 0.1, 0, 0.2]
    assert _lrs(api.runs("team/vision")) == [0.3, 0.1, 0, 0.2]
    assert api.runs("other-team/vision") == []
    # a sweep made without an entity is uploaded to whoever's default entity: any matches
    assert _lrs(api.runs("someone/audio")) == [0.5]
    assert api.runs("no-such-project") == []


def test_filters_select_by_sweep_state_config_and_summary(db: str) -> None:
    api = Api(db)
    first = api.sweeps()[0].id
    assert _lrs(api.runs("team/vision", filters={"sweep": first})) == [0.3, 0.1, 0]
    assert _lrs(api.runs(filters={"state": "failed"})) == [0]
    assert _lrs(api.runs(filters={"config.lr": 0.1})) == [0.1]
    assert _lrs(api.runs(filters={"config.lr.value": {"$gte": 0.3}})) == [0.3, 0.5]
    assert len(api.runs(filters={"config.opt.value.name": "adam"})) == 5
    assert len(api.runs(filters={"config.opt.name": "adam"})) == 5
    assert _lrs(api.runs(filters={"summary_metrics.loss": {"$lt": 2.5}})) == [0.1, 0.2]
    assert _lrs(api.runs(filters={"summary_metrics.loss": {"$exists": False}})) == [0]


def test_filters_combine_with_mongodb_operators(db: str) -> None:
    api = Api(db)
    assert _lrs(
        api.runs(filters={"$or": [{"config.lr": 0.3}, {"summary_metrics.acc": {"$gt": 0.85}}]})
    ) == [0.3, 0.1]
    assert _lrs(
        api.runs(filters={"$and": [{"state": "finished"}, {"config.lr": {"$in": [0.1, 0.5]}}]})
    ) == [0.1, 0.5]
    assert _lrs(api.runs(filters={"$nor": [{"state": "failed"}, {"config.lr": 0.5}]})) == [
        0.3,
        0.1,
        0.2,
    ]
    assert _lrs(api.runs(filters={"config.lr": {"$not": {"$lt": 0.3}}})) == [0.3, 0.5]
    assert _lrs(api.runs(filters={"config.lr": {"$nin": [0, 0.1], "$ne": 0.5}})) == [0.3, 0.2]
    assert _lrs(api.runs(filters={"display_name": {"$regex": "^run-[12]$"}})) == [0.1, 0]
    assert _lrs(api.runs(filters={"state": {"$eq": "finished"}, "config.lr": {"$lte": 0.2}})) == [
        0.1,
        0.2,
    ]


def test_filters_on_created_at_take_wandbs_iso_text(db: str) -> None:
    api = Api(db)
    runs = api.runs()
    since = runs[3].created_at.isoformat() + "Z"
    assert _lrs(api.runs(filters={"created_at": {"$gte": since}})) == [0.2, 0.5]
    assert _lrs(api.runs(filters={"createdAt": {"$lt": "2000-01-01T00:00:00Z"}})) == []


@pytest.mark.parametrize(
    ("filters", "said"),
    [
        ({"tags": "best"}, "keeps no run tags"),
        ({"host": "gpu1"}, "'host' is not supported; supported keys: state, sweep"),
        ({"state": {"$size": 1}}, r"\$size .* is not supported; supported: \$and"),
        ({"$where": "1"}, r"\$where is not supported"),
        ({"$or": {"state": "finished"}}, r"\$or takes a list"),
        # an operator typed without its $ beside real ones: MongoDB refuses such an object
        (
            {"config.lr": {"$gte": 0.1, "lte": 0.3}},
            r"plain key 'lte' \(an operator starts with \$: '\$lte'\?\)",
        ),
        ({"$and": [{"config.lr": {"gt": 0.1, "$lt": 1}}]}, r"plain key 'gt'"),
    ],
)
def test_an_unsupported_filter_is_a_clear_error_not_an_empty_list(
    db: str, filters: dict[str, Any], said: str
) -> None:
    with pytest.raises(ValueError, match=said):
        Api(db).runs(filters=filters)


def test_order_sorts_as_wandbs_runs_order(db: str) -> None:
    api = Api(db)
    assert _lrs(api.runs(order="-created_at")) == [0.5, 0.2, 0, 0.1, 0.3]
    # runs without the value come last whichever the direction
    assert _lrs(api.runs(order="-summary_metrics.loss")) == [0.5, 0.3, 0.2, 0.1, 0]
    assert _lrs(api.runs(order="+summary_metrics.loss")) == [0.1, 0.2, 0.3, 0.5, 0]
    assert _lrs(api.runs(order="config.lr")) == [0, 0.1, 0.2, 0.3, 0.5]
    assert _lrs(api.runs("vision", order="-config.lr.value")) == [0.3, 0.2, 0.1, 0]
    with pytest.raises(ValueError, match="'bogus' is not supported"):
        api.runs(order="+bogus")


def test_runs_are_listed_once_prior_copies_are_not(tmp_path: Path) -> None:
    """A prior run given to a sweep is a copy of a run done before: W&B lists each run of
    a project once, so ``Api.runs`` lists the original only."""
    db = str(tmp_path / "s.db")
    grid = {
        "method": "grid",
        "metric": {"name": "loss"},
        "parameters": {"lr": {"values": [0.1, 0.2]}},
    }
    old = localsweep.run(grid, _train, project="p", db=db, quiet=True)
    grid["parameters"]["lr"]["values"].append(0.3)  # type: ignore[index]
    new = localsweep.run(grid, _train, project="p", db=db, prior_runs=[old.id], quiet=True)
    assert len(new.prior_runs) == 2
    listed = Api(db).runs("p")
    assert [run.sweep.id for run in listed] == [old.id, old.id, new.id]
    assert not any(run.prior for run in listed)


def test_a_run_knows_its_wandb_path_project_entity_and_sweep(db: str) -> None:
    api = Api(db)
    run = api.runs("vision")[0]
    assert (run.entity, run.project) == ("team", "vision")
    assert run.path == ["team", "vision", run.id]
    assert api.run("/".join(run.path)).id == run.id
    assert api.run(f"vision:{run.id}").id == api.run(f"team/vision/runs/{run.id}").id == run.id
    assert run.sweep.id == run.sweep_id == run.sweep_name
    assert run.sweep.config["parameters"] == {
        "lr": {"values": [0.3, 0.1, 0], "distribution": "categorical"},
        "opt": {"values": [{"name": "adam"}], "distribution": "categorical"},
    }
    assert run.summary_metrics == run.summary
    assert run.lastHistoryStep == 0
    unfiled = api.runs("audio")[0]
    assert (unfiled.entity, unfiled.path[0]) == (None, "")


def test_a_sweep_knows_its_path_expected_run_count_and_order(db: str) -> None:
    api = Api(db)
    sweep = api.sweeps()[0]
    assert sweep.path == ["team", "vision", sweep.id]
    assert sweep.expected_run_count == 3  # the grid's points
    assert sweep.order == "+summary_metrics.loss"
    assert api.sweep(f"vision:{sweep.id}").id == sweep.id
    assert api.sweep(f"team/vision:{sweep.id}").id == sweep.id
    assert api.sweep(f"team/vision/sweeps/{sweep.id}").id == sweep.id


def test_expected_run_count_is_the_run_cap_or_none_without_an_end(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    random = {"method": "random", "parameters": {"lr": {"min": 0.0, "max": 1.0}}}
    api = Api(db)
    assert api.sweep(localsweep.sweep(random, db=db)).expected_run_count is None
    capped = api.sweep(localsweep.sweep({**random, "run_cap": 7}, db=db))
    assert capped.expected_run_count == 7
    grid = api.sweep(localsweep.sweep({**_grid([1, 2, 3]), "run_cap": 2}, db=db))
    assert grid.expected_run_count == 2
    maximize = api.sweep(localsweep.sweep(_grid([1], goal="maximize"), db=db))
    assert maximize.order == "-summary_metrics.loss"
    assert api.sweep(localsweep.sweep(random, db=db)).order is None


def test_urls_are_none_offline_and_the_w_and_b_pages_once_synced(db: str) -> None:
    """``localsweep sync`` records the server's sweep and each uploaded run; the addresses
    are the pages W&B gives them (its app host, without ``api.``)."""
    from localsweep.store import Store, _sync_state

    api = Api(db)
    sweep = api.sweeps()[0]
    synced, failed, _ = sweep.runs
    assert (sweep.url, synced.url) == (None, None)
    store = Store(db)
    try:
        target = _sync_state.save_target(
            store.engine,
            sweep_id=sweep.id,
            base_url="https://api.wandb.ai",
            entity="team",
            project="vision",
            server_sweep_id="abc123xy",
        )
        _sync_state.record_run_outcome(store.engine, target.id, synced.id, "synced")
        _sync_state.record_run_outcome(store.engine, target.id, failed.id, "failed")
    finally:
        store.close()
    assert sweep.url == "https://wandb.ai/team/vision/sweeps/abc123xy"
    assert synced.url == f"https://wandb.ai/team/vision/runs/{synced.id}"
    assert failed.url is None


def test_load_reads_the_sweep_and_the_run_again(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    sweep_id = localsweep.sweep(_grid([0.1, 0.2]), db=db)
    sweep = Api(db).sweep(sweep_id)
    assert (sweep.state, sweep.runs) == ("PENDING", [])
    localsweep.agent(sweep_id, _train, count=1, db=db, quiet=True)
    assert sweep.state == "PENDING"  # a snapshot, as documented
    assert sweep.load(force=True) is sweep
    assert sweep.state == "RUNNING" and len(sweep.runs) == 1
    (run,) = sweep.runs
    run_again = Api(db).run(run.id)
    localsweep.agent(sweep_id, _train, db=db, quiet=True)
    assert sweep.load().state == "FINISHED" and len(sweep.runs) == 2
    assert run_again.load().summary == {"loss": 1.0, "acc": 0.9}


def test_order_puts_nan_values_after_every_number_either_way(tmp_path: Path) -> None:
    """A diverged run's NaN loss ranks with the runs without a loss: the finite values stay
    in order, and a "top k" (``order="+summary_metrics.loss"``, then ``[:k]``) never
    starts with it."""
    db = str(tmp_path / "s.db")
    losses = [0.5, float("nan"), 0.1, 0.9, float("nan"), 0.3, 0.2]
    grid = {"method": "grid", "parameters": {"i": {"values": list(range(7))}}}
    localsweep.run(grid, lambda c: {"loss": losses[c["i"]]}, project="p", db=db, quiet=True)

    def order(key: str) -> list[int]:
        return [run.config["i"] for run in Api(db).runs("p", order=key)]

    assert order("+summary_metrics.loss") == [2, 6, 5, 0, 3, 1, 4]
    assert order("-summary_metrics.loss") == [3, 0, 5, 6, 2, 1, 4]


def test_order_and_filters_read_a_define_metric_summary_as_best_run_does(
    tmp_path: Path,
) -> None:
    """``define_metric("acc", summary="max")`` keeps ``{"max": ...}`` under ``acc``: the
    docs' own ``order="-summary_metrics.acc"`` ranks by that max, as ``best_run`` does, and
    a filter compares the max (not the last value logged)."""
    import wandb

    def train() -> None:
        with wandb.init() as run:
            wandb.define_metric("acc", summary="max")
            run.log({"acc": run.config.a, "loss": 1 - run.config.a})
            run.log({"acc": run.config.a / 10})  # the last value is not the max

    db = str(tmp_path / "s.db")
    grid = {
        "method": "grid",
        "metric": {"name": "loss"},
        "parameters": {"a": {"values": [0.2, 0.9, 0.5]}},
    }
    sweep = localsweep.run(grid, train, project="p", db=db, quiet=True)
    api = Api(db)
    assert [r.summary["acc"] for r in api.runs("p")] == [{"max": 0.2}, {"max": 0.9}, {"max": 0.5}]

    def a(runs: list[localsweep.Run]) -> list[float]:
        return [run.config["a"] for run in runs]

    assert a(api.runs("p", order="-summary_metrics.acc")) == [0.9, 0.5, 0.2]
    assert a(api.runs("p", order="+summary_metrics.acc")) == [0.2, 0.5, 0.9]
    best = sweep.best_run(order="-summary_metrics.acc")
    assert best is not None and best.id == api.runs("p", order="-summary_metrics.acc")[0].id
    assert a(api.runs("p", filters={"summary_metrics.acc": {"$gt": 0.4}})) == [0.9, 0.5]
    assert a(api.runs("p", filters={"summary_metrics.acc": 0.5})) == [0.5]
    # the aggregate itself is still a key of its own
    assert a(api.runs("p", filters={"summary_metrics.acc.max": {"$lt": 0.4}})) == [0.2]


def test_best_run_on_the_sweep_metric_against_its_goal_agrees_with_api_runs(
    tmp_path: Path,
) -> None:
    """``define_metric("loss", summary="min,max")`` on a minimized sweep metric:
    ``best_run(order="-summary_metrics.loss")`` asks for the largest max, as
    ``Api.runs(order=...)`` ranks it, not for the largest min; in the goal's own direction
    both read the min."""
    import wandb

    curves = {0: [5, 1, 9], 1: [3, 3, 3], 2: [8, 0.5, 2], 3: [2, 10, 4]}

    def train() -> None:
        with wandb.init() as run:
            run.define_metric("loss", summary="min,max")
            for value in curves[run.config.k]:
                run.log({"loss": float(value)})

    db = str(tmp_path / "s.db")
    grid = {
        "method": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"k": {"values": [0, 1, 2, 3]}},
    }
    sweep = localsweep.run(grid, train, project="p", db=db, quiet=True)
    api = Api(db)
    for order, k in (("-summary_metrics.loss", 3), ("+summary_metrics.loss", 2)):
        best = sweep.best_run(order=order)
        assert best is not None and best.config["k"] == k, order
        assert api.runs("p", order=order)[0].config["k"] == k, order
    best = sweep.best_run()
    assert best is not None and best.config["k"] == 2
