"""The training-side half of a handshake the terminal tests use: the training prints
something, then waits for the test to create ``go`` in its working folder, which the test
does once it saw the output on the screen or the pipe (so a line held back fails the test
rather than passing by the time it took).

Put this folder on ``sys.path`` and paste :data:`WAIT_FOR_GO` into the training's source.
"""

from __future__ import annotations

__all__ = ["WAIT_FOR_GO"]

#: Defines ``wait_for_go()``: waits at most 30 s for ``go``, so that a held line fails
#: rather than hangs.
WAIT_FOR_GO = """
import os, time

def wait_for_go():
    for _ in range(300):
        if os.path.exists("go"):
            return
        time.sleep(0.1)
"""
