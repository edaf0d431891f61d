"""The agent's own process runs out of open files (``ulimit -n`` too low for its
``--workers``): a run it cannot start, or cannot follow, is not the training's failure. The
run is recorded ``killed`` (end reason ``setup_error``), not counted, its point is offered
again, and the agent stops with one message naming the cause and the fix; never a
traceback, never a run left ``running``. Real limits (``RLIMIT_NOFILE``, set in the agent's
own process), real programs, real wandb offline."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import localsweep

pytestmark = pytest.mark.slow

TRAIN = """
import time
import wandb

def train():
    run = wandb.init()
    for i in range(5):
        wandb.log({"loss": float(run.config["x"]) + 1.0 / (i + 1)})
        time.sleep(0.05)

if __name__ == "__main__":
    train()
"""


def _limited(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))


def _agent(cwd: Path, *args: str, limit: int | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    env["PYTHONPATH"] = os.pathsep.join([str(cwd), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, "-m", "localsweep.cli", "agent", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        preexec_fn=None if limit is None else (lambda: _limited(limit)),
    )


MODES = {"program": [], "process": ["-f", "train:train", "--isolation", "process"]}


@pytest.mark.parametrize("limit", [20, 28])
@pytest.mark.parametrize("mode", list(MODES))
def test_too_few_open_files_for_the_workers_loses_no_point_and_says_the_fix(
    tmp_path: Path, mode: str, limit: int
) -> None:
    (tmp_path / "train.py").write_text(TRAIN)
    head = "program: train.py\n" if mode == "program" else ""
    (tmp_path / "s.yaml").write_text(
        head + "method: grid\nmetric: {name: loss, goal: minimize}\n"
        "parameters:\n  x: {values: [1, 2, 3, 4]}\n"
    )
    sweep_id = localsweep.sweep(str(tmp_path / "s.yaml"), db=str(tmp_path / "s.db"))

    short = _agent(tmp_path, sweep_id, "--db", "s.db", "--workers", "4", *MODES[mode], limit=limit)

    assert short.returncode == 1, short.stderr
    assert "Traceback" not in short.stderr, short.stderr
    [error] = [line for line in short.stderr.splitlines() if line.startswith("Error:")]
    assert error.startswith("Error: too many open files: localsweep could not ")
    assert f"(`ulimit -n`, now {limit}) or use fewer --workers" in error
    assert "writable" not in error
    runs = localsweep.Api(str(tmp_path / "s.db")).sweep(sweep_id).runs
    # Not failed (the training never ran), and none left running with nothing behind it.
    assert {r.state for r in runs} <= {"finished", "killed"}, [(r.state, r.error) for r in runs]
    assert all(r.end_reason == "setup_error" for r in runs if r.state == "killed")
    assert any(r.state == "killed" for r in runs)
    # Each has its end line, as every run: the agent's output says what became of it.
    for run in runs:
        assert f"[localsweep] run {run.id} {run.state} " in short.stderr, short.stderr

    again = _agent(tmp_path, sweep_id, "--db", "s.db", *MODES[mode])

    assert again.returncode == 0, again.stderr
    runs = localsweep.Api(str(tmp_path / "s.db")).sweep(sweep_id).runs
    assert sorted(r.config["x"] for r in runs if r.state == "finished") == [1, 2, 3, 4]
    best = localsweep.Api(str(tmp_path / "s.db")).sweep(sweep_id).best_run()
    assert best.config["x"] == 1


def test_the_message_for_a_file_not_written_for_lack_of_open_files_names_the_limit(
    tmp_path: Path,
) -> None:
    # A real EMFILE, in a process of its own with a small table of open files, filled.
    code = textwrap.dedent(
        """
        import os, resource, sys
        from localsweep.errors import RunSetupError
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        held = []
        try:
            while True:
                held.append(os.open(os.devnull, os.O_RDONLY))
        except OSError:
            pass
        try:
            with RunSetupError.guard(sys.argv[1], "r1"):
                open(sys.argv[1], "w")
        except RunSetupError as exc:
            print(exc)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "config-r1.yaml")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )

    message = done.stdout.strip()
    assert message.startswith("too many open files: localsweep could not write "), message
    assert "(`ulimit -n`, now 64) or use fewer --workers" in message
    assert "writable" not in message


# The training waits, before wandb.init, until the agent has met the shortage (its ``ready``
# file is removed), so that the agent is looking for the run's folder while it has no file
# left to open.
WAITS = """
import os, time, wandb
ready = os.environ.get("READY")
if ready:
    open(ready, "w").close()
    while os.path.exists(ready):
        time.sleep(0.05)
run = wandb.init()
for i in range(3):
    run.log({"loss": float(run.config["x"]) + i})
run.finish()
"""

