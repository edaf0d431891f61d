"""Nothing leaves the machine from any process a run starts, in function mode as in program
mode: a helper Python started by the training code (in another folder, with the
environment as it is, with the ``WANDB_*`` variables removed, or asking for online mode), a
``multiprocessing`` worker after the code set ``WANDB_MODE=online``, and wandb's ``init``
reached by a name localsweep did not replace (``from wandb import init`` bound before the
run opened, ``wandb.sdk.init``, ``wandb.sdk.wandb_init.init``).

The user is logged in (as ``wandb login --host`` leaves it: the host in the global settings
file, a key in ``~/.netrc``, which survive a cleared environment) to the tests' W&B stand-in
server on loopback; no request may reach it, and every run must be offline."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from faults_support import PROGRAMS, grid, start_agent

import localsweep

sys.path.insert(0, str(Path(__file__).parents[1] / "helpers"))
from wandb_standin import StandinServer

pytestmark = pytest.mark.slow

_PROGRAM = str(PROGRAMS / "offline_tree.py")


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[StandinServer]:
    """The stand-in server, with a ``HOME`` logged in to it; the working directory and the
    environment are those of a user's shell (no ``WANDB_MODE``)."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in os.environ:
        if name.startswith("WANDB_") or name == "NETRC":
            monkeypatch.delenv(name)
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_DISABLE_GIT", "true")
    monkeypatch.chdir(tmp_path)
    with StandinServer() as standin:
        settings = home / ".config" / "wandb" / "settings"
        settings.parent.mkdir(parents=True)
        settings.write_text(f"[default]\nbase_url = {standin.url}\n")
        host = standin.url.removeprefix("http://")
        netrc = home / ".netrc"
        netrc.write_text(f"machine {host}\n  login user\n  password {'k' * 40}\n")
        netrc.chmod(0o600)
        yield standin


def _run(
    tmp_path: Path,
    env: dict[str, str],
    *,
    function: bool,
    isolation: str = "thread",
    n: int = 1,
) -> Any:
    db = str(tmp_path / "sweeps.db")
    config = grid(n) if function else grid(n, program=_PROGRAM)
    sweep_id = localsweep.sweep(config, db=db)
    extra = ["--isolation", isolation] if function else []
    agent = start_agent(
        sweep_id,
        db,
        tmp_path / "agent.log",
        function="offline_tree:train" if function else None,
        extra=extra,
        env={**env, "HERE": str(tmp_path)},
    )
    assert agent.wait() == 0, agent.output()
    return agent, localsweep.Api(db).sweep(sweep_id).runs


def _assert_offline(tmp_path: Path, server: StandinServer, runs: Any, *names: str) -> None:
    errors = {p.name: p.read_text() for p in tmp_path.glob("*.error")}
    assert errors == {}
    assert [r.state for r in runs] == ["finished"] * len(runs)
    for name in names:
        assert (tmp_path / f"{name}.mode").read_text() == "offline", name
    assert [f"{r.method} {r.path}" for r in server.requests] == []
    assert not list(tmp_path.rglob("wandb/run-*"))  # no online run folder anywhere


_MODES = ["function-thread", "function-process", "program"]


def _mode(mode: str) -> dict[str, Any]:
    if mode == "program":
        return {"function": False}
    return {"function": True, "isolation": mode.removeprefix("function-")}


@pytest.mark.parametrize("mode", _MODES)
@pytest.mark.parametrize("helper", ["inherit", "clear", "online"])
def test_a_helper_python_the_run_starts_stays_offline(
    tmp_path: Path, server: StandinServer, helper: str, mode: str
) -> None:
    env = {"CASE": "helper", "HELPER": helper}
    _, runs = _run(tmp_path, env, **_mode(mode))
    _assert_offline(tmp_path, server, runs, "run-0", "helper")


@pytest.mark.parametrize("isolation", ["thread", "process"])
@pytest.mark.parametrize("helper", ["inherit", "clear", "online"])
def test_a_helper_python_a_train_config_function_starts_stays_offline(
    tmp_path: Path, server: StandinServer, helper: str, isolation: str
) -> None:
    """A ``train(config)`` function opens no wandb run of the sweep, but the processes it
    starts are the run's processes all the same."""
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(grid(1), db=db)
    env = {"HELPER": helper, "HERE": str(tmp_path)}
    agent = start_agent(
        sweep_id, db, tmp_path / "agent.log", function="offline_tree:train_config_helper",
        extra=["--isolation", isolation], env=env,
    )  # fmt: skip
    assert agent.wait() == 0, agent.output()
    runs = localsweep.Api(db).sweep(sweep_id).runs
    _assert_offline(tmp_path, server, runs, "helper")


