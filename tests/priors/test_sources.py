"""Each kind of prior run source, made for real: wandb offline run folders written by real
wandb, localsweep databases with real sweeps, CSV and JSON as localsweep's export and W&B's
runs table export write them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from prior_configs import LR_OPT

import localsweep
from localsweep.config import parse_config
from localsweep.errors import ConfigError, PriorRunsError
from localsweep.priors import load_prior_runs
from localsweep.report import export_runs
from localsweep.store import Store

# ------------------------------------------------------------------- wandb run folders


def test_a_wandb_run_folder_is_one_prior_run_with_its_config_history_and_summary(
    hand_runs: tuple[Path, list[str]],
) -> None:
    root, ids = hand_runs
    folder = next((root / "wandb").glob(f"offline-run-*-{ids[0]}"))
    sweep = localsweep.Api("new.db").sweep(
        localsweep.sweep(LR_OPT, prior_runs=[folder], db="new.db")
    )
    (prior,) = sweep.prior_runs
    assert sweep.runs == []
    assert prior.id == ids[0] and prior.prior and prior.prior_source == str(folder)
    assert prior.params == {"lr": 0.01, "opt": {"name": "adam"}}
    assert prior.config["epochs"] == 5  # wandb's meaning: every key the run set
    assert prior.metric == 0.1
    assert [row["loss"] for row in prior.history()] == [0.4, 0.2, 0.1, 0.1, 0.1]
    assert prior.dir == str(folder)


def test_a_glob_of_run_folders_takes_the_finished_ones_and_says_why_not_the_others(
    hand_runs: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, ids = hand_runs
    monkeypatch.chdir(root)
    found = load_prior_runs(parse_config(LR_OPT), ["wandb/offline-run-*"])
    assert sorted(t.candidate.run_id for t in found.taken) == sorted(ids[:2])
    # The hand-run training that wrote "opt.name" as one key matches opt.name too.
    by_id = {t.candidate.run_id: t.params for t in found.taken}
    assert by_id[ids[1]] == {("lr",): 0.05, ("opt", "name"): "sgd"}
    # Each keeps the name W&B shows: the one its training gave it, else its id.
    names = {t.candidate.run_id: t.candidate.name for t in found.taken}
    assert names == {ids[0]: ids[0], ids[1]: "sgd-by-hand"}
    (skip,) = found.skipped
    assert skip.candidate.run_id == ids[2]
    assert skip.reason.startswith("state 'failed'")
    lines = found.summary_lines()
    assert lines[0] == "wandb/offline-run-* (3 paths): 3 runs, 2 taken, 1 skipped"
    assert any(ids[2] in line and "failed" in line for line in lines)


def test_wandb_star_reads_the_run_latest_run_points_to_once(
    hand_runs: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # `-R 'wandb/*'` (as prior-runs.md suggests) also matches wandb's latest-run link:
    # read as another folder of the same run, it doubled that run's history.
    root, ids = hand_runs
    monkeypatch.chdir(root)
    latest = next((root / "wandb").glob(f"offline-run-*-{ids[0]}"))
    link = root / "wandb" / "latest-run"
    link.unlink(missing_ok=True)
    link.symlink_to(latest.name)
    found = load_prior_runs(parse_config(LR_OPT), ["wandb/*"])
    (taken,) = [t for t in found.taken if t.candidate.run_id == ids[0]]
    assert [row["loss"] for row in taken.candidate.history] == [0.4, 0.2, 0.1, 0.1, 0.1]
    assert "earlier attempt" not in "\n".join(found.summary_lines())


def test_a_relative_glob_stores_where_the_runs_are_not_where_the_sweep_was_made(
    hand_runs: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A prior read from ``wandb/offline-run-*`` is read back the same from any folder:
    its run folder (Run.dir), its whole config (read from that folder), and sync finds it."""
    root, ids = hand_runs
    monkeypatch.chdir(root)
    db = str(tmp_path / "rel.db")
    sweep_id = localsweep.sweep(LR_OPT, prior_runs=["wandb/offline-run-*"], db=db)
    here = {r.id: (r.dir, r.config) for r in localsweep.Api(db).sweep(sweep_id).prior_runs}
    monkeypatch.chdir(tmp_path)
    there = {r.id: (r.dir, r.config) for r in localsweep.Api(db).sweep(sweep_id).prior_runs}
    assert here == there
    folder = next((root / "wandb").glob(f"offline-run-*-{ids[0]}"))
    assert there[ids[0]] == (str(folder.resolve()), {**there[ids[0]][1], "epochs": 5})
    assert "_wandb" not in localsweep.Api(db).run(ids[0]).summary


