"""Fixtures for agent tests that run real programs with real wandb, offline, in tmp_path."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from localsweep.config import parse_config
from localsweep.store import Store

PROGRAMS = Path(__file__).parent / "programs"


@pytest.fixture
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """wandb offline and silent, writing under ``tmp_path``, which is also the working
    directory; returns ``tmp_path``."""
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DISABLE_GIT", "true")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    # Set, then delete: monkeypatch then removes a WANDB_SERVICE that wandb.setup() exports
    # during the test (a shared service), which a bare delenv would leave behind.
    monkeypatch.setenv("WANDB_SERVICE", "")
    monkeypatch.delenv("WANDB_SERVICE")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def shared_service(offline: Path) -> Iterator[None]:
    """For tests whose agent shares its wandb service: shut it down afterwards, so that
    later tests in this process start from a clean wandb."""
    yield
    import wandb

    wandb.teardown()


@pytest.fixture
def store(offline: Path) -> Store:
    """A real SQLite store in ``tmp_path``."""
    s = Store(offline / "sweeps.db")
    yield s  # type: ignore[misc]
    s.close()


@pytest.fixture
def make_sweep(store: Store) -> Callable[[Mapping[str, Any]], str]:
    """Create a sweep from a config dict; returns its id. A ``program`` is looked up among
    the test programs."""

    def make(config: Mapping[str, Any]) -> str:
        config = dict(config)
        if "program" in config:
            config["program"] = str(PROGRAMS / config["program"])
        return store.create_sweep(parse_config(config)).id

    return make


@pytest.fixture
def run_program(store: Store) -> Callable[..., Any]:
    """Run a program-mode sweep with an in-process agent: ``run_program(sweep_id, count=N,
    **ProgramRunner options)``; returns the agent's report."""
    from localsweep.agent import Agent
    from localsweep.agent._subprocess import ProgramRunner

    def run(sweep_id: str, count: int | None = None, **options: Any) -> Any:
        config = store.get_sweep(sweep_id).config
        runner = ProgramRunner.for_sweep(sweep_id, config, **options)
        return Agent(store, sweep_id, runner=runner, count=count).run()

    return run


@pytest.fixture
def signals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder where the fault tests' training functions say where they are
    (``started-<pid>-<x>``, see programs/faults_train.py), and read ``release``."""
    folder = tmp_path / "signals"
    folder.mkdir()
    monkeypatch.setenv("LOCALSWEEP_TEST_SIGNALS", str(folder))
    return folder
