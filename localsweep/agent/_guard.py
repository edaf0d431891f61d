"""A run's child must not outlive its agent: a small watcher process per child.

A run's child (program mode, ``isolation="process"``) runs in a session of its own, so that
stopping it reaches every process it started, and so that Ctrl-C or a hangup reaches only the
agent, which then stops the run itself and records why. But an agent that dies without a
word (``kill -9``, the out-of-memory killer) stops nothing: its child would train on unseen
while another agent marks the run crashed and runs the same point again beside it, and its
result would be lost.

So beside each child the agent starts a *guard*: ``python -I -S`` running
:mod:`localsweep.agent._guard_process` as a script (it imports nothing of localsweep, nor
site packages, and starts in a few tens of milliseconds). The guard, in a session of its own too,
checks every half second that its parent is still the agent; once it is not (the agent died
and the guard was handed to init), it ends the child's process group as the agent would
(``SIGINT``, so wandb finishes the run offline with every row; ``SIGTERM`` and ``SIGKILL``
a grace period apart) and exits. It writes nothing to the store: the run is the next
agent's to mark crashed. When the child ends normally, the agent stops its guard.

Linux's ``PR_SET_PDEATHSIG`` would need a ``preexec_fn``, which is not safe in an agent that
runs threads, fires when the forking *thread* ends rather than the process, and sends one
signal with no escalation; a guard needs none of this.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

__all__ = ["GUARD_SCRIPT", "Guard"]

logger = logging.getLogger(__name__)

#: The guard's own code, run as a script.
GUARD_SCRIPT = str(Path(__file__).with_name("_guard_process.py"))


class Guard:
    """The watcher of one child's process group ``pgid`` (the agent starts one per child)."""

    def __init__(self, pgid: int, grace: float):
        self.pgid = pgid
        self.process: subprocess.Popen[bytes] | None = None
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-I", "-S", GUARD_SCRIPT, str(os.getpid()), str(pgid), str(grace)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:  # the run goes on; only a kill -9 of the agent is unguarded
            logger.warning("cannot start the guard of process group %d: %s", pgid, exc)

    def stop(self) -> None:
        """The child has ended (and was waited for): the guard has nothing left to watch."""
        process = self.process
        if process is None:
            return
        self.process = None
        if process.poll() is None:
            process.kill()
        process.wait()