def test_the_wandb_folder_itself_stands_for_every_run_in_it(
    hand_runs: tuple[Path, list[str]],
) -> None:
    root, _ids = hand_runs
    found = load_prior_runs(parse_config(LR_OPT), [root / "wandb"])
    assert found.sources[0].kind == "3 wandb run folders"
    assert len(found.taken) == 2


# ----------------------------------------------------------------------- databases


def _old_sweep(db: str, count: int = 4) -> localsweep.Sweep:
    config = {
        "method": "grid",
        "metric": {"name": "loss"},
        "parameters": {"lr": {"values": [0.001, 0.01, 0.1]}, "opt": {"value": {"name": "sgd"}}},
    }
    return localsweep.run(config, lambda c: c["lr"] * 10, count=count, db=db)


def test_run_ids_and_a_sweep_id_of_this_database_are_sources() -> None:
    old = _old_sweep("sweeps.db")
    first, second, _third = old.runs
    new = localsweep.Api("sweeps.db").sweep(
        localsweep.sweep(LR_OPT, prior_runs=[first.id, f"me/proj/{second.id}"], db="sweeps.db")
    )
    assert [p.id for p in new.prior_runs] == [first.id, second.id]
    assert [p.number for p in new.prior_runs] == [-2, -1]
    whole = localsweep.Api("sweeps.db").sweep(
        localsweep.sweep(LR_OPT, prior_runs=[old.id], db="sweeps.db")
    )
    assert [p.id for p in whole.prior_runs] == [r.id for r in old.runs]
    assert [p.metric for p in whole.prior_runs] == [r.metric for r in old.runs]


def test_a_sweep_of_another_database_is_named_by_its_path_or_url_and_id(tmp_path: Path) -> None:
    old = _old_sweep("old.db")
    for source in (f"old.db#{old.id}", f"sqlite:///{tmp_path / 'old.db'}#{old.id}"):
        found = load_prior_runs(parse_config(LR_OPT), [source])
        assert [t.candidate.run_id for t in found.taken] == [r.id for r in old.runs]
        assert found.sources[0].kind.startswith(f"sweep {old.id} in sqlite:///")
    # A URL naming a file that is not there is said so, and no empty file is made there
    # (a typo beside last week's database).
    for url in (f"sqlite:///{tmp_path / 'od.db'}", "sqlite:///nope.db"):
        with pytest.raises(PriorRunsError, match="no database file"):
            load_prior_runs(parse_config(LR_OPT), [f"{url}#{old.id}"])
    assert not (tmp_path / "od.db").exists() and not Path("nope.db").exists()


@pytest.mark.parametrize(
    ("source", "says"),
    [
        ("nosuch", "no sweep or run 'nosuch'"),
        ("missing.db#ls-12345678", "no database file missing.db"),
        ("wandb/offline-run-*", "matches no file or folder"),
    ],
)
def test_a_source_that_is_nothing_is_an_error_naming_prior_runs(source: str, says: str) -> None:
    Store("sweeps.db").close()
    with pytest.raises(ConfigError) as info:
        localsweep.sweep(LR_OPT, prior_runs=[source], db="sweeps.db")
    assert info.value.violations[0].path == "prior_runs"
    assert says in str(info.value)
    # The config is fine: the message must not send the user looking for a fault in it.
    assert isinstance(info.value, PriorRunsError)
    assert str(info.value).startswith("cannot take the prior runs (1 problem)")
    # Nothing was created: a bad source leaves no sweep behind.
    assert localsweep.Api("sweeps.db").sweeps() == []