@pytest.mark.parametrize("mode", _MODES)
@pytest.mark.parametrize("start", ["spawn", "forkserver"])
def test_a_worker_after_the_code_sets_wandb_mode_online_stays_offline(
    tmp_path: Path, server: StandinServer, start: str, mode: str
) -> None:
    """torch DDP's pattern: ``WANDB_MODE=online`` (an option's default), then a spawned
    worker (rank 0) calls ``wandb.init()``."""
    _, runs = _run(tmp_path, {"CASE": "spawn", "START": start}, **_mode(mode))
    _assert_offline(tmp_path, server, runs, "run-0", "worker")


@pytest.mark.parametrize("mode", _MODES)
@pytest.mark.parametrize("case", ["bound", "sdk", "sdk_module"])
def test_wandb_init_by_another_name_runs_offline_with_one_warning(
    tmp_path: Path, server: StandinServer, case: str, mode: str
) -> None:
    """``from wandb import init`` bound when the module was imported, ``wandb.sdk.init``,
    ``wandb.sdk.wandb_init.init``, each with ``mode="online"``: the sweep's own run is
    offline (it is the run the sweep records), and the sweep says once what was asked."""
    agent, runs = _run(tmp_path, {"CASE": case}, n=2, **_mode(mode))
    _assert_offline(tmp_path, server, runs, "run-0", "run-1")
    assert sorted(r.summary["loss"] for r in runs) == [0.0, 1.0]
    warning = "the training code calls wandb.init with mode='online'; localsweep runs every run"
    # Once per sweep, in the agent's output; isolation="process" also has it in each run's
    # own process (its stderr file), and the agent says it once for them all.
    assert agent.output().count(warning) == 1, agent.output()
    errs = "".join(p.read_text() for p in tmp_path.glob("wandb/sweep-*/*.err"))
    assert errs.count(warning) == (2 if mode == "function-process" else 0), errs


def test_the_agent_process_environment_is_put_back_after_its_runs(
    tmp_path: Path, server: StandinServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``localsweep.run`` in this process: while the run executes, the process's environment
    carries ``WANDB_MODE=offline`` and the boot folder (for the processes the run starts);
    once it returns, the environment is the user's again."""
    from localsweep.wandb_bridge._forced_offline import BOOT_DIR

    monkeypatch.setenv("PYTHONPATH", "/user/path")
    seen: list[tuple[str | None, str | None]] = []

    def train() -> None:
        import wandb

        with wandb.init() as run:
            seen.append((os.environ.get("WANDB_MODE"), os.environ.get("PYTHONPATH")))
            run.log({"loss": 1.0})

    import wandb

    try:
        localsweep.run(grid(1), train, count=1, db=str(tmp_path / "sweeps.db"))
    finally:
        wandb.teardown()
    assert seen == [("offline", os.pathsep.join([str(BOOT_DIR), "/user/path"]))]
    assert "WANDB_MODE" not in os.environ
    assert os.environ["PYTHONPATH"] == "/user/path"
    assert [f"{r.method} {r.path}" for r in server.requests] == []


def test_a_program_that_looks_for_wandb_before_importing_it_stays_offline(
    tmp_path: Path, server: StandinServer
) -> None:
    """``importlib.util.find_spec("wandb")`` first (transformers' ``is_wandb_available()``),
    ``import wandb`` after: the hook still catches the import, and the run's
    ``wandb.init(mode="online")`` is offline."""
    db = str(tmp_path / "sweeps.db")
    sweep_id = localsweep.sweep(grid(1, program=str(PROGRAMS / "find_spec_first.py")), db=db)
    agent = start_agent(sweep_id, db, tmp_path / "agent.log", env={"HERE": str(tmp_path)})
    assert agent.wait() == 0, agent.output()
    _assert_offline(tmp_path, server, localsweep.Api(db).sweep(sweep_id).runs, "run-0")


def test_a_train_that_adds_to_pythonpath_keeps_its_part_and_not_localsweeps(
    tmp_path: Path, server: StandinServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from localsweep.wandb_bridge._forced_offline import BOOT_DIR

    monkeypatch.setenv("PYTHONPATH", "/user/path")

    def train(config: dict[str, Any]) -> float:
        os.environ["PYTHONPATH"] += os.pathsep + "/opt/mylib"
        return 1.0

    localsweep.run(grid(1), train, count=1, db=str(tmp_path / "sweeps.db"), quiet=True)
    assert os.environ["PYTHONPATH"] == os.pathsep.join(["/user/path", "/opt/mylib"])
    assert str(BOOT_DIR) not in os.environ["PYTHONPATH"]
