"""The guard of one run's child, run as a script by :class:`localsweep.agent._guard.Guard`:
``python -I -S _guard_process.py AGENT_PID PGID GRACE``.

It imports only what it needs from the standard library (no localsweep, no site packages),
so it starts fast. While its parent is still the agent and the child's process group
exists, it waits; once the agent is gone (it was handed to init), it ends the group as the
agent would: ``SIGINT``, then ``SIGTERM`` and ``SIGKILL`` a grace period apart.
"""

from __future__ import annotations

import os
import signal
import sys
import time

__all__ = ["CHECK_INTERVAL", "main"]

#: How often the guard checks that the agent is alive.
CHECK_INTERVAL = 0.5

_ESCALATION = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def main(argv: list[str]) -> int:
    """``AGENT_PID PGID GRACE``: wait while the agent lives and the group exists; if the
    agent dies first, end the group (``SIGINT``, ``SIGTERM``, ``SIGKILL``)."""
    agent, pgid, grace = int(argv[1]), int(argv[2]), float(argv[3])
    # Only the agent stops us (SIGKILL once its child has ended); nothing meant for others.
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
