"""What a person sees of a run's output in a terminal, as under plain Python or
``wandb.agent``: with the progress bar on, a tqdm bar updates in place and a line printed in
parts stays one line, shown as it is written, the run's lines above the bar; an isolated
run's or a program's partial line reaches the agent's stdout before its newline.

Each case is a real agent process; in a terminal case its stdout and stderr are a real
pseudo-terminal, whose output goes through a terminal emulation (pyte): the tests read the
screen the person would read."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pyte = pytest.importorskip("pyte")

sys.path.insert(0, str(Path(__file__).parents[1] / "helpers"))
from wait_for_go import WAIT_FOR_GO  # noqa: E402

pytestmark = pytest.mark.slow

COLUMNS, ROWS = 100, 100

TRAIN = (
    WAIT_FOR_GO
    + """
import wandb
from tqdm import tqdm

def train():
    with wandb.init() as run:
        print("training:", end=" ", flush=True)
        for i in range(3):
            print(f"epoch{i}", end=" ", flush=True)
            run.log({"loss": i})
        wait_for_go()
        print("end", flush=True)
        print("\\x1b[32mgreen line\\x1b[0m")
        for _ in tqdm(range(30), desc="epochs", mininterval=0):
            time.sleep(0.01)
        print("after tqdm")
        print("left partial", end="")
"""
)


def _in_terminal(
    tmp: Path, argv: list[str], on_screen: Callable[[list[str]], bool]
) -> tuple[int, list[str], Any, bool]:
    """Run ``argv`` in ``tmp`` with a pty as its terminal; create ``go`` once the screen
    satisfies ``on_screen``. Returns the exit code, the last screen's lines, the screen and
    whether ``go`` was created on that condition."""
    import fcntl
    import pty
    import struct
    import termios

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    env = dict(os.environ, TERM="xterm-256color", COLUMNS=str(COLUMNS), LINES=str(ROWS))
    env.pop("NO_COLOR", None)
    env.pop("WANDB_SILENT", None)  # wandb's footer is part of the run's output
    env["PYTHONPATH"] = os.pathsep.join([str(tmp), env.get("PYTHONPATH", "")])
    process = subprocess.Popen(argv, cwd=tmp, env=env, stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    screen = pyte.Screen(COLUMNS, ROWS)
    stream = pyte.ByteStream(screen)
    released = False
    try:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # the terminal's last writer is gone
                break
            if not data:
                break
            stream.feed(data)
            if not released and on_screen([line.rstrip() for line in screen.display]):
                (tmp / "go").touch()
                released = True
        code = process.wait(timeout=120)
    finally:
        process.kill()
        os.close(master)
    return code, [line.rstrip() for line in screen.display], screen, released


def test_in_a_terminal_tqdm_updates_in_place_and_a_line_printed_in_parts_is_one_line(
    offline: Path,
) -> None:
    (offline / "tq.py").write_text(TRAIN)
    (offline / "one.yaml").write_text("method: grid\nparameters:\n  x: {values: [1]}\n")
    argv = [sys.executable, "-m", "localsweep", "run", "one.yaml", "-f", "tq:train"]
    code, lines, screen, released = _in_terminal(
        offline,
        [*argv, "--db", "s.db"],
        # The partial line shows, whole, while its newline is yet to come.
        lambda shown: "training: epoch0 epoch1 epoch2" in shown,
    )
    text = "\n".join(lines)
    assert code == 0, text
    assert released, text
    assert lines.count("training: epoch0 epoch1 epoch2 end") == 1, text
    (tqdm_line,) = [line for line in lines if line.startswith("epochs:")]
    assert "100%" in tqdm_line and "30/30" in tqdm_line and "█" in tqdm_line, text
    bars = [i for i, line in enumerate(lines) if re.match(r"sweep ls-\w+ ━+ 1/1 ", line)]
    assert len(bars) == 1, text
    (bar,) = bars
    # The run's lines, all of them, above the bar's last frame.
    for line in ("training: epoch0", "green line", "epochs:", "after tqdm", "left partial"):
        (row,) = [i for i, shown in enumerate(lines) if shown.startswith(line)]
        assert row < bar, text
    assert lines.index("after tqdm") > lines.index(tqdm_line)
    assert any(line.startswith("wandb: Run summary") for line in lines[:bar]), text
    # wandb's footer as wandb draws it on this terminal, its history with sparklines.
    assert any(re.match(r"wandb: loss ▁", line) for line in lines[:bar]), text
    # The run's log has its output as printed, not the bar's frames.
    (log,) = offline.glob("wandb/offline-run-*/files/output.log")
    logged = log.read_text()
    assert "training: epoch0 epoch1 epoch2 end" in logged, logged
    assert "after tqdm" in logged and "sweep ls-" not in logged, logged
    # Its colour kept, as in the terminal.
    green = lines.index("green line")
    assert screen.buffer[green][0].fg == "green"


STOPPED = """
import logging, sys
from localsweep.agent._progress import SweepProgress
from localsweep.config import parse_config
from localsweep.store import Store

logging.basicConfig()  # a handler that holds sys.stderr as it is now
store = Store("s.db")
sweep_id = store.create_sweep(parse_config(
    {"method": "grid", "parameters": {"x": {"values": [1]}}})).id
real = (sys.stdout, sys.stderr)
try:
    with SweepProgress(store, sweep_id, mode="bar"):
        logging.getLogger("training").warning("a warning")
        print("half a line", end="")
        raise KeyboardInterrupt
except KeyboardInterrupt:
    pass
print("streams back:", (sys.stdout, sys.stderr) == real,
      logging.getLogger().handlers[0].stream is real[1])
"""


def test_a_ctrl_c_under_the_bar_gives_the_streams_back_and_shows_the_partial_line(
    offline: Path,
) -> None:
    (offline / "stopped.py").write_text(STOPPED)
    code, lines, _, _ = _in_terminal(offline, [sys.executable, "stopped.py"], lambda _: False)
    text = "\n".join(lines)
    assert code == 0, text
    assert "streams back: True True" in lines, text
    (bar,) = [i for i, line in enumerate(lines) if re.match(r"sweep ls-\w+ ━+ 0/1 ", line)]
    # A logging handler's line, and the line left partial, above the bar, each its own.
    assert lines.index("WARNING:training:a warning") < bar, text
    assert lines.index("half a line") < bar, text
