"""What reaches a running run from outside its own thread: lost leases, sweep control,
SIGTERM and SIGHUP.

Each agent has a :class:`Monitor` thread. It beats the heartbeat of the runs the agent holds
(the store answers which of them it no longer holds: another agent took this one for dead,
and its point runs elsewhere), and reads the sweep's state every second (so a ``cancel``
reaches the runs, and a ``pause`` the agent loop, within a few seconds). What it learns is
put on each run's :class:`RunControl`; the run's recorder (in-process runs, at their next
``wandb.log``) or the process watch (program mode, at its next poll) stops the run cleanly
and the agent records why.

SIGTERM (SLURM's ``--signal``, ``scancel``, a shutdown) is turned into the same thing: every
running run is asked to stop as *preempted*, so the agent requeues it and any agent resumes
it later with the same run id; then the agent exits (143). SIGHUP (the terminal closed, the
ssh session dropped) does the same (exit 129): without it the agent would die at once and
leave its run's child, which runs in its own session, training on as an orphan. An agent
started under ``nohup`` (SIGHUP ignored) keeps ignoring it.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

from localsweep import _interrupt
from localsweep.errors import AgentError, LeaseLostError, StoreError, StoreUnavailableError
from localsweep.records import SweepState
from localsweep.store import RunRecord, Store, beat_interval
from localsweep.store import heartbeat_timeout as store_heartbeat_timeout

__all__ = [
    "HEARTBEAT_TIMEOUT_VARIABLE",
    "STOP_SIGNALS",
    "AgentTerminated",
    "Monitor",
    "RunControl",
    "Termination",
    "heartbeat_interval",
    "on_sigterm",
]

logger = logging.getLogger(__name__)

#: Seconds without a heartbeat after which a run is taken for dead (read by the store too).
HEARTBEAT_TIMEOUT_VARIABLE = "LOCALSWEEP_HEARTBEAT_TIMEOUT"
#: How often the agent reads its sweep's state (pause, stop, cancel reach it this fast).
SWEEP_POLL_INTERVAL = 1.0

# Why a run is stopped from outside (its end_reason).
LEASE_LOST = "lease_lost"
CANCELLED = "cancelled"
PREEMPTED = "preempted"
#: The end reason of a run the agent stopped for running past its ``timeout``.
TIMED_OUT = "timeout"
STORE_ERROR = "store_error"


def heartbeat_timeout() -> float:
    """The heartbeat timeout in seconds: ``LOCALSWEEP_HEARTBEAT_TIMEOUT``, else 120 (read
    as the store reads it, which judges the runs by it)."""
    return store_heartbeat_timeout().total_seconds()


def heartbeat_interval() -> float:
    """How often an agent beats: a quarter of the timeout, at most every 30 s (the store
    holds off reaping for as long after a wait for the database)."""
    return beat_interval()


#: The signals that stop an agent by requeueing its running runs as preempted.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class AgentTerminated(AgentError):
    """The agent was sent SIGTERM or SIGHUP: its running runs were requeued and it stopped."""

    def __init__(self, message: str, requeued: int = 0, signum: int = signal.SIGTERM):
        super().__init__(message)
        #: How many running runs were requeued as preempted.
        self.requeued = requeued
        #: The signal that stopped the agent.
        self.signum = signum
        #: The exit status of a process ended by that signal, as a shell reports it
        #: (143 for SIGTERM, 129 for SIGHUP).
        self.exit_code = 128 + int(signum)


class RunControl:
    """A running run's stop request from outside: the first reason given is kept."""

    def __init__(self, run: RunRecord):
        self.run = run
        self._reason: str | None = None
        self._lock = threading.Lock()
        #: A store error that made the run stop (``reason`` is then ``store_error``).
        self.error: StoreError | None = None
        #: Whether the run's own code runs on the main thread right now (in-process).
        self.in_user_code = False
        #: The run's end as the store recorded it, once written (the store may be back by
        #: then, after an error that stopped the run).
        self.recorded: RunRecord | None = None

    @property
    def reason(self) -> str | None:
        """Why the run must stop (``lease_lost``, ``cancelled``, ``preempted``,
        ``store_error``), or ``None``."""
        return self._reason

    def abort(self, reason: str, error: StoreError | None = None) -> None:
        """Ask the run to stop for ``reason`` (kept only if none was given before). A lost
        lease is no error of the agent's (it goes on with other runs): only other store
        errors are kept, for the agent to stop on."""
        with self._lock:
            if self._reason is None:
                self._reason = reason
                self.error = None if isinstance(error, LeaseLostError) else error
                logger.info("run %s: stopping (%s)", self.run.id, reason)


class Termination:
    """SIGTERM or SIGHUP seen by this process: shared by every agent loop and worker of it."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self._controls: set[RunControl] = set()
        self._lock = threading.Lock()
        #: The first stop signal received (SIGTERM when none was, or when set directly).
        self.signum: int = signal.SIGTERM

    @property
    def signal_name(self) -> str:
        """The name of the signal that stopped the agent: ``SIGTERM`` or ``SIGHUP``."""
        return signal.Signals(self.signum).name

    def add(self, control: RunControl) -> None:
        with self._lock:
            self._controls.add(control)
            if self.event.is_set():
                control.abort(PREEMPTED)

    def discard(self, control: RunControl) -> None:
        with self._lock:
            self._controls.discard(control)

    def trigger(self, signum: int = signal.SIGTERM) -> RunControl | None:
        """Mark every running run preempted and stop claiming; returns the run whose code
        runs on the main thread now (to stop at once), if any. ``signum`` is the signal
        received (the first one is kept)."""
        with self._lock:
            if not self.event.is_set():
                self.signum = signum
            self.event.set()
            for control in self._controls:
                control.abort(PREEMPTED)
            return next((c for c in self._controls if c.in_user_code), None)


def detach_dead_terminal() -> list[int]:
    """Point stdout and stderr at ``/dev/null`` when they are a terminal that hung up (every
    write to it fails with EIO): the agent then finishes its runs' records and says its last
    line without failing on output no one can read. Returns the descriptors replaced."""
    replaced: list[int] = []
    for fd in (1, 2):
        try:
            os.write(fd, b"")  # a hung-up terminal fails even this; a pipe or file does not
        except OSError as exc:
            if exc.errno not in (errno.EIO, errno.ENXIO):
                continue
            try:
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, fd)
                os.close(null)
            except OSError:
                continue
            replaced.append(fd)
    if replaced:
        logger.info("the terminal hung up: output from now on goes to %s", os.devnull)
    return replaced


def _ignore(signum: int, frame: FrameType | None) -> None:
    """A SIGINT the agent's shell told it to ignore (see :func:`on_sigterm`)."""


