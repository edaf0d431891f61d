"""A run's child must not outlive its agent: a small watcher process per child.

A run's child (program mode, ``isolation="process"``) runs in a session of its own, so that
stopping it reaches every process it started, and so that Ctrl-C or a hangup reaches only the
agent, which then stops the run itself and records why. But an agent that dies without a
word (``kill -9``, the out-of-memory killer) stops nothing: its child would train on unseen
while another agent marks the run crashed and runs the same point again beside it, and its
result would be lost.

So beside each child the agent starts a *guard*: ``python -I -S`` running this file (it
imports nothing of localsweep, nor site packages). The guard, in a session of its own too,
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
import signal
import subprocess
import sys
import time

__all__ = ["Guard", "main"]

logger = logging.getLogger(__name__)

#: How often the guard checks that the agent is alive.
CHECK_INTERVAL = 0.5

_ESCALATION = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)


class Guard:
    """The watcher of one child's process group ``pgid`` (the agent starts one per child)."""

    def __init__(self, pgid: int, grace: float):
        self.pgid = pgid
        self.process: subprocess.Popen[bytes] | None = None
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-I", "-S", __file__, str(os.getpid()), str(pgid), str(grace)],
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


# ---------------------------------------------------------------------- the guard itself


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main(argv: list[str]) -> int:
    """``guard AGENT_PID PGID GRACE``: wait while the agent lives and the group exists; if
    the agent dies first, end the group (``SIGINT``, ``SIGTERM``, ``SIGKILL``)."""
    agent, pgid, grace = int(argv[1]), int(argv[2]), float(argv[3])
    # Our own stops (the agent's kill) end us; nothing else we did not send should.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    while os.getppid() == agent:
        if not _group_alive(pgid):
            return 0
        time.sleep(CHECK_INTERVAL)
    for sig in _ESCALATION:
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            return 0
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not _group_alive(pgid):
                return 0
            time.sleep(0.1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
