"""The note file a function-mode agent gives the processes its runs start (where a child
writes the mode it asked for and did not get): one per agent process, gone when it exits,
and the files of agents killed before that removed by the next agent of the machine."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from localsweep.wandb_bridge import _offline_hold

SCRIPT = textwrap.dedent(
    """
    import os, subprocess, sys
    import localsweep

    CHILD = (
        "import os, pathlib; "
        "pathlib.Path(os.environ['OUT']).write_text("
        "os.environ.get('LOCALSWEEP_FORCED_OFFLINE_NOTE', ''))"
    )

    def train(config):
        out = f"{os.environ['NOTES']}/{config['x']}.txt"
        subprocess.run([sys.executable, "-c", CHILD], env={**os.environ, "OUT": out}, check=True)
        return config["x"]

    config = {"method": "grid", "metric": {"name": "loss"},
              "parameters": {"x": {"values": [1, 2, 3]}}}
    localsweep.run(config, train, db=sys.argv[1])
    """
)


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _prefix(pid: int) -> str:
    host = "".join(c if c.isalnum() or c in "_." else "_" for c in socket.gethostname())[:40]
    return f"localsweep-{host}-{pid}-"


@pytest.mark.slow
def test_an_agent_gives_its_runs_one_note_file_and_leaves_none(tmp_path: Path) -> None:
    temp = tmp_path / "tmp"
    notes = tmp_path / "notes"
    temp.mkdir()
    notes.mkdir()
    stale = temp / f"{_prefix(_dead_pid())}abcd1234.forced-offline"  # an agent killed -9
    stale.write_text("")
    old = temp / "localsweep-k2x9_abc.forced-offline"  # an older localsweep's, a day old
    old.write_text("")
    os.utime(old, (time.time() - 2 * 86400,) * 2)
    recent = temp / "localsweep-q7w8e9r0.forced-offline"  # maybe a run still open
    recent.write_text("")
    script = tmp_path / "sweep.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "TMPDIR": str(temp), "NOTES": str(notes), "WANDB_MODE": "offline"}
    done = subprocess.run(
        [sys.executable, str(script), str(tmp_path / "s.db")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    seen = {p.read_text() for p in notes.glob("*.txt")}
    assert len(list(notes.glob("*.txt"))) == 3
    assert len(seen) == 1, "the three runs' children were given different note files"
    (note,) = seen
    assert Path(note).parent == temp and Path(note).name.startswith("localsweep-")
    assert not Path(note).exists(), "the agent left its note file behind"
    assert not stale.exists(), "the note file of a dead agent was not removed"
    assert not old.exists()
    assert recent.exists(), "an older localsweep's note file of today was removed"


def test_what_children_noted_is_taken_once(tmp_path: Path) -> None:
    note = tmp_path / "note"
    note.write_text("online\nWANDB_MODE=online\nonline\n")
    assert _offline_hold._take_note(str(note)) == ["online", "WANDB_MODE=online"]
    assert note.exists() and note.read_text() == ""
    assert _offline_hold._take_note(str(note)) == []
    with note.open("a") as f:  # a child of a later run
        f.write("shared\n")
    assert _offline_hold._take_note(str(note)) == ["shared"]
