"""The guard of one run's child, run as a script by :class:`localsweep.agent._guard.Guard`:
``python -I -S _guard_process.py AGENT_PID PGID GRACE``.

It imports only what it needs from the standard library (no localsweep, no site packages),
so it starts fast. While its parent is still the agent and the child's process group
exists, it waits; once the agent is gone (it was handed to init), it ends the group as the
agent would: ``SIGINT``, then ``SIGTERM`` and ``SIGKILL`` a grace period apart.

It also holds what the agent uses to find a run's processes that left the child's group:
a launcher such as ``torchrun`` starts each rank in a session of its own, so a signal to
the group reaches the launcher only (which passes it on), and a rank outlives a launcher
that died first (:class:`Stragglers`).
"""

from __future__ import annotations

import os
import signal
import sys
import time

__all__ = ["CHECK_INTERVAL", "Stragglers", "descendants", "main", "proc_stat"]

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


def proc_stat(pid: int | str) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name (state first), or ``None``
    when the process is gone or has ended (a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name may hold spaces and parentheses; the fields after it are fixed.
    fields = stat[stat.rfind(")") + 2 :].split()
    return None if len(fields) < 20 or fields[0] == "Z" else fields


def descendants(pid: int) -> dict[int, list[str]]:
    """The running processes below ``pid`` (its children, theirs, ...), each with its
    :func:`proc_stat` fields (its group, its start time to tell it from a later process
    given the same pid); empty without ``/proc``."""
    try:
        names = os.listdir("/proc")
    except OSError:
        return {}
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for name in names:
        if not name.isdigit():
            continue
        fields = proc_stat(name)
        if fields is None:
            continue
        children.setdefault(int(fields[1]), []).append(int(name))
        stats[int(name)] = fields
    found: dict[int, list[str]] = {}
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found[child] = stats[child]
                todo.append(child)
    return found


class Stragglers:
    """The processes a run's child started outside its process group, as seen each time a
    stop signal is sent (:meth:`look`): those still running once the child is gone, or when
    ``SIGKILL`` is due, are signalled themselves (with their own groups)."""

    def __init__(self, pgid: int) -> None:
        self.pgid = pgid
        self._seen: dict[int, str] = {}

    def look(self) -> None:
        """Note the child's descendants that are outside its group."""
        for pid, fields in descendants(self.pgid).items():
            if fields[2] != str(self.pgid):
                self._seen[pid] = fields[19]

    def _running(self) -> dict[int, list[str]]:
        """The noted processes still running (the same processes, not reused pids), with
        their :func:`proc_stat` fields."""
        running = {}
        for pid, started in list(self._seen.items()):
            fields = proc_stat(pid)
            if fields is None or fields[19] != started:
                del self._seen[pid]
            else:
                running[pid] = fields
        return running

    def alive(self) -> list[int]:
        """The noted processes still running (the same processes, not reused pids)."""
        return list(self._running())

    def signal(self, sig: int) -> int:
        """Send ``sig`` to each straggler still running, once: to its group when the group's
        leader is one of them (a rank and its data-loader workers), else to it alone; how
        many were signalled."""
        running = self._running()
        groups: set[int] = set()
        alone: list[int] = []
        for pid, fields in running.items():
            pgid = int(fields[2])
            if pgid == pid or pgid in running:
                groups.add(pgid)
            else:
                alone.append(pid)
        count = 0
        for target, send in [*((g, os.killpg) for g in groups), *((p, os.kill) for p in alone)]:
            try:
                send(target, sig)
                count += 1
            except (ProcessLookupError, PermissionError):
                continue
        return count


def main(argv: list[str]) -> int:
    """``AGENT_PID PGID GRACE``: wait while the agent lives and the group exists; if the
    agent dies first, end the group (``SIGINT``, ``SIGTERM``, ``SIGKILL``), and the
    processes it started outside the group once the group is gone or ``SIGKILL`` is due."""
    agent, pgid, grace = int(argv[1]), int(argv[2]), float(argv[3])
    # Only the agent stops us (SIGKILL once its child has ended); nothing meant for others.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    while os.getppid() == agent:
        if not _group_alive(pgid):
            return 0
        time.sleep(CHECK_INTERVAL)
    stragglers = Stragglers(pgid)
    for sig in _ESCALATION:
        stragglers.look()
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            # The child is gone: what it left outside its group gets the rest.
            if not stragglers.signal(sig):
                return 0
        else:
            if sig == signal.SIGKILL:
                stragglers.signal(sig)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not _group_alive(pgid) and not stragglers.alive():
                return 0
            time.sleep(0.1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