# -------------------------------------------------------------------------- tables


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_localsweep_export_is_a_source(fmt: str) -> None:
    old = _old_sweep("old.db", count=3)
    export_runs(old, fmt, f"runs.{fmt}")  # type: ignore[arg-type]
    found = load_prior_runs(parse_config(LR_OPT), [f"runs.{fmt}"])
    assert found.sources[0].kind == "localsweep export"
    assert [t.candidate.run_id for t in found.taken] == [r.id for r in old.runs]
    assert [t.params for t in found.taken] == [
        {("lr",): r.config["lr"], ("opt", "name"): "sgd"} for r in old.runs
    ]
    assert [t.metric for t in found.taken] == [r.metric for r in old.runs]
    assert "  columns taken as parameters: lr, opt.name" in found.summary_lines()


WANDB_TABLE = """\
Name,State,Notes,User,Tags,Created,Runtime,Sweep,batch_size,lr,optimizer,acc,loss
dulcet-sun-3,finished,"notes over
two lines",me,,2026-01-02T10:00:00.000Z,120,,32,0.01,adam,0.91,0.25
brisk-fog-2,crashed,-,me,,2026-01-02T09:00:00.000Z,30,,64,0.02,sgd,,0.9
quiet-sea-1,finished,-,me,,2026-01-02T08:00:00.000Z,125,,64,1e-3,sgd,0.88,0.31
"""


def test_a_wandb_runs_table_export_is_a_source_and_says_which_columns_were_parameters() -> None:
    Path("wandb_export.csv").write_text(WANDB_TABLE)
    config = parse_config(
        {
            "method": "bayes",
            "metric": {"name": "loss"},
            "parameters": {
                "lr": {"min": 0.0001, "max": 0.1},
                "batch_size": {"values": [16, 32, 64]},
                "optimizer": {"values": ["adam", "sgd"]},
            },
        }
    )
    found = load_prior_runs(config, ["wandb_export.csv"])
    assert found.sources[0].kind == "W&B runs table export"
    assert [t.candidate.name for t in found.taken] == ["dulcet-sun-3", "quiet-sea-1"]
    assert found.taken[1].params == {("batch_size",): 64, ("lr",): 0.001, ("optimizer",): "sgd"}
    assert [t.metric for t in found.taken] == [0.25, 0.31]
    assert found.skipped[0].reason.startswith("state 'crashed'")
    # W&B's export has no run id: its Name tells the skipped row apart.
    assert found.skipped[0].candidate.source == "wandb_export.csv row 2 (brisk-fog-2)"
    assert "  columns taken as parameters: batch_size, lr, optimizer" in found.summary_lines()
    sweep_id = localsweep.sweep(config, prior_runs=["wandb_export.csv"], db="new.db")
    first = localsweep.Api("new.db").sweep(sweep_id).prior_runs[0]
    # The run's other columns are its summary, numbers read as numbers.
    assert first.summary["acc"] == 0.91 and first.summary["loss"] == 0.25
    assert "lr" not in first.summary
    assert first.created_at.isoformat() == "2026-01-02T10:00:00"


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_a_table_with_config_and_summary_columns_is_a_source(fmt: str) -> None:
    # What people write from wandb.Api().runs(): a dict per cell (pandas writes Python
    # literals into a CSV).
    rows: list[dict[str, Any]] = [
        {"name": "a", "config": {"lr": 0.01, "opt": {"name": "adam"}}, "summary": {"loss": 1}},
        {"name": "b", "config": {"lr": 0.5, "opt": {"name": "adam"}}, "summary": {"loss": 2}},
    ]
    if fmt == "json":
        Path("runs.json").write_text(json.dumps(rows))
    else:
        lines = ["name,config,summary"]
        for r in rows:
            lines.append(f'{r["name"]},"{r["config"]!r}","{r["summary"]!r}"')
        Path("runs.csv").write_text("\n".join(lines) + "\n")
    found = load_prior_runs(parse_config(LR_OPT), [f"runs.{fmt}"])
    assert found.sources[0].kind.startswith("runs with config and summary columns")
    assert [t.params for t in found.taken] == [{("lr",): 0.01, ("opt", "name"): "adam"}]
    assert found.skipped[0].reason == "lr = 0.5 is outside the sweep's range [0.001, 0.1]"


