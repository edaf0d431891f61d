"""Sources that reach one run folder twice, or are not what they look like: a backup copy
of ``wandb/`` beside it and a link back to its own folder in one glob (one attempt, its
rows stored once), a named pipe, ``/dev/null``, and an empty
or cut-short ``.wandb`` file."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from prior_configs import GRID, LR_OPT

import localsweep
from localsweep.config import parse_config
from localsweep.errors import PriorRunsError
from localsweep.priors import load_prior_runs
from localsweep.wandb_bridge import RecordReader


def _error(sources: list[str], config: dict[str, object] = GRID) -> str:
    with pytest.raises(PriorRunsError) as info:
        load_prior_runs(parse_config(config), sources)
    return str(info.value)


def _stored_rows(sources: list[str]) -> dict[str, int]:
    """How many history rows each prior run of a new sweep from ``sources`` has stored."""
    db = str(Path("t.db").absolute())
    sweep = localsweep.Api(db).sweep(localsweep.sweep(LR_OPT, prior_runs=sources, db=db))
    return {run.id: len(run.history()) for run in sweep.prior_runs}


# ------------------------------------------------------------ one folder reached twice


def test_a_backup_copy_beside_wandb_in_one_glob_is_one_run_not_two_attempts(
    hand_runs: tuple[Path, list[str]],
) -> None:
    root, ids = hand_runs
    shutil.copytree(root / "wandb", "wandb", symlinks=True)
    Path("backup").mkdir()
    for folder in Path("wandb").glob("offline-run-*"):
        shutil.copytree(folder, Path("backup") / folder.name)
    assert _stored_rows(["*/offline-run-*"]) == {ids[0]: 5, ids[1]: 5}
    lines = load_prior_runs(parse_config(LR_OPT), ["*/offline-run-*"]).summary_lines()
    said = "\n".join(lines)
    assert "earlier attempt" not in said
    kept = next(Path("wandb").glob(f"offline-run-*-{ids[0]}"))
    assert (
        f"  skipped backup/{kept.name}: is a copy of the run folder {kept} (same name, "
        "start): taken once"
    ) in lines
    assert lines[-1] == "prior runs: 2 taken, 4 skipped"  # 3 runs' copies, the failed one


def test_a_link_back_to_its_own_folder_reads_each_run_folder_once(
    hand_runs: tuple[Path, list[str]],
) -> None:
    root, ids = hand_runs
    Path("src").mkdir()
    for folder in (root / "wandb").glob("offline-run-*"):
        shutil.copytree(folder, Path("src") / folder.name)
    os.symlink("../src", "src/linkback")
    assert _stored_rows(["src/*"]) == {ids[0]: 5, ids[1]: 5}
    said = "\n".join(load_prior_runs(parse_config(LR_OPT), ["src/*"]).summary_lines())
    assert "earlier attempt" not in said
    kept = next(Path("src").glob(f"offline-run-*-{ids[0]}"))
    assert f"is the run folder {kept} again, through a link: taken once" in said


# ------------------------------------------------------------ what a source is not


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_named_pipe_and_a_device_are_said_to_be_what_they_are() -> None:
    os.mkfifo("pipe.csv")
    said = _error(["pipe.csv", os.devnull])
    assert "'pipe.csv': is a named pipe, not a file or folder localsweep can read runs" in said
    assert f"{os.devnull!r}: is a device, not a file or folder localsweep can read runs" in said
    assert "folder without wandb runs" not in said


def test_an_empty_or_cut_short_run_file_is_said_to_be_so_not_still_running(
    hand_runs: tuple[Path, list[str]],
) -> None:
    root, ids = hand_runs
    empty = Path("z/offline-run-20260101_000000-zzzzzzzz")
    empty.mkdir(parents=True)
    (empty / "run-zzzzzzzz.wandb").write_bytes(b"")
    whole = next((root / "wandb").glob(f"offline-run-*-{ids[0]}/run-*.wandb")).read_bytes()
    cut = Path(f"z/offline-run-20260101_000000-{ids[0]}")
    cut.mkdir()
    (cut / f"run-{ids[0]}.wandb").write_bytes(whole[: len(whole) // 2])
    with RecordReader(cut / f"run-{ids[0]}.wandb") as reader:  # the last whole chunk's end
        while reader.read_new():
            pass
    # Cut 3 bytes into the next chunk: part-way through a record, wherever half fell.
    (cut / f"run-{ids[0]}.wandb").write_bytes(whole[: reader.offset + 3])
    said = _error(["z"], LR_OPT)
    assert f"{empty} its run file run-zzzzzzzz.wandb is empty (0 bytes): it holds no run" in said
    assert (
        f"{cut} its run file run-{ids[0]}.wandb ends part-way through a record, without an "
        "exit record: it is truncated or incomplete"
    ) in said
    assert "still running" not in said
