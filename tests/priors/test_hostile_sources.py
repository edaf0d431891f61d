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
