"""Helpers for the wandb_bridge tests: real wandb runs in child processes, real run files.

Every wandb process here runs offline in a temporary ``WANDB_DIR`` and in its own child
process, so each test gets a fresh wandb (settings are read once per process).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

OFFLINE_WANDB_ENV = {
    "WANDB_MODE": "offline",
    "WANDB_SILENT": "true",
    "WANDB_DISABLE_GIT": "true",
    # Without it rows reach the file only every 15 s, too late to follow a run.
    "WANDB_X_TRANSACTION_LOG_FLUSH_INTERVAL": "0.2",
}
# Generous: wandb start-up takes seconds on a loaded machine, and a hung child must not
# hang the suite.
CHILD_TIMEOUT = 120.0


def _set_offline_wandb_env(monkeypatch: pytest.MonkeyPatch, wandb_dir: Path) -> None:
    """Make this test's wandb children offline in ``wandb_dir`` (undone after the test)."""
    for name, value in _offline_wandb_env(wandb_dir).items():
        monkeypatch.setenv(name, value)
    # A service inherited from the test runner would make the children share its wandb-core.
    monkeypatch.delenv("WANDB_SERVICE", raising=False)
    # Runs made here are runs by hand unless their fixture says otherwise.
    monkeypatch.delenv("WANDB_SWEEP_ID", raising=False)


def _offline_wandb_env(wandb_dir: Path) -> dict[str, str]:
    """What a wandb child needs beyond the test's environment: offline, quiet, flushing
    fast, in ``wandb_dir``."""
    return {**OFFLINE_WANDB_ENV, "WANDB_DIR": str(wandb_dir)}


def _child_env(wandb_dir: Path, **more: str) -> dict[str, str]:
    """The whole environment of a module-scoped fixture's child. Given to the child alone,
    never set in this process: a fixture that outlives its test would otherwise undo its
    change out of order with the others (pytest 8.0 tore ``offline_run_file`` down before
    ``offline_run_file_with_large_config``, set up after it), leaving its values (a 0.2 s
    flush interval, a sweep id) set for every later module."""
    env = {**os.environ, **_offline_wandb_env(wandb_dir), **more}
    env.pop("WANDB_SERVICE", None)
    if "WANDB_SWEEP_ID" not in more:
        env.pop("WANDB_SWEEP_ID", None)
    return env


