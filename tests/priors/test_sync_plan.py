"""What ``localsweep sync`` can do with a sweep's prior runs: upload those with a wandb
offline run folder (real folders written by real wandb), attach those ``wandb sync``
already uploaded, and leave the rest with the reason (a runs table or a database run
holds no run files; a folder that is gone). Nothing here talks to a server."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from prior_configs import LR_OPT

import localsweep
from localsweep.priors._sync_plan import (
    LEFT,
    ON_SERVER,
    UPLOAD,
    plan_prior_sync,
    split_prior_runs,
)
from localsweep.store import Store

TABLE = "id,lr,opt.name,loss\ntbl1,0.01,adam,0.3\n"


def _copy_folders(hand_runs: tuple[Path, list[str]], dest: Path) -> list[Path]:
    """Copies of the two finished hand-run folders (the session's originals stay as
    they are)."""
    root, ids = hand_runs
    out = []
    for run_id in ids[:2]:
        src = next((root / "wandb").glob(f"offline-run-*-{run_id}"))
        out.append(Path(shutil.copytree(src, dest / src.name)))
    return out


def _old_sweep(db: str) -> localsweep.Sweep:
    config = {
        "method": "grid",
        "metric": {"name": "loss"},
        "parameters": {"lr": {"values": [0.01]}, "opt": {"value": {"name": "sgd"}}},
    }
    return localsweep.run(config, lambda c: c["lr"] * 10, count=1, db=db)


def test_folders_are_uploaded_and_tables_and_database_runs_are_left_with_the_reason(
    hand_runs: tuple[Path, list[str]], tmp_path: Path
) -> None:
    _root, ids = hand_runs
    folders = _copy_folders(hand_runs, tmp_path / "wandb")
    Path("runs.csv").write_text(TABLE)
    old = _old_sweep("old.db")
    sweep_id = localsweep.sweep(
        LR_OPT, prior_runs=[*map(str, folders), "runs.csv", f"old.db#{old.id}"], db="new.db"
    )
    store = Store("new.db")
    try:
        plan = plan_prior_sync(store, sweep_id)
    finally:
        store.close()
    assert [p.status for p in plan.runs] == [UPLOAD, UPLOAD, LEFT, LEFT]
    first, second, row, db_run = plan.runs
    assert (first.wandb_id, second.wandb_id) == (ids[0], ids[1])
    assert first.folder == folders[0] and first.run_file is not None
    assert first.run_file.name == f"run-{ids[0]}.wandb"
    assert row.wandb_id == "tbl1"
    assert row.reason is not None and "runs table" in row.reason and "runs.csv" in row.reason
    assert db_run.reason is not None and "another database" in db_run.reason
    assert db_run.run.prior_run_id == old.runs[0].id
    # Nothing uploaded yet: nothing to attach; once both folders are, both ids, in order.
    assert plan.attach_ids() == []
    assert plan.attach_ids([first.run.id, second.run.id]) == [ids[0], ids[1]]
    lines = plan.summary_lines()
    assert lines[0] == (
        "prior runs: 4, 2 to upload, 0 already uploaded by wandb sync (attached only), 2 left"
    )
    assert any(line.startswith("  left prior run tbl1: from a runs table") for line in lines)


def test_a_folder_wandb_sync_already_uploaded_is_attached_and_not_uploaded_again(
    hand_runs: tuple[Path, list[str]], tmp_path: Path
) -> None:
    _root, ids = hand_runs
    folders = _copy_folders(hand_runs, tmp_path / "wandb")
    run_file = next(folders[1].glob("run-*.wandb"))
    run_file.with_name(run_file.name + ".synced").write_text("")  # as wandb sync leaves it
    sweep_id = localsweep.sweep(LR_OPT, prior_runs=[str(f) for f in folders], db="new.db")
    store = Store("new.db")
    try:
        plan = plan_prior_sync(store, sweep_id)
    finally:
        store.close()
    assert [p.status for p in plan.runs] == [UPLOAD, ON_SERVER]
    assert [p.wandb_id for p in plan.to_upload] == [ids[0]]
    assert [p.wandb_id for p in plan.on_server] == [ids[1]]
    # The one already there is attached even if the upload of the other failed.
    assert plan.attach_ids() == [ids[1]]
    assert plan.attach_ids([plan.runs[0].run.id]) == [ids[0], ids[1]]


def test_a_moved_folder_is_left_until_its_new_place_is_given_as_a_wandb_dir(
    hand_runs: tuple[Path, list[str]], tmp_path: Path
) -> None:
    _root, ids = hand_runs
    (folder, _other) = _copy_folders(hand_runs, tmp_path / "here" / "wandb")
    sweep_id = localsweep.sweep(LR_OPT, prior_runs=[str(folder)], db="new.db")
    moved = tmp_path / "elsewhere" / "wandb"
    moved.mkdir(parents=True)
    shutil.move(str(folder), str(moved / folder.name))
    store = Store("new.db")
    try:
        (gone,) = plan_prior_sync(store, sweep_id).runs
        (found,) = plan_prior_sync(store, sweep_id, wandb_dirs=[tmp_path / "elsewhere"]).runs
    finally:
        store.close()
    assert gone.status == LEFT
    assert gone.reason is not None and str(folder) in gone.reason and "is gone" in gone.reason
    assert found.status == UPLOAD and found.wandb_id == ids[0]
    assert found.folder == moved / folder.name


def test_the_sweeps_own_runs_are_kept_apart_from_its_prior_runs(
    hand_runs: tuple[Path, list[str]], tmp_path: Path
) -> None:
    folders = _copy_folders(hand_runs, tmp_path / "wandb")
    sweep = localsweep.run(
        LR_OPT, lambda c: c["lr"], count=2, prior_runs=[str(folders[0])], db="new.db"
    )
    store = Store("new.db")
    try:
        records = store.list_runs(sweep.id)
        own, priors = split_prior_runs(records)
        plan = plan_prior_sync(store, sweep.id, runs=records)
    finally:
        store.close()
    assert [r.id for r in own] == [r.id for r in sweep.runs]
    assert [r.id for r in priors] == [p.id for p in sweep.prior_runs]
    assert [p.run.id for p in plan.runs] == [p.id for p in sweep.prior_runs]


def test_a_sweep_without_prior_runs_has_an_empty_plan() -> None:
    sweep = localsweep.run(LR_OPT, lambda c: c["lr"], count=1, db="new.db")
    store = Store("new.db")
    try:
        plan = plan_prior_sync(store, sweep.id)
    finally:
        store.close()
    assert plan.runs == () and plan.summary_lines() == [] and plan.attach_ids() == []


def test_a_table_row_whose_run_folder_is_in_the_working_folder_is_uploaded(
    hand_runs: tuple[Path, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An export of last week's sweep, made on the machine that still holds its ./wandb:
    # the row's run id finds its folder there, as sync finds the sweep's own runs.
    monkeypatch.delenv("WANDB_DIR", raising=False)
    _root, ids = hand_runs
    (folder, _other) = _copy_folders(hand_runs, tmp_path / "wandb")
    Path("runs.csv").write_text(
        f"id,lr,opt.name,loss\n{ids[0]},0.01,adam,0.3\ntbl1,0.02,adam,0.4\n"
    )
    sweep_id = localsweep.sweep(LR_OPT, prior_runs=["runs.csv"], db="new.db")
    store = Store("new.db")
    try:
        found, left = plan_prior_sync(store, sweep_id).runs
    finally:
        store.close()
    assert found.status == UPLOAD and found.wandb_id == ids[0] and found.folder == folder
    assert left.status == LEFT and left.reason is not None
    assert "a table holds no run files" in left.reason and str(Path.cwd()) in left.reason
    assert "--wandb-dir" in left.reason
