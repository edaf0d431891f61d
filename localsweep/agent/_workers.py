"""Several runs at once: worker threads in one agent process, each with its own agent loop.

Each worker is a full :class:`Agent` (its own :class:`AgentInfo`, heartbeat and failure
count) whose runs execute in child processes, so the threads only wait. Workers of one
process never reap each other's runs: they share the host and the pid, which stays alive,
and each beats its own runs' heartbeat. They share one ``count``: a worker takes a ticket
before it claims a run, so the total is exact however long each run takes.

Ctrl-C (only the main thread sees it) sets the workers' stop event: every running child gets
``SIGINT`` (then ``SIGTERM``, ``SIGKILL``) and is recorded ``killed``, no worker claims
another run, and the ``KeyboardInterrupt`` is re-raised once all are recorded. Each later
Ctrl-C sends every child stopping for it its next signal at once (:class:`StopEvent`).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from localsweep import _interrupt
from localsweep._agent_options import gpu_list
from localsweep.agent._agent import (
    Agent,
    AgentInterrupted,
    AgentReport,
    Runner,
    terminated_message,
)
from localsweep.agent._control import AgentTerminated, Termination, on_sigterm
from localsweep.agent._defaults import DEFAULT_GRACE_PERIOD
from localsweep.agent._inprocess import InProcessRunner
from localsweep.agent._process import StopEvent, announce_ctrl_c
from localsweep.config import Method, SweepConfig
from localsweep.errors import AgentError, ProgramNotFoundError
from localsweep.store import RunRecord, Store

__all__ = ["WorkerSlot", "require_program", "run_workers", "runner_factory", "worker_env"]

logger = logging.getLogger(__name__)

#: Stop reasons that say the sweep itself is done, preferred when merging workers' reports.
_SWEEP_DONE = ("exhausted", "run_cap", "target_reached", "finished")


@dataclass(frozen=True)
class WorkerSlot:
    """What one worker hands its runner: its number, the environment its runs' processes
    get on top of the agent's (``CUDA_VISIBLE_DEVICES``), and the event that stops them."""

    index: int
    env: Mapping[str, str] = field(default_factory=dict)
    stop_event: threading.Event = field(default_factory=StopEvent)


def worker_env(index: int, gpus: Sequence[str] | None) -> dict[str, str]:
    """The environment worker ``index`` adds for its runs: GPU ``gpus[index % len(gpus)]``."""
    if not gpus:
        return {}
    return {"CUDA_VISIBLE_DEVICES": str(gpus[index % len(gpus)])}


class _Tickets:
    """The shared ``count``: how many more runs the workers may start together."""

    def __init__(self, total: int | None):
        self._left = total
        self._lock = threading.Lock()
        self._closed = False

    def take(self) -> bool:
        with self._lock:
            if self._closed:
                return False
            if self._left is None:
                return True
            if self._left <= 0:
                return False
            self._left -= 1
            return True

    def close(self) -> None:
        """Let no worker start another run (the ones running finish)."""
        with self._lock:
            self._closed = True


class _WorkerAgent(Agent):
    """An agent whose ``count`` is a share of the workers' tickets.

    The agent loop reads ``count`` before each claim; holding a ticket allows one more run.
    """

    def __init__(
        self, *args: Any, tickets: _Tickets, stop_event: threading.Event, **kwargs: Any
    ) -> None:
        self._tickets = tickets
        self._stop_event = stop_event
        self._holding = False
        self._started = 0
        user_on_run_end = kwargs.pop("on_run_end", None)

        def on_run_end(record: RunRecord) -> None:
            self._started += 1
            self._holding = False
            if user_on_run_end is not None:
                user_on_run_end(record)

        super().__init__(*args, on_run_end=on_run_end, **kwargs)

    @property
    def count(self) -> int | None:
        if self._stop_event.is_set():
            return self._started
        if not self._holding:
            self._holding = self._tickets.take()
        return self._started + 1 if self._holding else self._started

    @count.setter
    def count(self, value: int | None) -> None:
        # Agent.__init__ sets it; the tickets decide instead.
        pass


def _sleep_until(stop_event: threading.Event) -> Callable[[float], None]:
    def sleep(seconds: float) -> None:
        if stop_event.wait(seconds):
            raise KeyboardInterrupt

    return sleep


