"""The child process that talks to W&B for ``localsweep sync`` never outlives the sync:
were the sync killed, nobody would read its answers, and a ``wandb sync`` in it would go
on uploading in the background."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

PARENT = textwrap.dedent(
    """
    import os, subprocess, sys
    answers_r, answers_w = os.pipe()
    child = subprocess.Popen(
        [sys.executable, "-m", "localsweep.wandb_bridge._server_child", str(answers_w),
         str(os.getpid())],
        stdin=int(sys.argv[1]),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        pass_fds=(answers_w,),
    )
    print(child.pid, flush=True)
    os._exit(0)  # killed, as far as the child can tell: no cleanup, its stdin still open
    """
)


def _gone(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    try:
        return "State:\tZ" in status.read_text()
    except FileNotFoundError:
        return True


def test_the_server_child_ends_when_its_parent_is_gone(tmp_path: Path) -> None:
    # Its stdin stays open (held here), so only its watch of the parent can end it.
    stdin_r, stdin_w = os.pipe()
    try:
        parent = subprocess.run(
            [sys.executable, "-c", PARENT, str(stdin_r)],
            pass_fds=(stdin_r,),
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
            cwd=tmp_path,
        )
        child = int(parent.stdout.split()[0])
        deadline = time.monotonic() + 60  # a liveness bound, not a measured time
        while not _gone(child) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _gone(child), "the server child outlived its parent"
    finally:
        os.close(stdin_r)
        os.close(stdin_w)