@contextmanager
def on_sigterm(termination: Termination) -> Iterator[None]:
    """Turn SIGTERM and SIGHUP into ``termination.trigger()`` while inside (main thread
    only). A SIGHUP that is ignored when entering (``nohup``) stays ignored.

    A SIGINT ignored when entering (an agent a script started with ``&``, or ``nohup ...
    &`` over ssh) is handled by doing nothing instead: the agent still ignores it, but
    the children it starts now take it (an ignored signal stays ignored across ``exec``;
    a handled one is reset to its default), so the SIGINT that stops a run lets wandb keep
    every row and the program save its checkpoint."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: FrameType | None) -> None:
        if signum == signal.SIGHUP:
            detach_dead_terminal()
        name = signal.Signals(signum).name
        logger.warning("%s: requeueing the running runs as preempted and stopping", name)
        in_code = termination.trigger(signum)
        if in_code is not None:
            from localsweep.agent._recorder import RunAborted

            in_code.in_user_code = False
            raise RunAborted(in_code.run.id, PREEMPTED)

    previous: dict[signal.Signals, Any] = {}
    try:
        for sig in STOP_SIGNALS:
            if sig == signal.SIGHUP and signal.getsignal(sig) == signal.SIG_IGN:
                continue  # nohup: the user asked to outlive the terminal
            previous[sig] = signal.signal(sig, handler)
        if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
            previous[signal.SIGINT] = signal.signal(signal.SIGINT, _ignore)
    except ValueError:  # not the main interpreter
        for sig, old in previous.items():
            signal.signal(sig, old)
        yield
        return
    # Called from Python (the command installs it at start): a Ctrl-C is remembered while
    # the agent runs, and forgotten after, so it cannot stop the caller's next agent.
    remember_ctrl_c = _interrupt.install()
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
        if remember_ctrl_c:
            _interrupt.uninstall()


class Monitor(threading.Thread):
    """An agent's heartbeat and sweep watcher (one daemon thread per agent loop)."""

    def __init__(self, store: Store, sweep_id: str, *, interval: float | None = None):
        super().__init__(name="localsweep-monitor", daemon=True)
        self.store = store
        self.sweep_id = sweep_id
        self.interval = interval if interval is not None else heartbeat_interval()
        self._controls: dict[str, RunControl] = {}
        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        #: The sweep's state as last read.
        self.sweep_state: SweepState | None = None
        #: The store gave up (its bounded retry ran out, or a lasting error): the agent stops.
        self.failure: StoreError | None = None

    def add(self, control: RunControl) -> None:
        with self._lock:
            self._controls[control.run.id] = control
        if self.sweep_state is SweepState.CANCELED:
            control.abort(CANCELLED)

    def discard(self, control: RunControl) -> None:
        with self._lock:
            self._controls.pop(control.run.id, None)

    def _current(self) -> list[RunControl]:
        with self._lock:
            return list(self._controls.values())

    def run(self) -> None:
        next_beat = time.monotonic() + self.interval
        while not self._stop_event.wait(min(SWEEP_POLL_INTERVAL, self.interval)):
            try:
                self._poll_sweep()
                if time.monotonic() >= next_beat:
                    next_beat = time.monotonic() + self.interval
                    self._beat()
            except StoreUnavailableError as exc:
                self._fail(exc)
            except StoreError as exc:
                self._fail(exc)
            except Exception:  # a missed beat is harmless; a dead thread is not
                logger.warning("heartbeat failed", exc_info=True)

    def _poll_sweep(self) -> None:
        state = self.store.sweep_state(self.sweep_id)
        if state is not self.sweep_state:
            logger.info("sweep %s is %s", self.sweep_id, state.value)
        self.sweep_state = state
        if state is SweepState.CANCELED:
            for control in self._current():
                control.abort(CANCELLED)

    def _beat(self) -> None:
        controls = self._current()
        if not controls:
            return
        lost = self.store.heartbeat([c.run for c in controls])
        # A beat that waited on the database may answer after this agent itself ended a
        # run (its end written, the run let go): not held any more, but no one reaped it.
        still = set(self._current())
        for control in controls:
            if control.run.id in lost and control in still and control.recorded is None:
                logger.warning(
                    "run %s: another agent took it for dead (no heartbeat for %g s); "
                    "stopping it here, its point runs again elsewhere",
                    control.run.id,
                    heartbeat_timeout(),
                )
                control.abort(LEASE_LOST)

    def _fail(self, exc: StoreError) -> None:
        if self.failure is None:
            self.failure = exc
            logger.info("the store failed: %s", exc)  # the agent raises it: one message
        for control in self._current():
            control.abort(STORE_ERROR, exc)

    def stop(self) -> None:
        self._stop_event.set()