def run_workers(
    store: Store | str | os.PathLike[str],
    sweep_id: str,
    *,
    make_runner: Callable[[WorkerSlot], Runner],
    workers: int | None = None,
    count: int | None = None,
    gpus: str | Sequence[str | int] | None = None,
    project: str | None = None,
    entity: str | None = None,
    max_consecutive_failures: int = 5,
    on_run_end: Callable[[RunRecord], None] | None = None,
    on_run_start: Callable[[RunRecord], None] | None = None,
) -> AgentReport:
    """Run the sweep with ``workers`` runs at a time (default: one per GPU, else one).

    ``make_runner(slot)`` builds each worker's runner; with more than one worker it must run
    each run in its own process (program mode, or ``isolation="process"``), and pass the
    slot's ``env`` and ``stop_event`` on. ``count`` caps the runs of all workers together;
    ``gpus`` (e.g. ``["0", "1"]``, or ``"0,1"``, checked as ``localsweep.agent``'s) gives
    worker ``i`` ``CUDA_VISIBLE_DEVICES=gpus[i % len(gpus)]``. Returns the workers' reports
    merged. Ctrl-C stops every run (recorded ``killed``) and is re-raised; if a worker stops
    on an error (too many failures in a row), the others finish their current runs and the
    error is raised.
    """
    gpus = gpu_list(gpus)
    n = workers if workers is not None else max(len(gpus or ()), 1)
    if n < 1:
        raise ValueError(f"workers must be at least 1, got {n}")
    own_store = not isinstance(store, Store)
    db = store if isinstance(store, Store) else Store(store)
    try:
        if n == 1:
            # The calling thread runs it, so Ctrl-C reaches the runner as in a plain agent.
            runner = make_runner(WorkerSlot(0, worker_env(0, gpus)))
            return Agent(
                db,
                sweep_id,
                runner=runner,
                count=count,
                project=project,
                entity=entity,
                max_consecutive_failures=max_consecutive_failures,
                on_run_end=on_run_end,
                on_run_start=on_run_start,
            ).run()
        return _run_threads(
            db,
            sweep_id,
            n,
            make_runner,
            count,
            gpus,
            project=project,
            entity=entity,
            max_consecutive_failures=max_consecutive_failures,
            on_run_end=on_run_end,
            on_run_start=on_run_start,
        )
    finally:
        if own_store:
            db.close()


def _run_threads(
    store: Store,
    sweep_id: str,
    n: int,
    make_runner: Callable[[WorkerSlot], Runner],
    count: int | None,
    gpus: Sequence[str] | None,
    **agent_options: Any,
) -> AgentReport:
    stop_event = StopEvent()
    termination = Termination()
    tickets = _Tickets(count)
    agents: list[_WorkerAgent] = []
    for i in range(n):
        runner = make_runner(WorkerSlot(i, worker_env(i, gpus), stop_event))
        if isinstance(runner, InProcessRunner):
            raise AgentError(
                f"{n} workers cannot run a Python function in this process (runs would share "
                "wandb's global run and this process's memory); use isolation='process' so "
                "each run gets its own process, or a program sweep"
            )
        agents.append(
            _WorkerAgent(
                store,
                sweep_id,
                runner=runner,
                tickets=tickets,
                stop_event=stop_event,
                sleep=_sleep_until(stop_event),
                termination=termination,
                **agent_options,
            )
        )

    reports: list[AgentReport | None] = [None] * n
    errors: list[BaseException | None] = [None] * n
    done = [False] * n
    said: set[str] = set()

    def work(i: int) -> None:
        try:
            reports[i] = agents[i].run()
        except KeyboardInterrupt as exc:
            errors[i] = exc
        except AgentTerminated as exc:
            errors[i] = exc
            tickets.close()
        except BaseException as exc:
            errors[i] = exc
            tickets.close()  # the others finish their runs and start no more
            # Said now only while others still run (the agent's last line says it), and
            # once: workers that hit one cause (a full disk) would repeat it word for word.
            cause = f"{type(exc).__name__}: {str(exc).split(':', 1)[0]}"  # "disk full"
            if any(not d for j, d in enumerate(done) if j != i) and cause not in said:
                said.add(cause)
                logger.error(
                    "worker %d stopped (the others end the runs they hold and start no more): %s",
                    i,
                    exc,
                )
        finally:
            done[i] = True

    threads = [
        threading.Thread(target=work, args=(i,), name=f"localsweep-worker-{i}", daemon=True)
        for i in range(n)
    ]
    with on_sigterm(termination):
        for thread in threads:
            thread.start()
        interrupted = _wait_for(done, stop_event, tickets)
    for thread in threads:
        thread.join()

    if interrupted is not None:
        runs = sum(e.interrupted for e in errors if isinstance(e, AgentInterrupted))
        raise AgentInterrupted(
            runs, agents[0].config.method is Method.GRID, agents[0].sweep.id
        ) from None
    if termination.event.is_set():
        requeued = sum(r.states.get("preempted", 0) for r in reports if r is not None)
        requeued += sum(e.requeued for e in errors if isinstance(e, AgentTerminated))
        raise AgentTerminated(
            terminated_message(requeued, termination.signal_name), requeued, termination.signum
        )
    for error in errors:
        if error is not None and not isinstance(error, KeyboardInterrupt):
            raise error
    return _merge([r for r in reports if r is not None])


