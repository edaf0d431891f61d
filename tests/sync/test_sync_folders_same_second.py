"""A resumed run's attempt that starts within the same second as the one before gets the
folder ``offline-run-<time>-<id>-1`` from wandb (``x_sync_dir_suffix``): sync and the Api
take it as one more attempt of the run, not as a folder of another run."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from localsweep._sync._plan import FolderIndex, find_run_folders

TIME = "offline-run-20261130_122334"


def _run(run_id: str, folder: Path) -> Any:
    return SimpleNamespace(id=run_id, dir=str(folder))


def test_every_attempts_folder_is_found_in_the_order_wandb_made_them(tmp_path: Path) -> None:
    wandb_dir = tmp_path / "wandb"
    names = [f"{TIME}-oh1ykaer", f"{TIME}-oh1ykaer-1", f"{TIME}-oh1ykaer-2",
             "offline-run-20261130_122335-oh1ykaer", f"{TIME}-other123"]  # fmt: skip
    for name in names:
        (wandb_dir / name).mkdir(parents=True)
    recorded = wandb_dir / f"{TIME}-oh1ykaer-2"  # where the agent recorded the last attempt
    for index in (None, FolderIndex()):
        found = find_run_folders(_run("oh1ykaer", recorded), [tmp_path], index)
        assert [p.name for p in found] == names[:4]


def test_a_run_whose_id_ends_in_digits_after_a_dash_keeps_its_own_folders(
    tmp_path: Path,
) -> None:
    wandb_dir = tmp_path / "wandb"
    for name in (f"{TIME}-my-run-7", f"{TIME}-my-run-7-1"):
        (wandb_dir / name).mkdir(parents=True)
    found = find_run_folders(_run("my-run-7", wandb_dir / f"{TIME}-my-run-7"), [tmp_path])
    assert [p.name for p in found] == [f"{TIME}-my-run-7", f"{TIME}-my-run-7-1"]
