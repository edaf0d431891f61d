"""A program-mode run whose wandb folder is not in the agent's ``wandb/`` folder, because
the program passes ``wandb.init(dir=...)`` or sets ``WANDB_DIR`` itself, is recorded from
that folder: rows, metric, config and ``Run.dir``; and a run whose folder cannot be found
at all says so, rather than passing for a run that never logged its metric."""

from __future__ import annotations

from pathlib import Path

import pytest
from faults_support import PROGRAMS, grid, start_agent

import localsweep

pytestmark = pytest.mark.slow


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name in ("WANDB_MODE", "WANDB_DIR", "WANDB_API_KEY", "WANDB_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return {"WANDB_SILENT": "true", "WANDB_DISABLE_GIT": "true", "SET_MODE": "offline"}


@pytest.mark.parametrize("where", ["dir", "WANDB_DIR"])
def test_a_run_whose_folder_the_program_puts_elsewhere_is_recorded_from_it(
    tmp_path: Path, env: dict[str, str], where: str
) -> None:
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(grid(2, program=str(PROGRAMS / "env_online.py")), db=db)
    agent = start_agent(sweep_id, db, tmp_path / "agent.log", env={**env, "WHERE": where})
    assert agent.wait() == 0, agent.output()
    runs = sorted(localsweep.Api(db).sweep(sweep_id).runs, key=lambda r: r.config["x"])
    assert [r.state for r in runs] == ["finished", "finished"], agent.output()
    assert [r.summary.get("loss") for r in runs] == [0.0, 1.0]
    assert [[row["loss"] for row in r.history()] for r in runs] == [[0.0], [1.0]]
    elsewhere = (tmp_path / "elsewhere" / "wandb").resolve()
    for run in runs:
        assert run.dir is not None and Path(run.dir).parent == elsewhere, run.dir
        assert Path(run.dir).name.endswith(run.id)
    assert "was never logged" not in agent.output()


def test_a_run_whose_folder_is_not_found_says_so(tmp_path: Path, env: dict[str, str]) -> None:
    """The run is started with ``dir=`` in a process that does not load localsweep's hook
    (``python -I``), so nothing tells the agent where its folder is."""
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(grid(1, program=str(PROGRAMS / "dir_escape.py")), db=db)
    agent = start_agent(sweep_id, db, tmp_path / "agent.log", env={**env, "WANDB_SILENT": "false"})
    agent.wait()
    (run,) = localsweep.Api(db).sweep(sweep_id).runs
    assert list((tmp_path / "elsewhere" / "wandb").glob(f"offline-run-*-{run.id}"))
    assert run.state == "failed", agent.output()
    assert "called wandb.init, but the run's folder" in (run.error or "")
    assert f"not found under {tmp_path.resolve() / 'wandb'}" in (run.error or "")
    assert "wandb.init(dir=...) or WANDB_DIR" in (run.error or "")
    assert "was never logged" not in agent.output()
    assert "Traceback" not in agent.output()
