"""Parallel workers: several runs at once in one agent process, and several agent processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from localsweep.agent._workers import run_workers, runner_factory, worker_env
from localsweep.errors import AgentError
from localsweep.records import RunState
from localsweep.store import Store
from localsweep.wandb_bridge._datastore import find_run_file, read_run_file

PROGRAMS = Path(__file__).parent / "programs"


def start_agent(store: Store, sweep_id: str, workers: int, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            sys.executable,
            str(PROGRAMS / "drive_agent.py"),
            store.url,
            sweep_id,
            str(workers),
            *extra,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )


def test_worker_gets_its_gpu_round_robin() -> None:
    gpus = ["0", "1", "2"]
    assert [worker_env(i, gpus) for i in range(4)] == [
        {"CUDA_VISIBLE_DEVICES": "0"},
        {"CUDA_VISIBLE_DEVICES": "1"},
        {"CUDA_VISIBLE_DEVICES": "2"},
        {"CUDA_VISIBLE_DEVICES": "0"},
    ]
    assert worker_env(0, None) == {}


def test_several_workers_refuse_a_function_run_in_this_process(
    store: Store, make_sweep: Callable[..., str]
) -> None:
    sweep_id = make_sweep({"method": "grid", "parameters": {"x": {"values": [1, 2]}}})
    make_runner = runner_factory(store, sweep_id, function=lambda config: 0.0)
    with pytest.raises(AgentError, match="isolation='process'"):
        run_workers(store, sweep_id, workers=2, make_runner=make_runner)
    assert store.list_runs(sweep_id) == []


def test_timeout_for_a_function_run_in_this_process_is_refused(
    store: Store, make_sweep: Callable[..., str]
) -> None:
    sweep_id = make_sweep({"method": "grid", "parameters": {"x": {"values": [1, 2]}}})
    with pytest.raises(AgentError, match="isolation='process'"):
        runner_factory(store, sweep_id, function=lambda config: 0.0, timeout=5)


@pytest.mark.slow
def test_two_workers_run_two_cpu_bound_runs_at_the_same_time(
    store: Store, make_sweep: Callable[..., str]
) -> None:
    sweep_id = make_sweep(
        {
            "program": "busy.py",
            "method": "grid",
            "parameters": {"x": {"values": [1, 2]}, "seconds": {"value": 3}},
        }
    )
    report = run_workers(store, sweep_id, workers=2, make_runner=runner_factory(store, sweep_id))
    first, second = store.list_runs(sweep_id)
    assert report.states == {"finished": 2}
    assert first.finished_at is not None and second.finished_at is not None
    # The intervals [created_at, finished_at] overlap: each started before the other ended.
    assert first.created_at < second.finished_at and second.created_at < first.finished_at
    assert first.agent_id != second.agent_id


@pytest.mark.slow
def test_workers_share_one_count(store: Store, make_sweep: Callable[..., str]) -> None:
    sweep_id = make_sweep(
        {"program": "no_wandb.py", "method": "random", "parameters": {"code": {"value": 0}}}
    )
    report = run_workers(
        store, sweep_id, workers=3, count=4, make_runner=runner_factory(store, sweep_id)
    )
    assert len(store.list_runs(sweep_id)) == 4
    assert report.states == {"finished": 4}
    assert report.stop_reason == "count"


@pytest.mark.slow
def test_each_worker_gives_its_runs_its_own_gpu(
    store: Store, make_sweep: Callable[..., str]
) -> None:
    sweep_id = make_sweep(
        {"program": "env_probe.py", "method": "grid", "parameters": {"x": {"values": [1, 2, 3]}}}
    )
    run_workers(store, sweep_id, gpus=["0", "1"], make_runner=runner_factory(store, sweep_id))
    gpu_of_agent: dict[str | None, set[str]] = {}
    for run in store.list_runs(sweep_id):
        assert run.state is RunState.FINISHED, run.error
        gpu_of_agent.setdefault(run.agent_id, set()).add(run.summary["env"]["CUDA_VISIBLE_DEVICES"])
    assert all(len(gpus) == 1 for gpus in gpu_of_agent.values())
    seen = [gpu for gpus in gpu_of_agent.values() for gpu in gpus]
    assert len(seen) == len(set(seen)) and set(seen) <= {"0", "1"}


@pytest.mark.slow
def test_grid_with_two_agent_processes_of_two_workers_runs_each_point_once(
    store: Store, make_sweep: Callable[..., str]
) -> None:
    values = list(range(8))
    sweep_id = make_sweep(
        {
            "program": "busy.py",
            "method": "grid",
            "parameters": {"x": {"values": values}, "seconds": {"value": 0.2}},
        }
    )
    agents = [start_agent(store, sweep_id, 2) for _ in range(2)]
    for agent in agents:
        agent.communicate(timeout=240)
        assert agent.returncode == 0
    runs = store.list_runs(sweep_id)
    assert sorted(run.config["x"] for run in runs) == values
    assert {run.state for run in runs} == {RunState.FINISHED}
    assert len({run.agent_id for run in runs}) > 1
    assert store.get_sweep(sweep_id).finished_reason == "exhausted"


def _wait_for(condition: Callable[[], bool], what: str, limit: float = 120) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.2)


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_ctrl_c_stops_every_running_child_and_records_it_killed(
    workers: int, store: Store, make_sweep: Callable[..., str]
) -> None:
    sweep_id = make_sweep(
        {
            "program": "curve.py",
            "method": "grid",
            "metric": {"name": "loss"},
            "parameters": {
                "quality": {"values": [1, 2, 3, 4]},
                "epochs": {"value": 1000},
                "pace": {"value": 0.2},
            },
        }
    )
    agent = start_agent(store, sweep_id, workers)

    def all_logging() -> bool:
        runs = store.list_runs(sweep_id)
        return len(runs) == workers and all(store.history(r.id) for r in runs)

    _wait_for(all_logging, f"{workers} runs to log")
    os.kill(agent.pid, signal.SIGINT)
    agent.communicate(timeout=120)
    assert agent.returncode == 130
    runs = store.list_runs(sweep_id)
    assert len(runs) == workers
    for run in runs:
        assert run.state is RunState.KILLED
        assert (run.error or "").startswith("stopped by the user (Ctrl-C); sent SIGINT")
        run_file = find_run_file(run.dir or "")
        assert run_file is not None and read_run_file(run_file).exit_code == 255
