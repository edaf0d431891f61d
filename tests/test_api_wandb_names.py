"""Code ported from wandb keeps working: ``wandb.sweep``'s and ``wandb.agent``'s keyword
names, ``wandb.Api``'s sweep states, and its history scans."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import localsweep
from localsweep import Api

CONFIG = {"method": "grid", "metric": {"name": "loss"}, "parameters": {"x": {"values": [1, 2]}}}
#: CONFIG as wandb.Api's Sweep.config returns it: with the distribution W&B fills in.
FILLED = {**CONFIG, "parameters": {"x": {"values": [1, 2], "distribution": "categorical"}}}


def _train(config: dict[str, Any]) -> float:
    return float(config["x"])


def test_sweep_takes_the_config_as_wandbs_sweep_keyword(tmp_path: Path) -> None:
    """The W&B quickstart writes ``wandb.sweep(sweep=sweep_configuration, project=...)``."""
    db = str(tmp_path / "s.db")
    sweep_id = localsweep.sweep(sweep=CONFIG, project="my-first-sweep", db=db)
    sweep = Api(db).sweep(sweep_id)
    assert (sweep.config, sweep.project) == (FILLED, "my-first-sweep")


def test_sweep_takes_a_config_generator_as_wandb_does(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    sweep_id = localsweep.sweep(lambda: CONFIG, db=db)
    assert Api(db).sweep(sweep_id).config == FILLED


def test_sweep_still_takes_sweep_config_but_not_both(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    assert Api(db).sweep(localsweep.sweep(sweep_config=CONFIG, db=db)).config == FILLED
    with pytest.raises(TypeError, match="give the sweep config once"):
        localsweep.sweep(CONFIG, sweep_config=CONFIG, db=db)
    with pytest.raises(TypeError, match="needs the sweep config"):
        localsweep.sweep(db=db)


def test_agent_takes_wandb_agents_forward_signals_and_term_timeout(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    sweep_id = localsweep.sweep(sweep=CONFIG, db=db)
    report = localsweep.agent(
        sweep_id, function=_train, db=db, quiet=True, forward_signals=True, term_timeout=30
    )
    assert len(report.runs) == 2
    assert Api(db).sweep(sweep_id).state == "FINISHED"


def test_term_timeout_is_grace_period_under_wandbs_name(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    sweep_id = localsweep.sweep(CONFIG, db=db)
    with pytest.raises(TypeError, match="grace_period or term_timeout"):
        localsweep.agent(sweep_id, _train, db=db, grace_period=3, term_timeout=5)
    with pytest.raises(ValueError, match="term_timeout must be at least 0"):
        localsweep.agent(sweep_id, _train, db=db, term_timeout=-1)
    assert Api(db).sweep(sweep_id).runs == []


def test_sweep_state_is_spelt_as_wandb_apis(tmp_path: Path) -> None:
    """wandb.Api's ``Sweep.state``: ``RUNNING``, ``PAUSED``, ``CANCELED``, ``FINISHED``; a
    notebook loop ``while api.sweep(p).state == "RUNNING"`` ported from wandb must wait."""
    db = str(tmp_path / "s.db")
    sweep_id = localsweep.sweep(CONFIG, db=db)
    api = Api(db)
    assert api.sweep(sweep_id).state == "PENDING"
    localsweep.agent(sweep_id, _train, count=1, db=db, quiet=True)
    assert api.sweep(sweep_id).state == "RUNNING"
    assert api.sweep(sweep_id).pause().state == "PAUSED"
    assert api.sweep(sweep_id).resume().state == "RUNNING"
    assert api.sweep(sweep_id).cancel().state == "CANCELED"
    assert api.sweep(sweep_id).resume().stop().state == "FINISHED"
    assert repr(api.sweep(sweep_id)) == f"<Sweep {sweep_id} (FINISHED)>"


def test_the_cli_keeps_its_lower_case_states(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    sweep_id = localsweep.sweep(CONFIG, db=db)
    localsweep.agent(sweep_id, _train, count=1, db=db, quiet=True)
    proc = subprocess.run(
        [sys.executable, "-m", "localsweep.cli", "pause", sweep_id, "--db", db],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (proc.returncode, proc.stdout) == (0, "paused\n"), proc.stderr
    assert Api(db).sweep(sweep_id).state == "PAUSED"


def _logged_run(tmp_path: Path) -> localsweep.Run:
    def train(config: dict[str, Any]) -> dict[str, float]:
        return {"loss": 0.5, "acc": 0.9}

    db = str(tmp_path / "s.db")
    (run,) = localsweep.run(CONFIG | {"parameters": {"x": {"values": [1]}}}, train, db=db).runs
    return run


def test_scan_history_can_be_iterated_again_as_wandbs_history_scan(tmp_path: Path) -> None:
    run = _logged_run(tmp_path)
    scan = run.scan_history(keys=["loss"])
    assert [row["loss"] for row in scan] == [0.5]
    assert [row["_step"] for row in scan] == [0]  # wandb's HistoryScan restarts
    assert next(iter(scan)) == {"loss": 0.5, "_step": 0}
    assert list(run.scan_history(min_step=1)) == []


def test_an_empty_keys_list_means_whole_rows_as_in_wandb(tmp_path: Path) -> None:
    """wandb's ``Run.history`` reads ``keys=[]`` as no keys (``elif keys:``)."""
    run = _logged_run(tmp_path)
    whole = [{"loss": 0.5, "acc": 0.9, "_step": 0}]
    assert run.history(keys=[]) == whole
    assert list(run.scan_history(keys=[])) == whole


