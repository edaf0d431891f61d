"""``localsweep sync`` of a prior run that was resumed with the same id (a training run by
hand, preempted and started again): one prior run, a folder per attempt, and every
attempt is uploaded, oldest first, each later one resuming the run on the server, as
``wandb sync`` of all its folders does and as sync uploads the sweep's own resumed runs.
Real offline runs, the real ``wandb sync``, and the W&B stand-in on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "helpers"))

from wandb_standin import StandinServer

import localsweep
from localsweep.priors._sync_plan import ON_SERVER, UPLOAD, PriorSyncPlan, plan_prior_sync
from localsweep.store import Store

pytestmark = pytest.mark.slow

#: Attempt 0 is preempted (an exception ends it), attempt 1 resumes it and finishes.
RESUMED = """
    import sys, wandb

    attempt = int(sys.argv[1])
    run = wandb.init(project="p", id="resumexx", resume="allow", config={"lr": 0.01})
    for s in range(3):
        wandb.log({"loss": 1.0 / (attempt * 3 + s + 1)})
    if attempt == 0:
        raise ValueError("preempted")
    run.finish()
"""

CONFIG = {
    "method": "random",
    "metric": {"name": "loss", "goal": "minimize"},
    "parameters": {"lr": {"values": [0.01, 0.1]}},
}
LOSSES = [1 / i for i in range(1, 7)]


@pytest.fixture(scope="module")
def resumed_folders(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder whose ``wandb/`` holds the two attempts' folders of run ``resumexx``."""
    root = tmp_path_factory.mktemp("resumed")
    (root / "train.py").write_text(textwrap.dedent(RESUMED))
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_DIR": str(root)}
    env.pop("WANDB_SERVICE", None)
    for attempt in ("0", "1"):
        subprocess.run(
            [sys.executable, "train.py", attempt], cwd=root, env=env, timeout=120, check=False
        )
    assert len(list((root / "wandb").glob("offline-run-*-resumexx"))) == 2
    return root


@pytest.fixture
def site(resumed_folders: Path, tmp_path: Path) -> str:
    """This test's copy of the folders, in the working folder, and a sweep that took
    them as one prior run; its id."""
    shutil.copytree(resumed_folders / "wandb", tmp_path / "wandb", symlinks=True)
    return localsweep.sweep(CONFIG, prior_runs=["wandb/offline-run-*"], db="new.db")


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StandinServer]:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("WANDB_ENTITY", raising=False)
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    with StandinServer() as s:
        monkeypatch.setenv("WANDB_BASE_URL", s.url)
        yield s


def _plan(sweep_id: str) -> PriorSyncPlan:
    store = Store("new.db")
    try:
        return plan_prior_sync(store, sweep_id)
    finally:
        store.close()


def test_every_attempt_of_a_resumed_prior_run_is_planned_oldest_first(site: str) -> None:
    (prior,) = _plan(site).runs
    folders = sorted(Path("wandb").resolve().glob("offline-run-*-resumexx"))
    assert prior.status == UPLOAD and prior.wandb_id == "resumexx"
    assert [a.folder for a in prior.attempts] == folders
    assert prior.folder == folders[-1]
    assert prior.reason is not None and prior.reason.startswith("2 attempts (3 + 3 = 6 rows)")


def test_a_resumed_prior_run_reaches_wandb_with_every_attempts_rows_in_order(
    site: str, server: StandinServer
) -> None:
    report = localsweep.sync(site, entity="team", project="p", db="new.db")

    assert report.ok, report.runs
    (row,) = report.runs
    assert row.outcome == "prior: uploaded and attached"
    run = server.runs["resumexx"]
    assert [h["loss"] for h in run.history] == pytest.approx(LOSSES)
    assert run.complete and run.exit_code == 0 and run.sweep is None

    seen = len(server.requests)
    again = localsweep.sync(site, entity="team", project="p", db="new.db")
    assert again.ok and [r.outcome for r in again.runs] == ["prior: already attached"]
    assert not [r for r in server.requests[seen:] if "file_stream" in r.path]
    assert len(server.runs["resumexx"].history) == 6


def test_attempts_wandb_sync_uploaded_already_are_not_sent_again(site: str) -> None:
    first, second = sorted(Path("wandb").resolve().glob("offline-run-*-resumexx"))
    marker = next(first.glob("run-*.wandb"))
    marker.with_name(marker.name + ".synced").write_text("")  # as wandb sync leaves it
    (prior,) = _plan(site).runs
    assert prior.status == UPLOAD and [a.folder for a in prior.attempts] == [second]
    assert prior.reason is not None and "first 1 attempt(s)" in prior.reason

    marker = next(second.glob("run-*.wandb"))
    marker.with_name(marker.name + ".synced").write_text("")
    (prior,) = _plan(site).runs
    assert prior.status == ON_SERVER