def _run_to_end(wandb_dir: Path, source: str, env: dict[str, str]) -> Path:
    """Run ``source`` as a child in ``wandb_dir`` with ``env``; return the run file of the
    one run it made."""
    script = wandb_dir / "train.py"
    script.write_text(textwrap.dedent(source))
    proc = subprocess.run(
        [sys.executable, str(script)],
        cwd=wandb_dir,
        env=env,
        capture_output=True,
        timeout=CHILD_TIMEOUT,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    run_files = list((wandb_dir / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(run_files) == 1, run_files
    return run_files[0]


FINISHED_RUN_SCRIPT = """
    import json
    import wandb

    config = {"lr": 0.01, "model": {"layers": 3, "act": {"name": "relu", "slope": 0.1}},
              "tags": ["a", "b"]}
    run = wandb.init(project="datastore-test", config=config)
    rows = []
    for i in range(20):
        row = {"loss": 1.0 / (i + 1), "acc": i / 20, "grad": {"norm": i * 0.5, "sub": {"max": -i}},
               "name": f"row{i}"}
        wandb.log(row)
        rows.append(dict(row, _step=i))
    for i in range(20, 30):
        # A commit=False part is merged into the row the next log commits.
        wandb.log({"part": i * 2}, commit=False)
        wandb.log({"loss": 1.0 / (i + 1)})
        rows.append({"part": i * 2, "loss": 1.0 / (i + 1), "_step": i})
    for i in range(30, 50):
        step = 100 + i
        wandb.log({"loss": 1.0 / (i + 1), "epoch": i, "flag": i % 2 == 0}, step=step)
        rows.append({"loss": 1.0 / (i + 1), "epoch": i, "flag": i % 2 == 0, "_step": step})
    run.summary["x"] = 7.5
    run.summary["best"] = {"loss": 0.02, "at": 149}
    run.summary.update({"note": "done", "gone": 1})
    del run.summary["gone"]
    run.config.update({"late": {"k": 1}})
    expected = {"run_id": run.id, "project": run.project, "rows": rows,
                "config": dict(config, late={"k": 1})}
    run.finish()
    with open("expected.json", "w") as f:
        json.dump(expected, f)
"""

LARGE_CONFIG_SCRIPT = """
    import json
    import wandb

    # About 100 KB: more than three 32 KiB blocks, so the run record is split into chunks.
    blob = "".join(chr(ord("a") + i % 26) for i in range(100_000))
    run = wandb.init(project="datastore-test", config={"blob": blob, "n": 1})
    for i in range(3):
        wandb.log({"i": i})
    run.finish()
    with open("expected.json", "w") as f:
        json.dump({"blob": blob}, f)
"""


@pytest.fixture(scope="module")
def offline_run_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run file of a finished offline run: nested config, 50 rows logged every way, summaries.

    Shared by the tests of one module, since making a run costs a wandb start-up. What
    the child logged is in :func:`offline_run_expected`.
    """
    wandb_dir = tmp_path_factory.mktemp("finished_run")
    return _run_to_end(wandb_dir, FINISHED_RUN_SCRIPT, _child_env(wandb_dir))


@pytest.fixture(scope="module")
def offline_run_expected(offline_run_file: Path) -> dict[str, Any]:
    """What the child of :func:`offline_run_file` logged: run_id, project, rows, config."""
    expected: dict[str, Any] = json.loads(
        (offline_run_file.parents[2] / "expected.json").read_text()
    )
    return expected


@pytest.fixture(scope="module")
def offline_run_file_with_large_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run file of a finished offline run whose ~100 KB config spans blocks.

    The child wrote the config's ``blob`` to ``expected.json`` next to its ``wandb`` dir.
    """
    wandb_dir = tmp_path_factory.mktemp("large_config_run")
    return _run_to_end(wandb_dir, LARGE_CONFIG_SCRIPT, _child_env(wandb_dir))


@pytest.fixture
def datastore_wandb_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh ``WANDB_DIR`` for this test, with wandb offline, quiet and flushing every 0.2 s."""
    _set_offline_wandb_env(monkeypatch, tmp_path)
    return tmp_path


OVER_1MB_SCRIPT = """
    import wandb

    # A ~100 KB config (its run record spans blocks: FIRST, MIDDLE..., LAST chunks) and
    # enough rows for a file over 1 MB.
    blob = "".join(chr(ord("a") + i % 26) for i in range(100_000))
    run = wandb.init(project="writer-test", config={"blob": blob, "n": 1})
    for i in range(9_000):
        wandb.log({"loss": 1.0 / (i + 1), "step_name": f"row-{i}"})
    run.tags = ("renamed",)  # a second Run record, which must carry the new sweep id too
    run.finish()
"""


@pytest.fixture(scope="module")
def offline_run_file_over_1mb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The run file of a finished offline run of a (local) sweep, over 1 MB, whose ~100 KB
    config record spans blocks; its sweep id is ``ls-writer01``."""
    wandb_dir = tmp_path_factory.mktemp("over_1mb_run")
    env = _child_env(wandb_dir, WANDB_SWEEP_ID="ls-writer01")
    return _run_to_end(wandb_dir, OVER_1MB_SCRIPT, env)


@pytest.fixture
def standin_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The tests' W&B stand-in server (no real W&B server can run here), knowing sweep
    ``srv00042`` of ``team/proj``, with wandb pointed at it: ``WANDB_BASE_URL``, a dummy
    API key and a throwaway ``HOME``."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "helpers"))
    from wandb_standin import ServerSweep, StandinServer

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("WANDB_API_KEY", "k" * 40)
    with StandinServer() as server:
        server.sweeps["srv00042"] = ServerSweep("s42", "srv00042", "team", "proj", "")
        monkeypatch.setenv("WANDB_BASE_URL", server.url)
        yield server