def test_flush_exists_and_the_next_read_sees_new_runs(tmp_path: Path) -> None:
    """wandb's poll loop calls ``api.flush()`` before it asks again; this Api keeps
    nothing, so the next ``api.sweep``/``api.run`` reads the database as it is now."""
    db = str(tmp_path / "s.db")
    sweep_id = localsweep.sweep(CONFIG, db=db)
    api = Api(db)
    assert (api.sweep(sweep_id).state, api.sweep(sweep_id).run_count) == ("PENDING", 0)
    (run_id,) = localsweep.agent(sweep_id, _train, count=1, db=db, quiet=True).runs
    api.flush()
    assert (api.sweep(sweep_id).state, api.sweep(sweep_id).run_count) == ("RUNNING", 1)
    assert api.run(run_id).summary.loss == 1.0


def test_wandbs_other_names_of_run_and_sweep_attributes(tmp_path: Path) -> None:
    db = str(tmp_path / "s.db")
    prior = localsweep.run(CONFIG, _train, db=db, quiet=True)
    sweep = localsweep.run(
        {**CONFIG, "name": "my-sweep", "method": "random"},
        _train,
        count=3,
        db=db,
        quiet=True,
        prior_runs=[prior.id],
    )
    sweep = Api(db).sweep(sweep.id)
    # wandb's Sweep.name: the config's name, else the id; runCount: its own runs.
    assert (sweep.display_name, sweep.method, sweep.run_count) == ("my-sweep", "random", 3)
    assert len(sweep.prior_runs) == 2
    assert (prior.display_name, prior.method) == (prior.id, "grid")
    run = sweep.runs[0]
    assert run.display_name == run.name
    assert run.historyLineCount == run.history_line_count == 1
    assert run.lastHistoryStep == 0


def test_a_scan_has_wandbs_min_step_and_max_step(tmp_path: Path) -> None:
    """wandb's ``HistoryScan``: ``min_step`` 0 when not given, ``max_step`` the last step
    it can yield (the run's last, or one before the ``max_step`` given)."""
    import wandb

    def train() -> None:
        with wandb.init() as run:
            for i in range(5):
                run.log({"loss": float(i)})

    db = str(tmp_path / "s.db")
    (run,) = localsweep.run(CONFIG, train, count=1, db=db, quiet=True).runs
    scan = run.scan_history()
    assert (scan.min_step, scan.max_step) == (0, 4)
    assert (
        run.scan_history(min_step=2, max_step=3).min_step,
        run.scan_history(max_step=3).max_step,
    ) == (2, 2)
    assert run.scan_history(max_step=99).max_step == 4
    assert [r["_step"] for r in run.scan_history(min_step=2, max_step=4)] == [2, 3]
    scan.min_step = 3  # read by the next loop, as wandb's __iter__ reads it
    assert [r["_step"] for r in scan] == [3, 4]


