"""The agent's own stdout and stderr failing under it, in real processes: the reader of its
output goes away (``localsweep agent ... 2>&1 | head -1``) or its stderr is a full device
(``2>/dev/full``). The run in progress is recorded as the agent's fault, never ``failed``
(its point runs again) nor left ``running``, and the agent stops: quietly with exit 141
for a reader gone away, as every command (docs/cli.md), exit 1 for a full device."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import localsweep
from localsweep.records import RunState
from localsweep.store import Store

sys.path.insert(0, str(Path(__file__).parents[1] / "helpers"))
from wait_for_go import WAIT_FOR_GO

pytestmark = pytest.mark.slow

TRAIN = (
    WAIT_FOR_GO
    + """
import wandb

def train():
    with wandb.init() as run:
        print("ready", flush=True)
        wait_for_go()
        print("written after the reader went away", flush=True)
        run.log({"loss": run.config.x})
"""
)

PROGRAM = TRAIN + "\ntrain()\n"

GRID = "method: grid\nmetric: {name: loss}\nparameters:\n  x: {values: [1, 2]}\n"


def _sweep(folder: Path, program: bool = False) -> str:
    (folder / "train.py").write_text(PROGRAM if program else TRAIN)
    (folder / "g.yaml").write_text(("program: train.py\n" if program else "") + GRID)
    made = subprocess.run(
        [sys.executable, "-m", "localsweep", "sweep", "g.yaml", "--db", "s.db"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


def _agent(sweep_id: str, *args: str, **popen: object) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.getcwd(), env.get("PYTHONPATH", "")])
    argv = [sys.executable, "-m", "localsweep", "agent", sweep_id, *args, "--db", "s.db"]
    return subprocess.Popen(argv, env=env, **popen)  # type: ignore[call-overload,no-any-return]


def _states(sweep_id: str) -> dict[object, str]:
    store = Store("s.db")
    try:
        return {run.config["x"]: run.state.value for run in store.list_runs(sweep_id)}
    finally:
        store.close()


def _head_1(agent: subprocess.Popen[bytes], folder: Path) -> int:
    """Read the agent's output up to the training's first line, then go away, as ``head``
    does; the training goes on once the reader is gone."""
    assert agent.stdout is not None
    seen = []
    try:
        for line in agent.stdout:
            seen.append(line)
            if line.strip() == b"ready":
                break
    finally:
        agent.stdout.close()
        (folder / "go").touch()
    assert seen and seen[-1].strip() == b"ready", seen
    return agent.wait(timeout=120)


@pytest.mark.parametrize(
    "args",
    [["-f", "train:train"], ["-f", "train:train", "--isolation", "process"], []],
    ids=["function", "isolation-process", "program"],
)
def test_a_reader_gone_mid_run_leaves_no_failed_run_and_ends_with_141(
    offline: Path, args: list[str]
) -> None:
    sweep_id = _sweep(offline, program=not args)
    agent = _agent(sweep_id, *args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert _head_1(agent, offline) == 141
    states = _states(sweep_id)
    # In the agent's own process the training's print failed on the closed pipe: not the
    # run's failure, so its point runs again. A run's own process writes to a pipe the
    # agent reads, and finishes. Either way the agent stops before its next run.
    assert list(states) == [1], states
    store = Store("s.db")
    try:
        (run,) = store.list_runs(sweep_id)
    finally:
        store.close()
    if args == ["-f", "train:train"]:
        assert run.state is RunState.KILLED, run.error
        assert "the reader of the agent's stdout went away" in (run.error or "")
    else:
        assert run.state is RunState.FINISHED, run.error
    # The next agent runs the point again if it was killed, and the rest of the grid.
    (offline / "go").touch()
    again = _agent(sweep_id, *args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, err = again.communicate(timeout=300)
    assert again.returncode == 0, err.decode(errors="replace")
    store = Store("s.db")
    try:
        runs = store.list_runs(sweep_id)
    finally:
        store.close()
    finished = sorted(r.config["x"] for r in runs if r.state is RunState.FINISHED)
    assert finished == [1, 2], [(r.config, r.state) for r in runs]


def test_a_reader_gone_before_the_first_line_claims_no_run(offline: Path) -> None:
    sweep_id = _sweep(offline)
    read, write = os.pipe()
    os.close(read)  # `agent ... 2>&1 | head -0`: the reader is gone before anything
    try:
        agent = _agent(sweep_id, "-f", "train:train", stdout=write, stderr=write)
    finally:
        os.close(write)
    (offline / "go").touch()
    assert agent.wait(timeout=120) == 141
    assert "running" not in _states(sweep_id).values(), _states(sweep_id)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_stderr_on_a_full_device_stops_the_agent_with_no_run_left_running(
    offline: Path,
) -> None:
    sweep_id = _sweep(offline)
    (offline / "go").touch()
    with open("/dev/full", "wb") as full:
        agent = _agent(sweep_id, "-f", "train:train", stdout=subprocess.PIPE, stderr=full)
        out, _ = agent.communicate(timeout=120)
    assert agent.returncode == 1, out
    assert "running" not in _states(sweep_id).values(), _states(sweep_id)


def test_streams_that_do_not_write_to_the_closed_descriptor_are_no_fault() -> None:
    # A notebook's sys.stdout (or the user's redirect) does not write to fd 1: what fd 1 is
    # (the kernel launcher's pipe, long gone) must not stop an agent that prints elsewhere.
    script = (
        "import io, os, sys\n"
        "from localsweep._console import output_fault\n"
        "r, w = os.pipe(); os.close(r); os.dup2(w, 1)\n"
        "assert isinstance(output_fault(), BrokenPipeError)\n"
        "sys.stdout = io.StringIO()\n"
        "assert output_fault() is None\n"
        "sys.stderr.write('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0 and done.stderr == "ok", done.stderr


@pytest.mark.parametrize("args", [["--version"], ["ls", "--db", "s.db"]])
def test_a_commands_output_to_a_full_device_is_one_line_not_a_traceback(
    tmp_path: Path, args: list[str]
) -> None:
    if args[0] == "ls":
        localsweep.sweep(
            {"method": "grid", "parameters": {"x": {"values": [1]}}}, db=str(tmp_path / "s.db")
        )
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "localsweep", *args],
            cwd=tmp_path,
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 1
    assert done.stderr == "Error: the output cannot be written (No space left on device)\n", (
        done.stderr
    )
