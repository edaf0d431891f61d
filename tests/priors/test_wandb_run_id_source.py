"""`wandb sweep -R ID` with a wandb run id, in real processes: when the id is no run of
this database, the run's own wandb folder is taken (``*run-*-ID`` where wandb writes its
runs), and the summary line says which folder."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from prior_configs import LR_OPT

import localsweep

sys.path.insert(0, str(Path(__file__).parent.parent / "helpers"))
from cli_process import cli_at

pytestmark = pytest.mark.slow


@pytest.fixture
def config(tmp_path: Path) -> Path:
    import yaml

    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump(LR_OPT))
    return path


def _taken(made: object, run_id: str, folder: Path) -> None:
    assert made.returncode == 0, made.stderr  # type: ignore[attr-defined]
    said = " ".join(made.stderr.split())  # type: ignore[attr-defined]
    assert f"{run_id} (wandb run folder " in said and "by its run id" in said, said
    assert folder.name in said
    assert "1 run, 1 taken" in said


def test_a_wandb_run_id_takes_its_folder_in_dot_wandb(
    hand_runs: tuple[Path, list[str]], config: Path, tmp_path: Path
) -> None:
    root, ids = hand_runs
    (folder,) = (root / "wandb").glob(f"*run-*-{ids[0]}")
    # Run in the folder that holds ./wandb; WANDB_DIR (the test's) has no runs.
    made = cli_at(root, "sweep", str(config), "--db", str(tmp_path / "s.db"), "-R", ids[0])
    _taken(made, ids[0], folder)
    sweep = localsweep.Api(str(tmp_path / "s.db")).sweep(made.stdout.strip())
    assert [run.config["lr"] for run in sweep.prior_runs] == [0.01]


def test_a_wandb_run_id_takes_its_folder_under_wandb_dir(
    hand_runs: tuple[Path, list[str]], config: Path, tmp_path: Path
) -> None:
    root, ids = hand_runs
    (folder,) = (root / "wandb").glob(f"*run-*-{ids[1]}")
    made = cli_at(tmp_path, "sweep", str(config), "--db", "s.db", "-R", f"E/P/{ids[1]}",
                  env={"WANDB_DIR": str(root)})  # fmt: skip
    _taken(made, f"E/P/{ids[1]}", folder)


def test_a_run_id_with_no_folder_is_still_an_error_naming_where_it_looked(
    config: Path, tmp_path: Path
) -> None:
    # A user whose runs went to another WANDB_DIR learns where the folder was looked for.
    made = cli_at(tmp_path, "sweep", str(config), "--db", "s.db", "-R", "zzzz9999",
                  drop=["WANDB_DIR"])  # fmt: skip
    assert made.returncode == 2, made.stderr
    said = " ".join(made.stderr.split())
    assert "no such file or folder" in said
    assert f"looked for {tmp_path / 'wandb' / '*run-*-zzzz9999'}" in said
    assert "set WANDB_DIR if the runs went elsewhere" in said
