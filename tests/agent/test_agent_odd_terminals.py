"""What the agent prints where the output is not a UTF-8 terminal that redraws, in real
processes: a program's output reaches a non-UTF-8 stdout file or pipe as the program wrote
it (as under ``wandb agent``, whose child inherits the descriptor), not dropped; a dumb
terminal (``TERM=dumb``: Emacs' shell, some CI ptys), where a bar cannot be redrawn, gets
the plain per-run lines as they happen."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "helpers"))
from wait_for_go import WAIT_FOR_GO

pytestmark = pytest.mark.slow

PROGRAM = """
import sys, wandb
with wandb.init() as run:
    for e in range(2):
        sys.stdout.buffer.write(b"ascii line %d\\n" % e)
        sys.stdout.buffer.write("h\\xe9llo \\u2713 step %d\\n".encode() % e)
        sys.stdout.flush()
        wandb.log({"val_loss": run.config.lr + e})
    print("end")
"""


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_a_programs_output_reaches_a_non_utf8_stdout_file_as_it_wrote_it(
    offline: Path, encoding: str
) -> None:
    (offline / "out.py").write_text(PROGRAM)
    (offline / "out.yaml").write_text(
        "program: out.py\nmethod: grid\nmetric: {name: val_loss}\nparameters:\n"
        "  lr: {values: [0.1]}\n"
    )
    env = dict(os.environ, PYTHONIOENCODING=encoding)
    made = subprocess.run(
        [sys.executable, "-m", "localsweep", "sweep", "out.yaml", "--db", "o.db"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    with open("agent.txt", "wb") as log:  # as `nohup` or SLURM gives it
        agent = subprocess.run(
            [sys.executable, "-m", "localsweep", "agent", made.stdout.strip(), "--db", "o.db"],
            stdout=log,
            stderr=subprocess.PIPE,
            env=env,
            timeout=300,
        )
    assert agent.returncode == 0, agent.stderr.decode(errors="replace")
    written = "".join(f"ascii line {e}\nhéllo ✓ step {e}\n" for e in range(2)) + "end\n"
    assert Path("agent.txt").read_bytes() == written.encode("utf-8")
    (kept,) = (offline / "wandb").glob("sweep-*/*.out")
    assert kept.read_bytes() == written.encode("utf-8")


TRAIN = (
    WAIT_FOR_GO
    + """
import wandb

def train():
    with wandb.init() as run:
        wait_for_go()
        run.log({"loss": run.config.x})
"""
)


def test_a_dumb_terminal_gets_the_plain_per_run_lines_as_the_runs_go(offline: Path) -> None:
    import fcntl
    import pty
    import struct
    import termios

    pyte = pytest.importorskip("pyte")
    (offline / "dumb.py").write_text(TRAIN)
    (offline / "one.yaml").write_text(
        "method: grid\nmetric: {name: loss}\nparameters:\n  x: {values: [1]}\n"
    )
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 120, 0, 0))
    env = dict(os.environ, TERM="dumb")
    env["PYTHONPATH"] = os.pathsep.join([str(offline), env.get("PYTHONPATH", "")])
    argv = [sys.executable, "-m", "localsweep", "run", "one.yaml", "-f", "dumb:train"]
    process = subprocess.Popen(
        [*argv, "--db", "s.db"], cwd=offline, env=env, stdin=slave, stdout=slave, stderr=slave
    )
    os.close(slave)
    screen = pyte.Screen(120, 50)
    stream = pyte.ByteStream(screen)
    started_while_running = False
    try:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # the terminal's last writer is gone
                break
            if not data:
                break
            stream.feed(data)
            shown = [line.rstrip() for line in screen.display]
            if not started_while_running and any(
                line.startswith("[localsweep] run ") and " started " in line for line in shown
            ):
                (offline / "go").touch()  # the run waits for this: its line came first
                started_while_running = True
        code = process.wait(timeout=120)
    finally:
        process.kill()
        os.close(master)
    text = "\n".join(line.rstrip() for line in screen.display)
    assert code == 0, text
    assert started_while_running, text
    assert any(
        line.startswith("[localsweep] run ") and " finished loss=1 " in line
        for line in text.splitlines()
    ), text
    assert not re.search(r"^sweep ls-\w+ ━", text, re.MULTILINE), text  # no bar frame
