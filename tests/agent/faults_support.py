"""What the fault tests share: agent processes started as a user starts them, and waiting.

Agents run ``python -m localsweep.cli agent SWEEP --db DB`` (a program sweep) or with
``--function faults_train:NAME``, their output in a log file; every wait has a deadline so a
hung agent fails its test instead of hanging the suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import localsweep

PROGRAMS = Path(__file__).parent / "programs"
#: Three agents importing wandb at once on two busy cores take a while.
DEADLINE = 240.0


class Agent:
    """One agent process and its log."""

    def __init__(self, process: subprocess.Popen[bytes], log: Path):
        self.process = process
        self.log = log

    @property
    def pid(self) -> int:
        return self.process.pid

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait(self, timeout: float = DEADLINE) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(
                f"the agent did not end in {timeout} s:\n{self.output()}"
            ) from None

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def start_agent(
    sweep_id: str,
    db: str,
    log: Path,
    *,
    function: str | None = None,
    extra: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    new_session: bool = False,
) -> Agent:
    """Start ``localsweep agent`` for the sweep; ``function`` is ``faults_train:NAME``.
    ``new_session``: in a session and process group of its own, as a shell runs a command
    (a signal to that group is what a closing terminal sends)."""
    environ = dict(os.environ)
    environ.update(env or {})
    environ["PYTHONPATH"] = os.pathsep.join([str(PROGRAMS), environ.get("PYTHONPATH", "")])
    argv = [sys.executable, "-m", "localsweep", "agent", sweep_id, "--db", db, *extra]
    if function is not None:
        argv += ["--function", function]
    with log.open("wb") as out:
        process = subprocess.Popen(
            argv,
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=new_session,
        )
    return Agent(process, log)


def wait_for(
    condition: Callable[[], bool],
    what: str,
    *,
    timeout: float = DEADLINE,
    agents: Sequence[Agent] = (),
) -> None:
    """Poll ``condition`` until it holds; fail naming ``what`` (with the agents' logs) when
    the deadline passes or an agent ends first."""
    deadline = time.monotonic() + timeout
    while not condition():
        for agent in agents:
            if agent.process.poll() is not None:
                raise AssertionError(
                    f"an agent ended before {what} (exit {agent.process.returncode}):\n"
                    f"{agent.output()}"
                )
        if time.monotonic() > deadline:
            logs = "\n---\n".join(a.output() for a in agents)
            raise AssertionError(f"{what}: not within {timeout} s\n{logs}")
        time.sleep(0.05)


def grid(n: int, **extra: object) -> dict[str, object]:
    """A grid of ``n`` points over ``x`` minimizing ``loss``."""
    return {
        "method": "grid",
        "metric": {"name": "loss", "goal": "minimize"},
        "parameters": {"x": {"values": list(range(n))}},
        **extra,
    }


def one_line_errors(output: str) -> None:
    """The agent said what went wrong without a Python traceback."""
    assert "Traceback" not in output, output


def no_traceback_of_ours(output: str) -> None:
    """No traceback through localsweep's own code. (A program-mode child's output is
    streamed to the agent's, so the child's own traceback, say from the signal that
    stopped it, may be there: that is the program's, as under ``wandb agent``.)"""
    package = os.path.dirname(localsweep.__file__)
    assert f'File "{package}{os.sep}' not in output, output


def alive(pid: int) -> bool:
    """Whether process ``pid`` is running (a zombie has ended: only its entry is left)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except FileNotFoundError:
        return False
    return stat[stat.rfind(")") + 2] != "Z"


def run_in_terminal(script: Path) -> str:
    """Run ``python script`` in ``script``'s folder with a real terminal (a pty) as its
    stdout and stderr; return what it wrote, as the terminal got it."""
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # the child: stdout and stderr are the terminal
        os.chdir(script.parent)
        os.execv(sys.executable, [sys.executable, script.name])
    chunks = []
    while True:
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.waitpid(pid, 0)
    return b"".join(chunks).decode("utf-8", "replace")
