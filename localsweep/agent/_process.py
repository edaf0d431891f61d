"""A run's child process group: ending it (``SIGINT``, then ``SIGTERM``, then ``SIGKILL``,
a grace period apart), waiting for it with a timeout, Ctrl-C and the agent's stop requests,
and words for how it ended.

Shared by program mode (:mod:`localsweep.agent._subprocess`) and a function run in its own
process (:mod:`localsweep.agent._isolated`). Every child is started in its own session, so
that a signal to its group reaches every process it started.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from localsweep import _interrupt
from localsweep.agent._control import RunControl
from localsweep.agent._guard import Guard
from localsweep.agent._guard_process import Stragglers, proc_stat

__all__ = [
    "POLL_INTERVAL",
    "GroupStopper",
    "ProcessWatch",
    "StopEvent",
    "StopReason",
    "describe_exit",
    "exit_status",
    "reap_group",
    "signal_group",
    "stderr_tail",
    "with_tail",
]

logger = logging.getLogger(__name__)

#: How often a running child is checked (its timeout, stop requests; program mode also
#: reads its wandb file then).
POLL_INTERVAL = 0.2
STDERR_TAIL_LINES = 40

_ESCALATION = (signal.SIGINT, signal.SIGTERM, signal.SIGKILL)


class StopReason(str, enum.Enum):
    """Why localsweep ended a child that was still running."""

    #: Hyperband stopped the run.
    STOPPED = "stopped"
    #: The run ran longer than its ``timeout``.
    TIMEOUT = "timeout"
    #: The user pressed Ctrl-C (or the workers were told to stop).
    INTERRUPTED = "interrupted"
    #: The agent stopped the run from outside (lease lost, sweep cancelled, SIGTERM).
    ABORTED = "aborted"


class StopEvent(threading.Event):
    """The workers' Ctrl-C, from the main thread to every worker's running child: the first
    one sets it (each child gets ``SIGINT``), and each later one, :meth:`hurry`, has every
    child stopped for it get its next signal at once, as with one worker."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._hurries = 0

    def hurry(self) -> None:
        """Another Ctrl-C: the next signal now."""
        with self._lock:
            self._hurries += 1

    @property
    def hurries(self) -> int:
        """How many times :meth:`hurry` was called."""
        with self._lock:
            return self._hurries


def announce_ctrl_c(what: str, them: str = "it") -> None:
    """Say, once per stop, that the agent waits for ``what`` to end (up to a grace period
    per signal), as ``wandb agent`` does, and how to stop waiting (in a notebook: interrupt
    the kernel again)."""
    again = "interrupt the kernel again" if _in_jupyter() else "press Ctrl-C again"
    message = f"Ctrl-C: waiting for {what} to end; {again} to terminate {them}.\n"
    # A closed terminal must not keep the run from stopping.
    with contextlib.suppress(OSError, ValueError):
        # One write, line end included: print() writes the text and its "\n" apart, and the
        # run's output, echoed by another thread meanwhile, would land between the two.
        sys.stderr.write(message)
        sys.stderr.flush()


def _in_jupyter() -> bool:
    """Whether this is a Jupyter kernel, as rich (and the progress bar) tells it."""
    try:
        from rich.console import Console

        return Console(file=sys.stderr).is_jupyter
    except Exception:
        return False