def test_a_runs_line_count_and_last_step_are_counted_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``historyLineCount``, ``lastHistoryStep`` and a scan's ``max_step`` are counted by
    the store, for a run and for the same run taken as a prior run (its rows stored at the
    steps it logged, a gap included): they read every row, 2-3 s for a run of 200,000."""
    import wandb

    from localsweep.store import Store

    def train() -> None:
        with wandb.init() as run:
            for step in (0, 1, 2, 10, 11):
                run.log({"loss": float(step)}, step=step)

    db = str(tmp_path / "s.db")
    first = localsweep.run(CONFIG, train, count=1, db=db, quiet=True)
    second = localsweep.run(CONFIG, _train, count=1, db=db, quiet=True, prior_runs=[first.id])

    def whole_rows(self: Store, run_id: str) -> list[dict[str, Any]]:
        raise AssertionError(f"every row of run {run_id} was read")

    monkeypatch.setattr(Store, "history", whole_rows)
    (own,) = Api(db).sweep(first.id).runs
    (prior,) = Api(db).sweep(second.id).prior_runs
    for run in (own, prior):
        assert (run.historyLineCount, run.lastHistoryStep) == (5, 11), run
        assert run.scan_history().max_step == 11
        assert run.scan_history(max_step=5).max_step == 4
    (silent,) = localsweep.run(CONFIG, lambda config: None, count=1, db=db, quiet=True).runs
    assert (silent.historyLineCount, silent.lastHistoryStep) == (0, -1)


def test_a_scan_reads_page_size_rows_at_a_time_as_it_goes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scan reads the rows it yields ``page_size`` at a time, each page when the loop
    reaches it, as wandb's pages its server: it read the whole history before its first
    row (5 s and 700 MB for a run of 200,000 rows). The rows are those logged when the
    loop began; the next loop reads the run again."""
    import wandb

    from localsweep.store import Store, _runs

    def train() -> None:
        with wandb.init() as run:
            for step in range(7):
                run.log({"loss": float(step), "acc": step / 10})

    db = str(tmp_path / "s.db")
    (run,) = localsweep.run(CONFIG, train, count=1, db=db, quiet=True).runs
    pages: list[int] = []
    read_page = _runs.history_rows_of_ids

    def counted(conn: Any, ids: Any) -> list[dict[str, Any]]:
        pages.append(len(ids))
        return read_page(conn, ids)

    def whole_rows(self: Store, run_id: str) -> list[dict[str, Any]]:
        raise AssertionError(f"every row of run {run_id} was read")

    monkeypatch.setattr(_runs, "history_rows_of_ids", counted)
    monkeypatch.setattr(Store, "history", whole_rows)
    scan = run.scan_history(keys=["loss"], page_size=3)
    assert next(scan) == {"loss": 0.0, "_step": 0}
    assert pages == [3]
    assert [row["_step"] for row in iter(lambda: next(scan, None), None)] == [1, 2, 3, 4, 5, 6]
    assert pages == [3, 3, 1]
    assert [r["_step"] for r in run.scan_history(min_step=2, max_step=6, page_size=2)] == [
        2,
        3,
        4,
        5,
    ]
    for size in (0, -1, 1.5):
        with pytest.raises(ValueError, match="page_size"):
            run.scan_history(page_size=size)  # type: ignore[arg-type]


def test_keys_given_as_text_is_a_value_error_as_wandbs_scan_history_raises(
    tmp_path: Path,
) -> None:
    run = _logged_run(tmp_path)
    with pytest.raises(ValueError, match=r"keys=\['loss'\]"):
        run.scan_history(keys="loss")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"keys=\['loss'\]"):
        run.history(keys="loss")  # type: ignore[arg-type]