def _wait_for(
    done: list[bool], stop_event: StopEvent, tickets: _Tickets
) -> KeyboardInterrupt | None:
    """Wait until every worker is done; a Ctrl-C stops them all and is returned, and each
    later one sends their running children the next signal at once."""
    interrupted: KeyboardInterrupt | None = None
    # Poll with sleep rather than Thread.join(timeout): a Ctrl-C landing inside join() can
    # make CPython 3.11 take a running thread for finished (bpo-45274), and we would exit
    # while workers are still recording their runs.
    while not all(done):
        try:
            if interrupted is None:
                _interrupt.raise_if_pending()  # one swallowed on its way here
            time.sleep(0.1)
        except KeyboardInterrupt as exc:
            if interrupted is None:
                announce_ctrl_c("the running runs", "them")
                interrupted = exc
                stop_event.set()
                tickets.close()
            else:
                stop_event.hurry()
    return interrupted


def _merge(reports: Sequence[AgentReport]) -> AgentReport:
    merged = AgentReport()
    for report in reports:
        merged.runs.extend(report.runs)
        for state, number in report.states.items():
            merged.states[state] = merged.states.get(state, 0) + number
        merged.lease_lost += report.lease_lost
    reasons = [r.stop_reason for r in reports]
    merged.stop_reason = next((r for r in reasons if r in _SWEEP_DONE), None) or next(
        (r for r in reasons if r), ""
    )
    return merged


# ------------------------------------------------------------------------------ runners


def require_program(config: SweepConfig, sweep_id: str | None = None) -> None:
    """Raise :class:`ProgramNotFoundError` when a program sweep's script is not where its
    runs would look for it (this folder), see
    :func:`localsweep._hints.missing_program_message`, and the ``ConfigError`` of
    :func:`~localsweep.agent._command.check_command` when no run's command line could be
    built."""
    from localsweep._hints import missing_program_message
    from localsweep.agent._command import check_command

    check_command(config.command, config.program)
    missing = missing_program_message(config.program, config.command, os.getcwd())
    if missing is not None:
        raise ProgramNotFoundError(f"sweep {sweep_id}: {missing}" if sweep_id else missing)


def runner_factory(
    store: Store,
    sweep_id: str,
    *,
    function: Callable[..., Any] | None = None,
    isolation: Literal["thread", "process"] = "thread",
    project: str | None = None,
    entity: str | None = None,
    timeout: float | None = None,
    grace_period: float = DEFAULT_GRACE_PERIOD,
    share_service: bool = False,
    prefix_output: bool = False,
) -> Callable[[WorkerSlot], Runner]:
    """The runner of each worker for a sweep: program mode when there is no ``function``
    (the config's ``program`` / ``command``), a fresh process per run with
    ``isolation="process"``, else the function in this process.

    Raises :class:`AgentError` for combinations that cannot work: no function and no
    program, a ``program`` script Python would not find in this folder, or a ``timeout``
    for a function run in this process (a thread cannot be stopped from outside).
    """
    sweep = store.get_sweep(sweep_id)
    config = sweep.config
    project = project or sweep.project or config.project
    entity = entity or sweep.entity or config.entity
    if isolation not in ("thread", "process"):
        raise ValueError(f"isolation must be 'thread' or 'process', got {isolation!r}")

    if function is None:
        if not config.program and not config.command:
            raise AgentError(
                f"sweep {sweep_id} has no `program` or `command` to run; pass a function "
                "(localsweep.agent(sweep_id, function=train)) or add `program: train.py`"
            )
        # Checked before any run is claimed: else every run fails the same way, and the
        # sweep keeps a failed run for each.
        require_program(config, sweep_id)
        from localsweep.agent._subprocess import ProgramRunner

        def program(slot: WorkerSlot) -> Runner:
            return ProgramRunner.for_sweep(
                sweep_id,
                config,
                project=project,
                entity=entity,
                timeout=timeout,
                grace_period=grace_period,
                share_service=share_service,
                env=slot.env,
                stop_event=slot.stop_event,
                prefix_output=prefix_output,
            )

        return program

    if isolation == "process":
        from localsweep.agent._isolated import IsolatedFunctionRunner

        def isolated(slot: WorkerSlot) -> Runner:
            return IsolatedFunctionRunner(
                function,
                store.url,
                sweep_id,
                project=project,
                entity=entity,
                timeout=timeout,
                grace_period=grace_period,
                env=slot.env,
                stop_event=slot.stop_event,
                prefix_output=prefix_output,
            )

        return isolated

    if timeout is not None:
        raise AgentError(
            "a per-run timeout needs each run in its own process: use isolation='process' "
            "(a function running in this process cannot be stopped from outside)"
        )

    def in_process(slot: WorkerSlot) -> Runner:
        return InProcessRunner(function, sweep_id, project, entity)

    return in_process