def signal_group(pid: int, sig: int) -> bool:
    """Send ``sig`` to the process group led by ``pid``, or to ``pid`` alone when it leads no
    group (yet); ``False`` when neither exists any more."""
    try:
        os.killpg(pid, sig)
        return True
    except ProcessLookupError:
        pass
    except PermissionError:
        logger.warning("not allowed to signal process group %d", pid)
        return False
    try:
        os.kill(pid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        return False


def _group_alive(pgid: int) -> bool:
    """Whether any process of group ``pgid`` is still running (zombies do not count: in a
    container without a reaping init they would linger forever)."""
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    for entry in proc.iterdir():
        if entry.name.isdigit() and (fields := proc_stat(entry.name)) and fields[2] == str(pgid):
            return True
    return False


def reap_group(pgid: int, grace: float = 1.0) -> None:
    """End whatever is left of a child's process group after the child itself exited, so no
    process of a run outlives it (a data-loader worker, a server it forgot to stop)."""
    if not _group_alive(pgid):
        return
    logger.warning("processes of group %d outlived their run; terminating them", pgid)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not signal_group(pgid, sig):
            return
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            if not _group_alive(pgid):
                return
            time.sleep(0.05)


class GroupStopper:
    """Ends a child's process group without blocking: :meth:`start` sends ``SIGINT``, and
    each :meth:`tick` sends the next signal (``SIGTERM``, then ``SIGKILL``) once ``grace``
    seconds have passed since the last one. :meth:`hurry` sends the next one now.

    A launcher such as ``torchrun`` starts its ranks in sessions of their own and passes
    the signal on; a rank it left behind when it died is a straggler: ``SIGKILL`` reaches
    it too, and :meth:`end_stragglers` goes on with the schedule once the child is gone."""

    def __init__(
        self, pid: int, grace: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.pid = pid
        self.grace = grace
        self._clock = clock
        self.sent: list[signal.Signals] = []
        self._next_at = 0.0
        #: Whether the user asked not to wait (:meth:`hurry`).
        self.hurried = False
        self.stragglers = Stragglers(pid)

    @property
    def started(self) -> bool:
        """Whether the first signal was sent."""
        return bool(self.sent)

    def start(self) -> None:
        """Send ``SIGINT`` (once; later calls do nothing)."""
        if not self.sent:
            self._send_next()

    def tick(self) -> None:
        """Send the next signal if the grace period since the last one is over."""
        if self.sent and len(self.sent) < len(_ESCALATION) and self._clock() >= self._next_at:
            self._send_next()

    def hurry(self) -> None:
        """Send the next signal now (a second Ctrl-C)."""
        self.hurried = True
        if len(self.sent) < len(_ESCALATION):
            self._send_next()

    def _send_next(self) -> None:
        sig = _ESCALATION[len(self.sent)]
        logger.info("sending %s to process group %d", sig.name, self.pid)
        self.stragglers.look()  # before the signal: a launcher that dies orphans its ranks
        signal_group(self.pid, sig)
        if sig == signal.SIGKILL and (killed := self.stragglers.signal(sig)):
            logger.warning(
                "sent SIGKILL to %d process(es) the run started outside its process group",
                killed,
            )
        self.sent.append(sig)
        self._next_at = self._clock() + self.grace

    def end_stragglers(self) -> None:
        """Once the child has exited: the rest of the schedule for the processes it started
        outside its group that still run (a rank its launcher left), so that none outlives
        a run localsweep stopped. Nothing to do for a child that was not stopped. After
        :meth:`hurry` they get the group's last signal at once (they are outside the group,
        so they never got it): the user asked not to wait."""
        if not self.sent:
            return
        step, next_at = len(self.sent), self._next_at
        if self.hurried:
            step, next_at = len(self.sent) - 1, self._clock()
        try:
            while step < len(_ESCALATION) and (running := self.stragglers.alive()):
                if self._clock() < next_at:
                    time.sleep(0.05)
                    continue
                sig = _ESCALATION[step]
                logger.warning(
                    "%d process(es) of group %d's run outlived it outside its process group "
                    "(pids %s); sending %s",
                    len(running),
                    self.pid,
                    ", ".join(map(str, running)),
                    sig.name,
                )
                self.stragglers.signal(sig)
                step, next_at = step + 1, self._clock() + self.grace
        except KeyboardInterrupt:  # a Ctrl-C meanwhile: no more waiting
            self.stragglers.signal(signal.SIGKILL)

    def describe(self) -> str:
        """The signals sent so far, e.g. ``SIGINT, then SIGTERM``."""
        return ", then ".join(s.name for s in self.sent)


def exit_status(returncode: int) -> int:
    """A process's exit status as a shell reports it: a signal ``N`` becomes ``128 + N``."""
    return 128 - returncode if returncode < 0 else returncode


def describe_exit(returncode: int) -> str:
    """Words for how a process ended: ``exited with code 2``, ``was killed by SIGKILL ...``."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by {name} (exit status {exit_status(returncode)})"
    return f"exited with code {returncode}"


def stderr_tail(path: str | os.PathLike[str], lines: int = STDERR_TAIL_LINES) -> str:
    """The last ``lines`` lines of a file (a run's stderr), or ``""`` when there is none."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(deque(f, maxlen=lines)).rstrip()
    except OSError:
        return ""


def with_tail(message: str, tail: str) -> str:
    """``message``, then the stderr lines that explain it."""
    return f"{message}\n--- last lines of stderr ---\n{tail}" if tail else message


class ProcessWatch:
    """Waits for a child started in its own session, and ends its process group when the
    run must stop: past ``timeout``, when ``stop_event`` is set, on Ctrl-C (a second Ctrl-C
    sends the next signal at once), or when :meth:`request_stop` is called."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        *,
        timeout: float | None,
        grace_period: float,
        stop_event: threading.Event | None,
        poll_interval: float = POLL_INTERVAL,
        label: str = "",
        control: RunControl | None = None,
    ):
        self.process = process
        self.control = control
        self.timeout = timeout
        self.stop_event = stop_event
        self.poll_interval = poll_interval
        self.label = label or f"process {process.pid}"
        self.stopper = GroupStopper(process.pid, grace_period)
        #: Why localsweep ended the child (``None``: it ended by itself).
        self.reason: StopReason | None = None
        #: The Ctrl-C to re-raise once the run is recorded.
        self.interrupt: BaseException | None = None
        #: Called once, with the reason, before the first signal is sent.
        self.on_stop: Callable[[StopReason], None] | None = None
        self._hurries_seen = 0
        # The Ctrl-Cs of this thread acted on (see _hurry_if_asked).
        self._presses_seen = _interrupt.presses()

    def request_stop(self, reason: StopReason, interrupt: BaseException | None = None) -> None:
        """Start ending the child (the first reason given is the one kept)."""
        if self.reason is None:
            self.reason = reason
            self.interrupt = interrupt
            if self.on_stop is not None:
                self.on_stop(reason)
        self.stopper.start()

    def wait(self, on_poll: Callable[[], None] | None = None) -> int:
        """Wait for the child to exit, calling ``on_poll`` every ``poll_interval`` while it
        runs; then end what is left of its group. Returns its return code."""
        # Should this agent die without a word (kill -9), the guard ends the child.
        guard = Guard(self.process.pid, self.stopper.grace)
        try:
            returncode = self._wait(on_poll)
        finally:
            if self.process.returncode is not None:
                guard.stop()
            # else: the agent is going down with the child still running: the guard ends it.
        reap_group(self.process.pid)
        self.stopper.end_stragglers()
        return returncode

    def _wait(self, on_poll: Callable[[], None] | None) -> int:
        started = time.monotonic()
        returncode: int | None = None
        while returncode is None:
            try:
                if on_poll is not None:
                    on_poll()
                if self.reason is None:
                    if self.timeout is not None and time.monotonic() - started >= self.timeout:
                        logger.warning("%s timed out after %g s", self.label, self.timeout)
                        self.request_stop(StopReason.TIMEOUT)
                    elif _interrupt.pending():
                        # A Ctrl-C swallowed on its way here (see localsweep._interrupt).
                        self._interrupted(KeyboardInterrupt())
                    elif self.stop_event is not None and self.stop_event.is_set():
                        # The workers' Ctrl-C: the main thread said so, once for all.
                        self.request_stop(StopReason.INTERRUPTED, KeyboardInterrupt())
                    elif self.control is not None and self.control.reason is not None:
                        logger.info("%s: stopping it (%s)", self.label, self.control.reason)
                        self.request_stop(StopReason.ABORTED)
                self._hurry_if_asked()
                self.stopper.tick()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    returncode = self.process.wait(self.poll_interval)
            except KeyboardInterrupt as exc:
                if self.reason is StopReason.INTERRUPTED:
                    self.stopper.hurry()  # a second Ctrl-C: do not wait out the grace period
                    self._acted_on_press()
                elif self.reason is None:
                    self._interrupted(exc)
                else:
                    self.request_stop(StopReason.INTERRUPTED, exc)
        return returncode

    def _interrupted(self, interrupt: BaseException) -> None:
        """The first Ctrl-C seen here: start stopping the child, and say so."""
        self.request_stop(StopReason.INTERRUPTED, interrupt)
        self._acted_on_press()
        announce_ctrl_c(self.label)

    def _acted_on_press(self) -> None:
        # One Ctrl-C acted on; more may have come meanwhile (two held during an import
        # raise one KeyboardInterrupt): _hurry_if_asked acts on those.
        self._presses_seen = min(self._presses_seen + 1, _interrupt.presses())

    def _hurry_if_asked(self) -> None:
        """Later Ctrl-Cs: the next signal at once, each. The workers' come through their
        :class:`StopEvent`; this thread's are counted, so that one that never reached us as
        a ``KeyboardInterrupt`` (swallowed on its way, see :mod:`localsweep._interrupt`)
        still counts."""
        if self.reason is not StopReason.INTERRUPTED:
            return
        while self._presses_seen < _interrupt.presses():
            self._presses_seen += 1
            self.stopper.hurry()
        if not isinstance(self.stop_event, StopEvent):
            return
        while self._hurries_seen < self.stop_event.hurries:
            self._hurries_seen += 1
            self.stopper.hurry()

    @staticmethod
    def timeout_exit_code(status: int | None, wandb_exit_code: int | None) -> int:
        """The exit code of a run that timed out: its process's exit status, but never 0
        for a failed run: a training that catches the SIGINT and exits 0 gets its wandb
        run's (wandb records the interrupted run with 1), else 1."""
        return status or wandb_exit_code or 1

    def timeout_error(self, returncode: int) -> str:
        """The error of a run that timed out."""
        return (
            f"timed out after {self.timeout:g} s; sent {self.stopper.describe()}, "
            f"and it {describe_exit(returncode)}"
        )

    def interrupt_error(self, returncode: int) -> str:
        """The error of a run the user stopped."""
        return (
            f"stopped by the user (Ctrl-C); sent {self.stopper.describe()}, "
            f"and it {describe_exit(returncode)}"
        )
