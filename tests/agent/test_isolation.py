"""isolation="process": each run of a Python function in a fresh process, recorded as in-process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from localsweep.agent import Agent
from localsweep.agent._isolated import IsolatedFunctionRunner, pickle_function
from localsweep.errors import AgentError
from localsweep.records import RunState
from localsweep.store import Store

pytestmark = pytest.mark.slow

PROGRAMS = Path(__file__).parent / "programs"


@pytest.fixture
def functions(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The module of test functions, importable here and in the runs' processes."""
    monkeypatch.syspath_prepend(str(PROGRAMS))
    import functions as module

    yield module


def run_isolated(
    store: Store, sweep_id: str, function: Callable[..., Any], count: int | None = None, **kw: Any
) -> Any:
    runner = IsolatedFunctionRunner(function, store.url, sweep_id, **kw)
    return Agent(store, sweep_id, runner=runner, count=count).run()


def test_each_run_gets_a_fresh_process(
    store: Store, make_sweep: Callable[..., str], functions: Any
) -> None:
    sweep_id = make_sweep(
        {"method": "grid", "metric": {"name": "loss"}, "parameters": {"x": {"values": [1, 2, 3]}}}
    )
    run_isolated(store, sweep_id, functions.count_calls)
    runs = store.list_runs(sweep_id)
    assert [r.state for r in runs] == [RunState.FINISHED] * 3
    assert [r.summary["calls"] for r in runs] == [1.0, 1.0, 1.0]
    pids = {r.summary["pid"] for r in runs}
    assert len(pids) == 3 and os.getpid() not in pids
    assert [r.metric for r in runs] == [1.0, 2.0, 3.0]


def test_wandb_function_is_recorded_as_in_process(
    store: Store, make_sweep: Callable[..., str], functions: Any
) -> None:
    sweep_id = make_sweep(
        {"method": "grid", "metric": {"name": "loss"}, "parameters": {"x": {"value": 6}}}
    )
    run_isolated(store, sweep_id, functions.train_with_wandb)
    [run] = store.list_runs(sweep_id)
    assert run.state is RunState.FINISHED, run.error
    assert [row["loss"] for row in store.history(run.id)] == [6, 3, 2]
    assert run.metric == 2
    assert run.summary["pid"] != os.getpid()
    assert run.dir is not None and Path(run.dir).is_dir()
    assert run.stdout_path is not None and Path(run.stdout_path).is_file()


def test_function_past_its_timeout_fails_as_timed_out(
    store: Store, make_sweep: Callable[..., str], functions: Any
) -> None:
    sweep_id = make_sweep({"method": "grid", "parameters": {"x": {"value": 1}}})
    run_isolated(store, sweep_id, functions.sleep_forever, timeout=3, grace_period=1)
    [run] = store.list_runs(sweep_id)
    assert run.state is RunState.FAILED
    assert (run.error or "").startswith("timed out after 3 s; sent SIGINT")
    # The agent ended it: the end reason says why, and a failed run has no exit code 0
    # even when its process exited 0 after the SIGINT.
    assert run.end_reason == "timeout"
    assert run.exit_code not in (0, None)


def test_function_past_its_timeout_that_ignores_sigint_fails_and_is_not_resumed(
    store: Store, make_sweep: Callable[..., str], functions: Any
) -> None:
    # The agent's own SIGTERM ends it: that is no preemption, which would resume it forever.
    sweep_id = make_sweep({"method": "grid", "parameters": {"x": {"value": 1}}})
    # The timeout leaves the child time to start and ignore SIGINT on a loaded machine (a
    # SIGINT during its imports ends it before the function runs).
    run_isolated(
        store, sweep_id, functions.ignore_sigint_forever, count=1, timeout=10, grace_period=1
    )
    [run] = store.list_runs(sweep_id)
    assert run.state is RunState.FAILED, run.error
    assert (run.error or "").startswith("timed out after 10 s; sent SIGINT, then SIGTERM")


