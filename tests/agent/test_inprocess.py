"""The in-process agent with real wandb (offline): what the user's code sees, what the store
keeps, how runs end, and how the sweep ends."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import wandb

import localsweep
from localsweep import AgentError
from localsweep.wandb_bridge._datastore import RunFileSummary, wait_for_exit_record

HELPERS = Path(__file__).parents[1] / "helpers"


def grid(values: list[Any], **top: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "method": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"x": {"values": values}},
    }
    config.update(top)
    return config


def _run_file(folder: str | Path | None, run_id: str) -> RunFileSummary:
    """The run file of a finished run (wandb-core may write its end just after finish())."""
    assert folder is not None
    return wait_for_exit_record(Path(folder) / f"run-{run_id}.wandb", timeout=60)


def _user_keys(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in ("_runtime", "_timestamp")}


# ------------------------------------------------------------------ what train() sees


def test_sweep_values_win_over_init_defaults_and_nested_dicts_merge(tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []

    def train() -> None:
        defaults = {"lr": 0.5, "epochs": 7, "opt": {"momentum": 0.8, "name": "sgd"}}
        with wandb.init(config=defaults) as run:
            seen.append(dict(run.config))

    config = {
        "method": "grid",
        "parameters": {
            "lr": {"values": [0.1]},
            "opt": {"parameters": {"name": {"values": ["adam"]}}},
        },
    }
    localsweep.run(config, train, db=tmp_path / "s.db")
    assert seen == [{"lr": 0.1, "epochs": 7, "opt": {"momentum": 0.8, "name": "adam"}}]


def test_each_run_gets_its_own_values_through_wandb_config(tmp_path: Path) -> None:
    seen: list[Any] = []

    def train() -> None:
        wandb.init()
        seen.append(wandb.config.x)
        wandb.finish()

    localsweep.run(grid([1, 2, 3]), train, db=tmp_path / "s.db")
    assert seen == [1, 2, 3]


def test_a_run_left_open_by_train_is_finished_for_it(tmp_path: Path) -> None:
    def train() -> None:
        run = wandb.init()
        run.log({"loss": run.config["x"]})

    sweep = localsweep.run(grid([1, 2]), train, db=tmp_path / "s.db")
    assert [r.state for r in sweep.runs] == ["finished", "finished"]
    assert [r.summary["loss"] for r in sweep.runs] == [1, 2]
    assert wandb.run is None


def test_inside_train_the_run_belongs_to_the_sweep_and_the_project(tmp_path: Path) -> None:
    seen: list[tuple[str | None, str]] = []

    def train() -> None:
        with wandb.init() as run:
            seen.append((run.sweep_id, run.project))

    sweep = localsweep.run(grid([1]), train, project="my-proj", db=tmp_path / "s.db")
    assert seen == [(sweep.id, "my-proj")]


def test_inside_train_the_wandb_run_id_is_the_stored_run_id(tmp_path: Path) -> None:
    seen: list[str] = []

    def train() -> None:
        with wandb.init() as run:
            seen.append(run.id)

    sweep = localsweep.run(grid([1, 2]), train, db=tmp_path / "s.db")
    assert seen == [r.id for r in sweep.runs]


def test_a_plain_wandb_init_after_the_sweep_inherits_nothing(tmp_path: Path) -> None:
    def train() -> None:
        with wandb.init() as run:
            run.log({"loss": 1.0})

    sweep = localsweep.run(grid([1]), train, db=tmp_path / "s.db")
    run = wandb.init()
    try:
        assert run.id != sweep.runs[0].id
        assert dict(run.config) == {}
        assert run.sweep_id is None
    finally:
        run.finish()


# ------------------------------------------------------------------ what the store keeps


def _log_everything() -> None:
    run = wandb.init()
    wandb.log({"loss": 3.0})
    run.log({"acc": 0.1}, commit=False)
    run.log({"loss": 2.0})
    wandb.log({"loss": 1.5, "val": {"loss": 9}}, step=5)
    run.log({"lr": 0.01})
    # Below the current step: wandb drops it with a warning.
    wandb.log({"loss": -100.0}, step=2)
    wandb.log({"loss": 1.0}, step=8)
    # step= with commit=True: the row is committed at once (the next is step 10).
    run.log({"acc": 0.2}, step=9, commit=False)
    run.log({"loss": 0.5}, step=9, commit=True)
    run.log({"loss": 0.25}, step=10, commit=True)
    run.log({"loss": 0.125})
    run.finish()


def test_history_keeps_every_row_in_order_with_its_step(tmp_path: Path) -> None:
    sweep = localsweep.run(grid([1]), _log_everything, db=tmp_path / "s.db")
    assert sweep.runs[0].history() == [
        {"loss": 3.0, "_step": 0},
        {"acc": 0.1, "loss": 2.0, "_step": 1},
        {"loss": 1.5, "val": {"loss": 9}, "lr": 0.01, "_step": 5},
        {"loss": 1.0, "_step": 8},
        {"acc": 0.2, "loss": 0.5, "_step": 9},
        {"loss": 0.25, "_step": 10},
        {"loss": 0.125, "_step": 11},
    ]


def test_history_matches_the_wandb_run_file(tmp_path: Path) -> None:
    sweep = localsweep.run(grid([1]), _log_everything, db=tmp_path / "s.db")
    run = sweep.runs[0]
    on_disk = _run_file(run.dir, run.id)
    assert [_user_keys(dict(r)) for r in on_disk.history] == run.history()


def test_a_log_at_an_already_committed_step_is_dropped_as_wandb_drops_it(tmp_path: Path) -> None:
    def train() -> None:
        run = wandb.init()
        run.log({"loss": 1.0}, step=3)
        run.log({"acc": 0.5})  # commits step 3
        run.log({"loss": -1.0}, step=3)  # dropped by wandb
        run.finish()

    sweep = localsweep.run(grid([1]), train, db=tmp_path / "s.db")
    assert sweep.runs[0].history() == [{"loss": 1.0, "acc": 0.5, "_step": 3}]


def test_the_summary_holds_last_values_and_assigned_keys(tmp_path: Path) -> None:
    def train() -> None:
        with wandb.init() as run:
            run.log({"loss": 2.0})
            run.log({"loss": 0.5})
            run.summary["best_loss"] = 0.25
            wandb.summary["note"] = "done"

    sweep = localsweep.run(grid([1]), train, db=tmp_path / "s.db")
    run = sweep.runs[0]
    assert run.summary["loss"] == 0.5
    assert run.summary["best_loss"] == 0.25
    assert run.summary["note"] == "done"
    assert run.metric == 0.5


def test_the_metric_can_be_set_through_the_summary_alone(tmp_path: Path) -> None:
    def train() -> None:
        with wandb.init() as run:
            run.log({"loss": 5.0})
            run.summary["loss"] = 0.125

    sweep = localsweep.run(grid([1]), train, db=tmp_path / "s.db")
    assert sweep.runs[0].metric == 0.125


def test_a_nested_metric_is_read_from_nested_logs(tmp_path: Path) -> None:
    def train() -> None:
        with wandb.init() as run:
            run.log({"val": {"loss": 10.0 * run.config["x"], "acc": 0.5}})

    config = grid([2, 1], metric={"name": "val.loss", "goal": "minimize"})
    sweep = localsweep.run(config, train, db=tmp_path / "s.db")
    assert [r.metric for r in sweep.runs] == [20.0, 10.0]
    assert sweep.runs[1].summary["val"] == {"loss": 10.0, "acc": 0.5}
    best = sweep.best_run()
    assert best is not None and best.config == {"x": 1}


def test_each_run_has_its_own_offline_folder_with_its_run_file(tmp_path: Path) -> None:
    def train() -> None:
        with wandb.init() as run:
            run.log({"loss": run.config["x"]})

    sweep = localsweep.run(grid([1, 2, 3]), train, project="p", db=tmp_path / "s.db")
    dirs = [Path(r.dir) for r in sweep.runs if r.dir]
    assert len(set(dirs)) == 3
    for run, folder in zip(sweep.runs, dirs, strict=True):
        assert folder.parent == tmp_path / "wandb"
        assert folder.name.startswith("offline-run-") and folder.name.endswith(run.id)
        on_disk = _run_file(folder, run.id)
        assert on_disk.sweep_id == sweep.id
        assert on_disk.project == "p"
        assert on_disk.exit_code == 0


def test_train_taking_config_may_return_the_metric(tmp_path: Path) -> None:
    sweep = localsweep.run(grid([3, 1, 2]), lambda config: config["x"] * 2, db=tmp_path / "s.db")
    assert [r.metric for r in sweep.runs] == [6, 2, 4]
    best = sweep.best_run()
    assert best is not None and best.config == {"x": 1}


def test_train_taking_config_may_return_a_dict_of_metrics(tmp_path: Path) -> None:
    def train(config: dict[str, Any]) -> dict[str, Any]:
        return {"loss": config["x"] / 10, "acc": 1 - config["x"] / 10}

    sweep = localsweep.run(grid([1, 2]), train, db=tmp_path / "s.db")
    assert [r.summary for r in sweep.runs] == [
        {"loss": 0.1, "acc": 0.9},
        {"loss": 0.2, "acc": 0.8},
    ]
    assert [r.history() for r in sweep.runs] == [
        [{"loss": 0.1, "acc": 0.9, "_step": 0}],
        [{"loss": 0.2, "acc": 0.8, "_step": 0}],
    ]
    assert [r.metric for r in sweep.runs] == [0.1, 0.2]


# ------------------------------------------------------------------ how runs end


def test_a_run_that_raises_fails_with_its_traceback_and_the_sweep_goes_on(tmp_path: Path) -> None:
    def train() -> None:
        with wandb.init() as run:
            if run.config["x"] == 2:
                raise ValueError("bad x")
            run.log({"loss": run.config["x"]})

    sweep = localsweep.run(grid([1, 2, 3]), train, db=tmp_path / "s.db")
    assert [r.state for r in sweep.runs] == ["finished", "failed", "finished"]
    failed = sweep.runs[1]
    assert failed.error is not None
    assert "Traceback" in failed.error and "ValueError: bad x" in failed.error
    assert failed.exit_code == 1
    assert sweep.state == "FINISHED"


def test_a_failed_wandb_run_is_written_as_failed_in_its_run_file(tmp_path: Path) -> None:
    def train() -> None:
        with wandb.init():
            raise RuntimeError("boom")

    sweep = localsweep.run(grid([1]), train, db=tmp_path / "s.db")
    run = sweep.runs[0]
    assert _run_file(run.dir, run.id).exit_code == 1


def test_too_many_failures_in_a_row_stop_the_agent_with_a_clear_error(tmp_path: Path) -> None:
    calls: list[int] = []

    def train(config: dict[str, Any]) -> None:
        calls.append(config["x"])
        raise RuntimeError(f"always broken ({config['x']})")

    sweep_id = localsweep.sweep(grid(list(range(10))), db=tmp_path / "s.db")
    with pytest.raises(AgentError) as info:
        localsweep.agent(sweep_id, train, db=tmp_path / "s.db", max_consecutive_failures=3)
    message = str(info.value)
    assert "3 runs in a row failed" in message
    assert "always broken (2)" in message
    assert calls == [0, 1, 2]


def test_a_success_between_failures_resets_the_failure_count(tmp_path: Path) -> None:
    def train(config: dict[str, Any]) -> float:
        if config["x"] % 2 == 0:
            raise RuntimeError("even")
        return config["x"]

    report = localsweep.agent(
        localsweep.sweep(grid(list(range(6))), db=tmp_path / "s.db"),
        train,
        db=tmp_path / "s.db",
        max_consecutive_failures=2,
    )
    assert report.states == {"failed": 3, "finished": 3}


def test_sys_exit_0_finishes_the_run(tmp_path: Path) -> None:
    def train() -> None:
        run = wandb.init()
        run.log({"loss": 1.0})
        sys.exit(0)

    sweep = localsweep.run(grid([1]), train, db=tmp_path / "s.db")
    run = sweep.runs[0]
    assert (run.state, run.exit_code, run.error) == ("finished", 0, None)
    assert run.history() == [{"loss": 1.0, "_step": 0}]
    # and wandb's own file agrees, so the run syncs to W&B as finished, not failed
    assert _offline_exit_code(run) == 0


def test_sys_exit_nonzero_fails_the_run_with_its_code(tmp_path: Path) -> None:
    def train() -> None:
        wandb.init()
        sys.exit(3)

    sweep = localsweep.run(grid([1, 2]), train, db=tmp_path / "s.db")
    assert [(r.state, r.exit_code) for r in sweep.runs] == [("failed", 3), ("failed", 3)]
    assert "sys.exit(3)" in (sweep.runs[0].error or "")
    assert _offline_exit_code(sweep.runs[0]) == 3


def _offline_exit_code(run: localsweep.Run) -> int | None:
    from localsweep.wandb_bridge import find_run_file, wait_for_exit_record

    assert run.dir is not None
    run_file = find_run_file(run.dir)
    assert run_file is not None
    return wait_for_exit_record(run_file, timeout=30).exit_code


@pytest.mark.slow
def test_ctrl_c_marks_the_current_run_killed_and_keeps_the_rest(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    started = tmp_path / "started"
    proc = subprocess.Popen(
        [sys.executable, str(HELPERS / "run_until_signal.py"), str(db), str(started)],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for(started, proc)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode != 0, stderr.decode()
    (sweep,) = localsweep.Api(db).sweeps()
    runs = sweep.runs
    assert [r.state for r in runs] == ["finished", "finished", "killed"]
    assert [r.metric for r in runs[:2]] == [0.0, 1.0]
    assert runs[2].history() == [{"loss": 2.0, "_step": 0}]
    assert "Ctrl-C" in (runs[2].error or "")
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def _wait_for(path: Path, proc: subprocess.Popen[bytes]) -> None:
    import time

    deadline = time.monotonic() + 120
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read().decode() if proc.stderr else "exited")
        assert time.monotonic() < deadline, "the helper never started its third run"
        time.sleep(0.05)


# ------------------------------------------------------------------ how the sweep ends


def test_count_none_runs_every_grid_point_once_and_finishes_the_sweep(tmp_path: Path) -> None:
    seen: list[int] = []

    def train(config: dict[str, Any]) -> float:
        seen.append(config["x"])
        return config["x"]

    sweep = localsweep.run(grid([4, 5, 6, 7]), train, count=None, db=tmp_path / "s.db")
    assert seen == [4, 5, 6, 7]
    assert (sweep.state, sweep.finished_reason) == ("FINISHED", "exhausted")


def test_a_grid_ends_when_exhausted_whatever_count_says(tmp_path: Path) -> None:
    sweep = localsweep.run(grid([1, 2, 3]), lambda c: c["x"], count=50, db=tmp_path / "s.db")
    assert len(sweep.runs) == 3
    assert sweep.finished_reason == "exhausted"


def test_count_caps_the_runs_of_one_agent(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    sweep = localsweep.run(grid([1, 2, 3, 4]), lambda c: c["x"], count=3, db=db)
    assert len(sweep.runs) == 3
    assert sweep.state == "RUNNING"
    report = localsweep.agent(sweep.id, lambda c: c["x"], db=db)
    assert len(report.runs) == 1
    assert localsweep.Api(db).sweep(sweep.id).finished_reason == "exhausted"


def test_run_cap_stops_a_random_sweep_with_no_count(tmp_path: Path) -> None:
    config = {
        "method": "random",
        "run_cap": 3,
        "metric": {"name": "loss"},
        "parameters": {"x": {"min": 0.0, "max": 1.0}},
    }
    sweep = localsweep.run(config, lambda c: c["x"], count=None, db=tmp_path / "s.db")
    assert len(sweep.runs) == 3
    assert (sweep.state, sweep.finished_reason) == ("FINISHED", "run_cap")


def test_reaching_the_target_finishes_the_sweep_and_starts_no_new_run(tmp_path: Path) -> None:
    seen: list[int] = []

    def train(config: dict[str, Any]) -> float:
        seen.append(config["x"])
        return config["x"]

    config = grid([5, 4, 3, 2, 1], metric={"name": "loss", "goal": "minimize", "target": 3})
    sweep = localsweep.run(config, train, count=None, db=tmp_path / "s.db")
    assert seen == [5, 4, 3]
    assert (sweep.state, sweep.finished_reason) == ("FINISHED", "target_reached")


def test_a_target_reached_by_a_logged_value_counts_too(tmp_path: Path) -> None:
    def train() -> None:
        with wandb.init() as run:
            run.log({"acc": 0.99 if run.config["x"] == 2 else 0.5})
            run.log({"acc": 0.1})  # the summary is worse than the best logged value

    config = grid([1, 2, 3], metric={"name": "acc", "goal": "maximize", "target": 0.95})
    sweep = localsweep.run(config, train, count=None, db=tmp_path / "s.db")
    assert len(sweep.runs) == 2
    assert sweep.finished_reason == "target_reached"


def test_an_agent_on_a_finished_sweep_runs_nothing(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    sweep = localsweep.run(grid([1]), lambda c: c["x"], db=db)
    calls: list[Any] = []
    report = localsweep.agent(sweep.id, calls.append, db=db)
    assert calls == []
    assert report.runs == []
    assert report.stop_reason == "exhausted"


def test_on_run_end_sees_every_run_as_recorded(tmp_path: Path) -> None:
    ended: list[tuple[str, Any]] = []
    sweep = localsweep.run(
        grid([1, 2]),
        lambda c: c["x"],
        db=tmp_path / "s.db",
        on_run_end=lambda r: ended.append((r.state.value, r.metric)),
    )
    assert ended == [("finished", 1), ("finished", 2)]
    assert len(sweep.runs) == 2


def test_a_config_function_that_calls_wandb_init_is_told_its_logs_are_not_the_sweeps(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # train(config) gets no wandb run of the sweep (docs/python-api.md): a wandb.init() of
    # its own is a run outside the sweep. Its metric is lost to the sweep, so say why, once.
    def train(config: dict[str, Any]) -> None:
        with wandb.init() as run:
            run.log({"loss": float(config["x"])})

    init = wandb.init
    with caplog.at_level("WARNING", logger="localsweep"):
        sweep = localsweep.run(grid([1, 2]), train, db=tmp_path / "s.db", quiet=True)
    said = [r.getMessage() for r in caplog.records if "called wandb.init()" in r.getMessage()]
    assert len(said) == 1, said
    assert said[0].startswith("train(config) called wandb.init(): a function that takes")
    assert [r.metric for r in sweep.runs] == [None, None]
    assert wandb.init is init  # put back after the sweep


def test_a_config_function_without_wandb_is_not_warned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="localsweep"):
        sweep = localsweep.run(grid([1, 2]), lambda c: float(c["x"]), db=tmp_path / "s.db")
    assert not [r for r in caplog.records if "called wandb.init()" in r.getMessage()]
    assert [r.metric for r in sweep.runs] == [1.0, 2.0]


def test_wandb_code_is_judged_by_its_run_not_its_return_value(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # wandb.agent ignores what the function returns; taking it would make a best run that
    # W&B, after the sync, does not show.
    def train() -> dict[str, float]:
        with wandb.init() as run:
            run.log({"loss": 2.0 * run.config["x"]})
        return {"loss": 0.1}

    sweep = localsweep.run(grid([1, 2]), train, db=tmp_path / "s.db", quiet=True)
    assert [r.history() for r in sweep.runs] == [
        [{"loss": 2.0, "_step": 0}],
        [{"loss": 4.0, "_step": 0}],
    ]
    best = sweep.best_run()
    assert best is not None and best.metric == 2.0
    assert caplog.text.count("returned {'loss': 0.1}, which is not recorded") == 1


def test_a_function_without_wandb_may_return_its_metric(tmp_path: Path) -> None:
    def train() -> float:
        return 0.5

    sweep = localsweep.run(grid([1]), train, db=tmp_path / "s.db", quiet=True)
    assert sweep.runs[0].metric == 0.5


def test_media_and_numpy_values_are_stored_as_wandb_writes_them(tmp_path: Path) -> None:
    import numpy as np

    def train() -> None:
        with wandb.init() as run:
            run.log(
                {"loss": np.float32(0.5), "h": wandb.Histogram([1, 2, 3]), "n": {"a": np.int64(3)}}
            )

    sweep = localsweep.run(grid([1]), train, db=tmp_path / "s.db", quiet=True)
    run = sweep.runs[0]
    (row,) = run.history()
    # The histogram as its dict (W&B's history and Api give it so), not the object's repr.
    assert row["h"]["_type"] == "histogram" and sum(row["h"]["values"]) == 3
    assert row["n"] == {"a": 3} and run.metric == 0.5
    assert [_user_keys(dict(r)) for r in _run_file(run.dir, run.id).history] == [row]
    assert run.summary["h"] == row["h"]


def test_ctrl_c_in_run_names_the_sweep_to_go_on_with(tmp_path: Path) -> None:
    # In a notebook, localsweep.run() returns no Sweep when interrupted: the error says
    # which sweep holds the interrupted point, and how to go on with it.
    def train() -> None:
        with wandb.init() as run:
            if run.config["x"] == 2:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as caught:
        localsweep.run(grid([1, 2, 3]), train, db=tmp_path / "s.db", quiet=True)
    (sweep,) = localsweep.Api(tmp_path / "s.db").sweeps()
    assert getattr(caught.value, "sweep_id", None) == sweep.id
    db = str(tmp_path / "s.db")
    assert f"localsweep.agent({sweep.id!r}, train, count=9, db={db!r})" in str(caught.value)
    again = localsweep.agent(sweep.id, lambda config: config["x"], db=tmp_path / "s.db", quiet=True)
    assert again is not None
    finished = sorted(
        r.config["x"]
        for r in localsweep.Api(tmp_path / "s.db").sweep(sweep.id).runs
        if r.state == "finished"
    )
    assert finished == [1, 2, 3]


def test_a_store_error_after_which_the_run_was_recorded_says_so(tmp_path: Path) -> None:
    # The database came back while the run's end was retried: the agent stops for the
    # outage, and must not let its message say the run was lost.
    from localsweep.agent._agent import _with_what_was_recorded
    from localsweep.errors import StoreUnavailableError
    from localsweep.store import Store

    sweep = localsweep.run(grid([1]), lambda config: 1.0, db=tmp_path / "s.db", quiet=True)
    store = Store(tmp_path / "s.db")
    (run,) = store.list_runs(sweep.id)
    store.close()
    error = StoreUnavailableError("could not write a run's history: the file is locked")
    said = _with_what_was_recorded(error, run)
    assert isinstance(said, StoreUnavailableError)
    assert str(said).startswith(str(error))
    assert f"run {run.id} ended: it is recorded finished, with the rows it logged" in str(said)
    assert _with_what_was_recorded(error, None) is error
