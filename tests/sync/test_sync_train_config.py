"""``localsweep sync`` of a sweep whose runs were ``train(config)`` functions: no wandb run
is made for them (docs/python-api.md), so there is nothing to upload. The sync says so
once, leaves them without failing, and creates no server sweep that would hold nothing;
a finished wandb run whose folder is gone is still ``missing``. Real offline runs, the
real CLI and ``wandb sync``, and the W&B stand-in on 127.0.0.1."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sync_helpers import Site, StandinServer, run_cli

import localsweep

pytestmark = pytest.mark.slow

CONFIG = {
    "method": "grid",
    "metric": {"name": "loss"},
    "parameters": {"x": {"values": [1, 2, 3]}},
}


def _train(config: dict[str, int]) -> float:
    return float((config["x"] - 2) ** 2)


@pytest.fixture
def train_sweep(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """A finished sweep of three ``train(config)`` runs, in a folder of its own (the
    working directory and ``WANDB_DIR``: no wandb folder of any run is there)."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.chdir(root)
    monkeypatch.setenv("WANDB_DIR", str(root))
    db = root / "s.db"
    sweep = localsweep.run(CONFIG, _train, count=None, db=db, quiet=True)
    assert [r.state for r in sweep.runs] == ["finished"] * 3
    return db, sweep.id


def test_a_dry_run_says_once_that_train_config_runs_have_nothing_to_upload(
    train_sweep: tuple[Path, str],
) -> None:
    db, sweep_id = train_sweep

    result = run_cli("sync", "--db", str(db), sweep_id, "--dry-run", "-e", "me", "-p", "proj")

    assert result.returncode == 0, result.stdout + result.stderr
    out = " ".join(result.stdout.split())
    assert out.count("ran without wandb") == 1
    assert "3 run(s) ran without wandb (train(config)" in out
    assert "nothing to upload" in out
    assert "copy that machine's" not in out and "missing" not in out
    assert "Would create a sweep" not in out
    assert "Nothing to upload: no sweep would be created in me/proj" in out
    assert "could not be uploaded" not in result.stderr


def test_a_sync_of_train_config_runs_creates_no_sweep_and_exits_0(
    train_sweep: tuple[Path, str], server: StandinServer
) -> None:
    db, sweep_id = train_sweep

    result = run_cli("sync", "--db", str(db), sweep_id, "-e", "team", "-p", "proj")

    assert result.returncode == 0, result.stdout + result.stderr
    out = " ".join(result.stdout.split())
    assert "3 run(s) ran without wandb" in out
    assert "Nothing to upload: no sweep was created in team/proj" in out
    assert server.created_sweeps() == []
    assert server.uploaded_runs() == set()


def test_the_python_sync_leaves_train_config_runs_as_no_failure(
    train_sweep: tuple[Path, str], server: StandinServer
) -> None:
    db, sweep_id = train_sweep

    report = localsweep.sync(sweep_id, db=db, entity="team", project="proj")

    assert report.ok and report.nothing_to_upload
    assert report.server_sweep is None and not report.created
    assert {r.outcome for r in report.runs} == {"left"}
    assert all("without wandb" in (r.message or "") for r in report.runs)
    assert server.created_sweeps() == []


def test_a_finished_wandb_run_whose_folder_is_gone_is_still_missing(
    site: Site, server: StandinServer
) -> None:
    # The store recorded its folder: it ran with wandb, and its folder must be found.
    gone = site.run_ids[0]
    shutil.rmtree(site.run_folder(gone))

    result = run_cli("sync", site.sweep_id, "--dry-run", "-e", "team")

    assert result.returncode == 1, result.stdout + result.stderr
    out = " ".join(result.stdout.split())
    assert "missing" in out
    assert "wandb/ folder here" in out.replace(" ", " ")
    assert "without wandb" not in out
    assert "Would create a sweep" in out