def test_raising_function_fails_with_its_traceback(
    store: Store,
    make_sweep: Callable[..., str],
    functions: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sweep_id = make_sweep({"method": "grid", "parameters": {"x": {"value": 7}}})
    run_isolated(store, sweep_id, functions.raise_error)
    [run] = store.list_runs(sweep_id)
    assert run.state is RunState.FAILED
    assert "RuntimeError: bad batch at x=7" in (run.error or "")
    # Shown once, whole, as an in-process run's failure is: not only in the .err file.
    shown = [r.getMessage() for r in caplog.records if f"run {run.id} failed" in r.getMessage()]
    assert len(shown) == 1 and "Traceback" in shown[0] and "bad batch at x=7" in shown[0]


def test_process_killed_by_sigkill_fails_without_a_report(
    store: Store, make_sweep: Callable[..., str], functions: Any
) -> None:
    sweep_id = make_sweep({"method": "grid", "parameters": {"x": {"value": 1}}})
    run_isolated(store, sweep_id, functions.die_by_sigkill)
    [run] = store.list_runs(sweep_id)
    assert run.state is RunState.FAILED
    assert run.exit_code == 128 + 9
    assert "killed by SIGKILL" in (run.error or "")


def test_hyperband_stops_a_bad_run_inside_its_process(
    store: Store, make_sweep: Callable[..., str], functions: Any
) -> None:
    sweep_id = make_sweep(
        {
            "method": "grid",
            "metric": {"name": "loss", "goal": "minimize"},
            "early_terminate": {"type": "hyperband", "min_iter": 2, "eta": 3},
            "parameters": {"quality": {"values": [1, 100]}},
        }
    )
    run_isolated(store, sweep_id, functions.curve)
    good, bad = store.list_runs(sweep_id)
    assert good.state is RunState.FINISHED, good.error
    assert bad.state is RunState.EARLY_TERMINATED
    assert bad.stopped_at_band == 2
    assert [row["loss"] for row in store.history(bad.id)] == [100, 50]


def test_closure_is_sent_by_value_with_cloudpickle(
    store: Store, make_sweep: Callable[..., str]
) -> None:
    pytest.importorskip("cloudpickle")
    offset = 10.0

    def train(config: dict[str, Any]) -> float:
        return config["x"] + offset

    sweep_id = make_sweep(
        {"method": "grid", "metric": {"name": "loss"}, "parameters": {"x": {"value": 1}}}
    )
    run_isolated(store, sweep_id, train)
    [run] = store.list_runs(sweep_id)
    assert run.state is RunState.FINISHED, run.error
    assert run.metric == 11.0


def test_closure_without_cloudpickle_is_refused_with_advice(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "cloudpickle", None)  # as if it were not installed

    def train(config: dict[str, Any]) -> float:
        return 0.0

    with pytest.raises(AgentError, match="top level of a module"):
        pickle_function(train)


def test_in_memory_database_is_refused(functions: Any) -> None:
    with pytest.raises(AgentError, match="in memory"):
        IsolatedFunctionRunner(functions.count_calls, "sqlite:///:memory:", "ls-x")


SCRIPT = """
import sys

import localsweep
from localsweep.agent import Agent
from localsweep.agent._isolated import IsolatedFunctionRunner
from localsweep.store import Store


def train(config):
    return {"loss": config["x"] * 2.0, "name": __name__}


def main():
    store = Store(sys.argv[1])
    runner = IsolatedFunctionRunner(train, store.url, sys.argv[2])
    Agent(store, sys.argv[2], runner=runner).run()

"""


@pytest.mark.parametrize("guarded", [True, False], ids=["guarded", "unguarded"])
def test_function_in_a_script_runs_when_the_agent_call_is_guarded(
    guarded: bool, store: Store, offline: Path, make_sweep: Callable[..., str]
) -> None:
    sweep_id = make_sweep(
        {"method": "grid", "metric": {"name": "loss"}, "parameters": {"x": {"value": 4}}}
    )
    call = 'if __name__ == "__main__":\n    main()\n' if guarded else "main()\n"
    script = offline / "sweep_script.py"
    script.write_text(SCRIPT + call)
    ran = subprocess.run([sys.executable, str(script), store.url, sweep_id], timeout=120)
    [run] = store.list_runs(sweep_id)
    if guarded:
        assert ran.returncode == 0
        assert run.state is RunState.FINISHED, run.error
        assert run.summary == {"loss": 8.0, "name": "__mp_main__"}
    else:
        # A setup error: the agent stops (AgentError), the run's point goes back.
        assert ran.returncode == 1
        assert run.state is RunState.KILLED
        assert "if __name__ == '__main__':" in (run.error or "")


def test_a_script_read_from_standard_input_sends_its_function_by_value(
    store: Store, offline: Path, make_sweep: Callable[..., str]
) -> None:
    # `python - <<EOF`: the child cannot re-import "<stdin>", so the function travels by
    # value (cloudpickle), as the docs promise for a function the child cannot import.
    pytest.importorskip("cloudpickle")
    sweep_id = make_sweep(
        {"method": "grid", "metric": {"name": "loss"}, "parameters": {"x": {"value": 4}}}
    )
    script = SCRIPT + 'if __name__ == "__main__":\n    main()\n'
    subprocess.run(
        [sys.executable, "-", store.url, sweep_id],
        input=script,
        text=True,
        cwd=offline,
        check=True,
        timeout=120,
    )
    [run] = store.list_runs(sweep_id)
    assert run.state is RunState.FINISHED, run.error
    assert run.summary["loss"] == 8.0