# The agent, with a small table of open files that a thread fills once the run's process
# is up. ``SHORTAGE=brief``: emptied again once the agent has said it could not read for
# now. ``lasting``: no file can be opened (a limit below every descriptor in use) until
# the agent gives up.
SQUEEZED_AGENT = """
import logging, os, resource, sys, threading, time
import localsweep

resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
ready = os.environ["READY"]
lasting = os.environ["SHORTAGE"] == "lasting"
met = threading.Event()
lock = threading.Lock()
held = []
squeezing = True

def release():
    global squeezing
    with lock:
        squeezing = False
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))
        while held:
            os.close(held.pop())

def take():
    with lock:
        try:
            while squeezing:
                held.append(os.open(os.devnull, os.O_RDONLY))
        except OSError:
            pass

class Said(logging.Handler):
    def emit(self, record):
        message = record.getMessage()
        if "cannot read its wandb file for now" in message:
            if not lasting:
                release()
            met.set()
        if "could not read its wandb file" in message:
            release()  # at once, in the agent's thread: it goes on to record the run
        print(message, file=sys.stderr)

logging.getLogger("localsweep.agent").addHandler(Said(logging.WARNING))

def squeeze():
    while not os.path.exists(ready):
        time.sleep(0.05)
    take()
    met.wait()
    if lasting:
        # A limit below every descriptor in use: no open can succeed, whichever files
        # the agent gives back (taking them back in turn raced the agent's own retries
        # under load, and the read recovered now and then).
        with lock:
            if squeezing:
                resource.setrlimit(resource.RLIMIT_NOFILE, (3, 256))
    os.unlink(ready)  # the training goes on
    while squeezing:
        take()
        time.sleep(0.01)

threading.Thread(target=squeeze, daemon=True).start()
try:
    localsweep.agent(sys.argv[1], db="s.db", count=1)
except localsweep.AgentError as exc:
    print(f"Error: {exc}", file=sys.stderr)
    sys.exit(1)
"""


def _squeezed(tmp_path: Path, shortage: str) -> tuple[str, subprocess.CompletedProcess[str]]:
    (tmp_path / "waits.py").write_text(WAITS)
    (tmp_path / "agent.py").write_text(SQUEEZED_AGENT)
    (tmp_path / "s.yaml").write_text(
        "program: waits.py\nmethod: grid\nmetric: {name: loss}\nparameters:\n  x: {values: [5]}\n"
    )
    sweep_id = localsweep.sweep(str(tmp_path / "s.yaml"), db=str(tmp_path / "s.db"))
    env = {**os.environ, "WANDB_MODE": "offline", "WANDB_SILENT": "true"}
    env.update(READY=str(tmp_path / "ready"), SHORTAGE=shortage)
    done = subprocess.run(
        [sys.executable, "agent.py", sweep_id],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return sweep_id, done


def test_a_run_followed_while_the_agent_is_short_of_files_is_read_whole_once_it_is_not(
    tmp_path: Path,
) -> None:
    sweep_id, done = _squeezed(tmp_path, "brief")

    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert "cannot read its wandb file for now (Too many open files); trying again" in done.stderr
    [run] = localsweep.Api(str(tmp_path / "s.db")).sweep(sweep_id).runs
    assert run.state == "finished", run.error
    assert [row["loss"] for row in run.scan_history()] == [5.0, 6.0, 7.0]


def test_a_run_the_agent_cannot_read_for_lack_of_files_runs_again_and_the_agent_says_why(
    tmp_path: Path,
) -> None:
    sweep_id, done = _squeezed(tmp_path, "lasting")

    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    [error] = [line for line in done.stderr.splitlines() if line.startswith("Error:")]
    assert error.startswith("Error: too many open files: localsweep could not read its wandb")
    assert "(`ulimit -n`, now 256) or use fewer --workers" in error
    [run] = localsweep.Api(str(tmp_path / "s.db")).sweep(sweep_id).runs
    assert (run.state, run.end_reason) == ("killed", "setup_error")  # not running, not failed

    again = _agent(tmp_path, sweep_id, "--db", "s.db")

    assert again.returncode == 0, again.stderr
    runs = localsweep.Api(str(tmp_path / "s.db")).sweep(sweep_id).runs
    assert [r.state for r in runs] == ["killed", "finished"]


def test_the_limit_is_named_when_every_file_is_taken_before_anything_imported_it(
    tmp_path: Path,
) -> None:
    # Out of files, `import resource` (done as the message was made) failed for want of a
    # file to open it, and the message said "now unknown": in CI, where nothing had
    # imported it before.
    code = """
import os
from localsweep.errors import RunSetupError
held = []
try:
    while True:
        held.append(os.open(os.devnull, os.O_RDONLY))
except OSError as exc:
    error = RunSetupError.lacking("start its process", "r1", exc)
for fd in held:
    os.close(fd)
print(error)
"""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        preexec_fn=lambda: _limited(64),
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "(`ulimit -n`, now 64)" in done.stdout, done.stdout
