"""Sources that give nothing to learn from, or give it in a form that is easy to misread:
each is an error that names the source and the fix, or is read as the agent reads its own
runs; and reading a source never changes it."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import optuna
import pytest
import yaml
from click.testing import CliRunner
from prior_configs import LR_OPT

import localsweep
from localsweep.cli import cli
from localsweep.config import parse_config
from localsweep.errors import PriorRunsError
from localsweep.priors import load_prior_runs
from localsweep.report import export_runs

DEFINE_METRIC_RUN = """
    import wandb

    run = wandb.init(project="priors-test", config={"lr": 0.01, "opt": {"name": "adam"}})
    wandb.define_metric("loss", summary="min")
    for loss in (0.5, 0.2, 0.4):
        wandb.log({"loss": loss})
    run.finish()
"""


def _offline_run(root: Path, script: str) -> Path:
    (root / "train.py").write_text(textwrap.dedent(script))
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_DIR": str(root)}
    env.pop("WANDB_SERVICE", None)
    proc = subprocess.run(
        [sys.executable, "train.py"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    (folder,) = (root / "wandb").glob("offline-run-*")
    return folder


@pytest.mark.slow
def test_a_run_folder_with_a_define_metric_summary_counts_its_minimum(tmp_path: Path) -> None:
    folder = _offline_run(tmp_path, DEFINE_METRIC_RUN)
    sweep = localsweep.Api("new.db").sweep(localsweep.sweep(LR_OPT, prior_runs=folder, db="new.db"))
    # The run's own sweep would count 0.2 (wandb's summary is {"min": 0.2}), not the last 0.4.
    (prior,) = sweep.prior_runs
    assert prior.metric == 0.2
    assert sweep.best_run().metric == 0.2


def _tables(path: Path) -> list[str]:
    with sqlite3.connect(path) as conn:
        return sorted(r[0] for r in conn.execute("SELECT name FROM sqlite_master"))


def test_a_database_that_is_not_localsweeps_is_refused_and_left_unchanged() -> None:
    with sqlite3.connect("notls.db") as conn:
        conn.execute("CREATE TABLE x (a)")
    optuna.create_study(storage="sqlite:///optuna.db", study_name="s")
    before = {db: _tables(Path(db)) for db in ("notls.db", "optuna.db")}
    for db in before:
        with pytest.raises(PriorRunsError) as info:
            load_prior_runs(parse_config(LR_OPT), [f"{db}#ls-abcdefgh"])
        assert "is not a localsweep database" in str(info.value)
        assert _tables(Path(db)) == before[db]
    # The source named the database, not --db: the message sends the user to the source.
    Path("empty.db").touch()
    for db in ("notls.db", "empty.db"):
        with pytest.raises(PriorRunsError) as info:
            load_prior_runs(parse_config(LR_OPT), [f"{db}#ls-abcdefgh"])
        assert "check the database named before '#'" in str(info.value)
        assert "--db" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "holds no runs (no rows below its header)"),
        ("lr,loss\n", "holds no runs (no rows below its header)"),
        ("foo;bar\n1;2\n", "none of its columns names a parameter of the sweep (columns: foo;bar;"),
        ("a,b\n1,2\n", "Name a column after each parameter"),
    ],
)
def test_a_table_that_gives_no_runs_is_an_error_and_makes_no_sweep(text: str, says: str) -> None:
    Path("runs.csv").write_text(text)
    with pytest.raises(PriorRunsError) as info:
        localsweep.sweep(LR_OPT, prior_runs=["runs.csv"], db="new.db")
    assert says in str(info.value)
    assert not Path("new.db").exists()  # a bad source makes no sweep, nor a database


@pytest.mark.parametrize("sources", ["", [""], ["runs.csv", " "]])
def test_an_empty_source_is_an_error_not_a_cold_start(sources: str | list[str]) -> None:
    # prior_runs=os.environ.get("LAST_SWEEP", "") with the variable unset: the user asked
    # for a warm start, so a sweep that silently starts cold would be the wrong one.
    Path("runs.csv").write_text("lr,opt.name,loss\n0.01,adam,1\n")
    with pytest.raises(PriorRunsError, match="an empty source names no runs"):
        localsweep.sweep(LR_OPT, prior_runs=sources, db="new.db")
    assert not Path("new.db").exists()


def test_an_empty_source_on_the_command_line_is_a_clear_error() -> None:
    Path("sweep.yaml").write_text(yaml.safe_dump(LR_OPT))
    result = CliRunner().invoke(cli, ["sweep", "sweep.yaml", "--db", "new.db", "-R", ""])
    assert result.exit_code == 2, result.output  # bad input, as every config error
    assert "an empty source names no runs" in result.output
    assert "Traceback" not in result.output
    assert not Path("new.db").exists()


def test_sources_of_which_no_run_fits_are_an_error_that_gives_the_reasons() -> None:
    Path("runs.csv").write_text("lr,opt.name,loss\n0.5,adam,1\n0.01,rmsprop,2\n")
    with pytest.raises(PriorRunsError) as info:
        localsweep.sweep(LR_OPT, prior_runs="runs.csv", db="new.db")
    message = str(info.value)
    assert "no run of 'runs.csv' can be taken, so the sweep would start cold" in message
    assert "lr = 0.5 is outside the sweep's range" in message
    assert "'rmsprop' is not one of its values" in message
    assert not Path("new.db").exists()  # a bad source makes no sweep, nor a database


def test_a_damaged_run_file_named_on_its_own_is_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "wandb" / "offline-run-20260101_000000-abcd1234"
    folder.mkdir(parents=True)
    (folder / "run-abcd1234.wandb").write_bytes(b"\x00\x01garbage")
    for source in (folder, folder / "run-abcd1234.wandb"):
        with pytest.raises(PriorRunsError, match="cannot read its run file"):
            load_prior_runs(parse_config(LR_OPT), [source])


def test_a_damaged_run_among_a_globs_matches_is_skipped_and_the_others_taken(
    hand_runs: tuple[Path, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    root, ids = hand_runs
    work = tmp_path / "work"
    shutil.copytree(root / "wandb", work / "wandb")
    damaged = work / "wandb" / "offline-run-20260101_000000-dead0001"
    damaged.mkdir()
    (damaged / "run-dead0001.wandb").write_bytes(b"\x00\x01garbage")
    monkeypatch.chdir(work)
    found = load_prior_runs(parse_config(LR_OPT), ["wandb/offline-run-*"])
    assert sorted(t.candidate.run_id for t in found.taken) == sorted(ids[:2])
    reasons = {s.candidate.source: s.reason for s in found.skipped}
    assert reasons[str(Path("wandb") / damaged.name)].startswith("cannot read its run file")
    # Matched alone, it is an error, as when it is named.
    with pytest.raises(PriorRunsError, match="cannot read its run file"):
        load_prior_runs(parse_config(LR_OPT), ["wandb/offline-run-*-dead0001"])


def test_one_source_given_alone_is_one_source_and_a_config_may_be_a_dict() -> None:
    old = localsweep.run(
        {"method": "grid", "metric": {"name": "loss"}, "parameters": {"lr": {"values": [0.01]}}},
        lambda c: 1.0,
        db="old.db",
    )
    export_runs(old, "csv", "runs.csv")
    found = load_prior_runs(
        {**LR_OPT, "parameters": {"lr": LR_OPT["parameters"]["lr"]}}, "runs.csv"
    )
    assert [t.candidate.run_id for t in found.taken] == [old.runs[0].id]


def test_an_exports_prior_columns_are_not_read_back_as_summary_keys(
    hand_runs: tuple[Path, list[str]],
) -> None:
    root, _ids = hand_runs
    first = localsweep.Api("a.db").sweep(
        localsweep.sweep(LR_OPT, prior_runs=[root / "wandb"], db="a.db")
    )
    export_runs(first, "csv", "runs.csv")
    again = localsweep.Api("b.db").sweep(localsweep.sweep(LR_OPT, prior_runs="runs.csv", db="b.db"))
    assert len(again.prior_runs) == 2
    for run in again.prior_runs:
        assert "prior" not in run.summary and "prior_source" not in run.summary


def test_a_random_sweep_says_its_prior_runs_do_not_steer_it() -> None:
    Path("runs.csv").write_text("lr,opt.name,loss\n0.01,adam,1\n")
    found = load_prior_runs({**LR_OPT, "method": "random"}, ["runs.csv"])
    assert any(
        line.startswith("  note: a random search draws as it always does")
        for line in found.summary_lines()
    )
    assert not any("note" in line for line in load_prior_runs(LR_OPT, ["runs.csv"]).summary_lines())


def test_a_bad_source_leaves_no_new_database_behind(tmp_path: Path) -> None:
    db = tmp_path / "sub" / "new.db"
    with pytest.raises(PriorRunsError):
        localsweep.sweep(LR_OPT, prior_runs=["nosuch.csv"], db=db)
    with pytest.raises(PriorRunsError):
        localsweep.run(LR_OPT, lambda c: 1.0, prior_runs="nosuch", db=db)
    assert not db.exists() and not db.parent.exists()
    # A good source still makes the database, with its prior runs.
    Path("runs.csv").write_text("lr,opt.name,loss\n0.01,adam,1\n")
    sweep = localsweep.Api(db).sweep(localsweep.sweep(LR_OPT, prior_runs="runs.csv", db=db))
    assert len(sweep.prior_runs) == 1


def test_a_database_given_without_its_sweep_id_or_an_id_with_no_database_says_the_fix(
    tmp_path: Path,
) -> None:
    """Two slips of a first warm start: last week's database named without ``#SWEEP_ID``,
    and a sweep id given where there is no database to look it up in."""
    old = localsweep.run(LR_OPT, lambda c: c["lr"], count=1, db="old.db")
    with pytest.raises(PriorRunsError) as info:
        localsweep.sweep(LR_OPT, prior_runs="old.db", db=tmp_path / "new.db")
    assert "is a database: name the sweep (or run) to take from it as old.db#SWEEP_ID" in str(
        info.value
    )
    with pytest.raises(PriorRunsError) as info:
        localsweep.sweep(LR_OPT, prior_runs=old.id, db=tmp_path / "new.db")
    assert "no database yet to look it up in" in str(info.value)
    assert "other.db#SWEEP_ID" in str(info.value)
    assert not (tmp_path / "new.db").exists()


def test_a_failed_run_folder_of_a_localsweep_sweep_points_to_that_sweeps_database() -> None:
    """A run hyperband stopped exits non-zero, so its folder alone reads as failed; the
    skip says where the run's sweep is, whose database knows how it ended."""

    def train() -> None:
        import wandb

        with wandb.init() as run:
            run.log({"loss": 1.0})
            raise RuntimeError("stopped")

    old = localsweep.run(LR_OPT, train, count=1, db="old.db")
    with pytest.raises(PriorRunsError) as info:  # its only run cannot be taken
        load_prior_runs(parse_config(LR_OPT), ["wandb/offline-run-*"])
    said = " ".join(str(info.value).split())
    assert "state 'failed' did not finish" in said
    assert (
        f"it ran in sweep {old.id}: if hyperband or a plateau stopped it, take it from that "
        f"sweep's database, which knows (--prior-runs DB#{old.id})"
    ) in said