RESUMED_RUN = """
    import os, signal, sys, time, wandb

    first = sys.argv[1] == "1"
    run = wandb.init(project="p", id="resume01", resume="allow",
                     config={"lr": 0.01, "opt": {"name": "adam"}})
    start = 0 if first else 3
    for i in range(start, start + 3):
        wandb.log({"loss": 1.0 / (i + 1)})
    if first:  # preempted: killed before it could finish
        time.sleep(2)
        os.kill(os.getpid(), signal.SIGKILL)
    run.finish()
"""


@pytest.mark.slow
def test_a_resumed_run_is_one_prior_run_with_every_attempts_rows(tmp_path: Path) -> None:
    """A training killed and resumed with the same id leaves a folder per attempt: one
    run, its history every attempt's rows in order, its end the last attempt's, and no
    skip saying the first attempt 'is still running, or its process was killed'."""
    import os
    import subprocess
    import sys
    import textwrap

    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(RESUMED_RUN))
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    env["WANDB_X_TRANSACTION_LOG_FLUSH_INTERVAL"] = "0.2"  # the first attempt's rows on disk
    env.pop("WANDB_SERVICE", None)
    for attempt in ("1", "2"):
        subprocess.run([sys.executable, str(script), attempt], cwd=tmp_path, env=env, timeout=120)
    assert len(list((tmp_path / "wandb").glob("offline-run-*-resume01"))) == 2
    for source in ("wandb/offline-run-*", "wandb"):
        found = load_prior_runs(parse_config(LR_OPT), [tmp_path / source])
        assert not found.skipped
        (prior,) = found.taken
        assert [row["loss"] for row in prior.candidate.history] == [1 / i for i in range(1, 7)]
        assert prior.metric == pytest.approx(1 / 6)
        assert prior.candidate.source.endswith("-resume01 (with 1 earlier attempt)")


@pytest.mark.slow
def test_fresh_runs_without_an_exit_record_share_one_wait_for_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run file written in the last seconds without its exit record may be a run that
    has just finished (wandb-core writes the record a moment after run.finish() returns):
    it is waited for, but the runs of one reading share one wait, so a folder of freshly
    killed or live runs, whose records never come, costs one wait, not one per run."""
    import os
    import shutil
    import subprocess
    import sys
    import textwrap
    import time

    import localsweep.wandb_bridge as bridge

    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(RESUMED_RUN))
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    env["WANDB_X_TRANSACTION_LOG_FLUSH_INTERVAL"] = "0.2"
    env.pop("WANDB_SERVICE", None)
    subprocess.run([sys.executable, str(script), "1"], cwd=tmp_path, env=env, timeout=120)
    (killed,) = (tmp_path / "wandb").glob("offline-run-*-resume01")
    sources = []
    for copy in ("a", "b", "c"):
        shutil.copytree(killed, tmp_path / copy / killed.name)
        for path in (tmp_path / copy).rglob("*.wandb"):
            path.touch()  # written just now, as a live run's or a just-killed run's
        sources.append(tmp_path / copy / killed.name)

    waits: list[float] = []

    def wait(path: Any, timeout: float, **kw: Any) -> Any:
        waits.append(timeout)
        time.sleep(timeout)  # no exit record comes: the whole wait is spent
        raise TimeoutError(f"no exit record in {path}")

    monkeypatch.setattr(bridge, "wait_for_exit_record", wait)
    with pytest.raises(PriorRunsError) as raised:  # no run fits: each is unfinished
        load_prior_runs(parse_config(LR_OPT), sources)
    assert "still running, or its process was killed" in str(raised.value)
    # One wait, out of the budget of 3 s: the other two runs found it spent.
    assert len(waits) == 1 and 2.0 < waits[0] <= 3.0, waits
