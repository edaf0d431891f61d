"""isolation="process" and program mode: a run's partial line (a tqdm bar's frame, a line
printed in parts) reaches the agent's stdout as it comes, before its newline, as on the
terminal ``wandb agent`` leaves its program. A real agent process, its stdout a pipe."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import localsweep

sys.path.insert(0, str(Path(__file__).parents[1] / "helpers"))
from wait_for_go import WAIT_FOR_GO

pytestmark = pytest.mark.slow

PROGRAM = (
    WAIT_FOR_GO
    + """
import wandb

with wandb.init() as run:
    print("training:", end=" ", flush=True)
    print("epoch0", end=" ", flush=True)
    run.log({"loss": 1})
    wait_for_go()
    print("end", flush=True)
"""
)


@pytest.mark.parametrize("mode", ["isolated function", "program"])
def test_an_isolated_runs_partial_line_reaches_the_agents_stdout_before_its_newline(
    offline: Path, mode: str
) -> None:
    (offline / "prog.py").write_text(PROGRAM)
    body = textwrap.indent(PROGRAM.split("import wandb\n", 1)[1], "    ")
    (offline / "tq.py").write_text(f"{WAIT_FOR_GO}\nimport wandb\n\ndef train():\n{body}")
    config = "method: grid\nparameters:\n  x: {values: [1]}\n"
    argv = [sys.executable, "-m", "localsweep", "run", "one.yaml", "--db", "s.db"]
    if mode == "program":
        config = f"program: prog.py\n{config}"
    else:
        argv += ["-f", "tq:train", "--isolation", "process"]
    (offline / "one.yaml").write_text(config)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(offline), env.get("PYTHONPATH", "")])
    with (offline / "agent.err").open("wb") as err:
        process = subprocess.Popen(argv, cwd=offline, env=env, stdout=subprocess.PIPE, stderr=err)
    assert process.stdout is not None
    out = b""
    seen_before_newline = None
    try:
        while True:
            data = os.read(process.stdout.fileno(), 65536)
            if not data:
                break
            out += data
            if seen_before_newline is None and b"training: epoch0" in out:
                seen_before_newline = b"end" not in out
                (offline / "go").touch()
        assert process.wait(timeout=120) == 0, (offline / "agent.err").read_text()
    finally:
        process.kill()
        process.stdout.close()
    assert seen_before_newline, out
    assert out.decode().count("training: epoch0 end\n") == 1, out


FRAMES = """
import sys, wandb

def train():
    with wandb.init() as run:
        for i in range(3):
            print(f"\\rframe{i} of x={run.config.x}", end="", flush=True)
        print(flush=True)
"""


def test_with_two_workers_a_redrawn_line_shows_its_last_frame_after_its_run_id(
    offline: Path,
) -> None:
    (offline / "frames.py").write_text(FRAMES)
    (offline / "two.yaml").write_text("method: grid\nparameters:\n  x: {values: [1, 2]}\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(offline), env.get("PYTHONPATH", "")])
    argv = [sys.executable, "-m", "localsweep", "run", "two.yaml", "--db", "s.db"]
    argv += ["-f", "frames:train", "--isolation", "process", "--workers", "2", "--quiet"]
    done = subprocess.run(argv, cwd=offline, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    runs = localsweep.Api(offline / "s.db").sweeps()[0].runs
    for run in runs:
        # The frames before the last would be written over the run id on a terminal.
        shown = f"{run.id} | frame2 of x={run.config['x']}\n"
        assert shown in done.stdout, done.stdout
    assert "frame0" not in done.stdout, done.stdout
