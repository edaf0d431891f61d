"""The agent: claim a run, execute it, record it, finish it; again until the sweep is done."""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from localsweep import _interrupt
from localsweep._agent_options import absolute_path, check_sweep_path, folder_gone
from localsweep._console import output_fault
from localsweep.agent._control import (
    CANCELLED,
    LEASE_LOST,
    PREEMPTED,
    AgentTerminated,
    Monitor,
    RunControl,
    Termination,
    on_sigterm,
)
from localsweep.agent._disk import SETUP_ERROR, warn_if_disk_full
from localsweep.agent._env_faults import not_the_trainings
from localsweep.agent._hyperband import make_stopper
from localsweep.agent._recorder import RunRecorder
from localsweep.agent._stop_messages import (
    AgentInterrupted,
    terminated_message,
)
from localsweep.config import Method, SweepConfig
from localsweep.errors import (
    AgentError,
    LeaseLostError,
    RunSetupError,
    StoreError,
)
from localsweep.records import Proposal, RunState, RunView
from localsweep.search import Search, make_search
from localsweep.search._multi import reaches_all_targets
from localsweep.store import AgentInfo, ClaimOutcome, RunRecord, Store
from localsweep.wandb_bridge import FinishedRun, keep_offline

__all__ = ["Agent", "AgentReport", "RunOutcome", "Runner"]

logger = logging.getLogger(__name__)

#: How long an agent with nothing to claim waits before asking again, while other agents'
#: runs are in flight and may still crash and give their grid point back.
WAIT_INTERVAL = 1.0


@dataclass(frozen=True)
class RunOutcome:
    """How a runner saw a run end. The agent records it with what the recorder captured."""

    state: RunState
    exit_code: int | None = None
    error: str | None = None
    stopped_at_band: int | None = None
    #: Why the run ended as it did when something other than its code ended it
    #: (``"hyperband"``, ``"plateau"``, ``"preempted"``...); hyperband when only a band.
    end_reason: str | None = None
    #: What wandb reported as the run finished (summary, offline folder, name), if known.
    finished: FinishedRun | None = None
    stdout_path: str | None = None
    stderr_path: str | None = None
    #: What to raise once the run is recorded, so the agent stops: a Ctrl-C, or an
    #: :class:`~localsweep.errors.AgentError` that every run would meet (a setup error).
    interrupted: BaseException | None = None


def aborted_outcome(reason: str, exit_code: int | None = None, **fields: Any) -> RunOutcome:
    """How a run the agent stopped from outside (:class:`RunAborted`) is recorded: preempted
    (requeued) on SIGTERM or SIGHUP; else killed, which gives its point back, with the reason."""
    if reason == PREEMPTED:
        return RunOutcome(RunState.PREEMPTED, exit_code=exit_code, end_reason=reason, **fields)
    errors = {
        LEASE_LOST: "another agent took this run for dead (its heartbeat was late)",
        CANCELLED: "the sweep was cancelled",
    }
    error = errors.get(reason, "the store failed; see the agent's message")
    return RunOutcome(
        RunState.KILLED, exit_code=exit_code, error=error, end_reason=reason, **fields
    )


class Runner(Protocol):
    """Executes one claimed run, feeding what it logs to ``recorder`` (whose ``on_log`` may
    raise :class:`RunStopped` when hyperband stops the run)."""

    def __call__(self, run: RunRecord, recorder: RunRecorder) -> RunOutcome: ...


@dataclass
class AgentReport:
    """What one agent did: its runs by state and why it stopped."""

    runs: list[str] = field(default_factory=list)
    states: dict[str, int] = field(default_factory=dict)
    stop_reason: str = ""
    #: Runs this agent stopped because another agent had taken them for dead.
    lease_lost: int = 0

    def count(self, run: RunRecord) -> None:
        self.runs.append(run.id)
        self.states[run.state.value] = self.states.get(run.state.value, 0) + 1


def wandb_root() -> Path:
    """Where wandb puts its ``wandb/`` folder: ``WANDB_DIR`` or the working directory."""
    return Path(os.environ.get("WANDB_DIR") or os.getcwd())


def run_rng(seed: int, number: int, priors: str = "") -> random.Random:
    """The random stream of run ``number``: fixed by the sweep's seed, whoever runs it, and
    by the points its prior runs hold (``priors``: :func:`localsweep.priors.stream_key`),
    so that a sweep warm-started from one of the same seed does not draw its runs again."""
    return random.Random(f"localsweep:{seed}:{number}" + (f":{priors}" if priors else ""))


class Agent:
    """Runs a sweep's runs in this process, one after another.

    ``function`` is the user's training function: ``train()`` using ``wandb.init()`` /
    ``wandb.config`` / ``wandb.log``, or ``train(config)`` returning a number or a dict
    of metrics. ``count`` caps the runs this agent starts (``None``: until the sweep is
    done).
    """

    def __init__(
        self,
        store: Store,
        sweep_id: str,
        function: Callable[..., Any] | None = None,
        *,
        runner: Runner | None = None,
        count: int | None = None,
        project: str | None = None,
        entity: str | None = None,
        max_consecutive_failures: int = 5,
        on_run_end: Callable[[RunRecord], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        termination: Termination | None = None,
        on_run_start: Callable[[RunRecord], None] | None = None,
    ):
        self.store = store
        self.sweep = store.get_sweep(sweep_id)
        self.config: SweepConfig = self.sweep.config
        if function is None and runner is None:
            raise ValueError("an agent needs a function to call or a runner")
        self.count = count
        check_sweep_path(self.sweep, project, entity)
        self.project = project or self.sweep.project or self.config.project
        self.entity = entity or self.sweep.entity or self.config.entity
        self.max_consecutive_failures = max_consecutive_failures
        self.on_run_end = on_run_end
        self.on_run_start = on_run_start
        self._sleep = sleep
        self.info = AgentInfo.current()
        user_study = None
        if self.config.method is Method.CUSTOM:  # Optuna is imported only where it is used
            from localsweep.agent._scheduler import load_user_study

            user_study = load_user_study(self.config, self.sweep.config_dir)
        self.search: Search = make_search(self.config, user_study)
        from localsweep.priors import stream_key

        self._priors = stream_key(store, sweep_id)
        reason = getattr(self.search, "reason", None)
        if reason:
            logger.info("sweep %s: %s", sweep_id, reason)
        if runner is None:
            assert function is not None
            from localsweep.agent._inprocess import InProcessRunner

            runner = InProcessRunner(function, sweep_id, self.project, self.entity)
        self.runner: Runner = runner
        self._stopper: Any = make_stopper(self.config, store, sweep_id)
        if user_study is not None and user_study.pruner is not None:
            from localsweep.agent._scheduler import PrunerStopper

            self._stopper = PrunerStopper(self.config, store, sweep_id, user_study.pruner)
        #: SIGTERM and SIGHUP: shared by the workers of one process; a plain agent makes its own.
        self._own_termination = termination is None
        self.termination = termination or Termination()
        self._monitor: Monitor | None = None
        self._paused_said = False

    # ---------------------------------------------------------------------------------

    def run(self) -> AgentReport:
        """Claim and execute runs until the sweep is done or ``count`` runs have run.

        Raises :class:`AgentInterrupted` on Ctrl-C (after recording the run killed),
        :class:`AgentTerminated` on SIGTERM or SIGHUP (after requeueing the run), and
        :class:`~localsweep.errors.StoreError` when the store fails (one message, after the
        run was stopped and recorded as far as the store allows)."""
        report = AgentReport()
        # Offline also for processes a run starts without our WANDB_MODE (rule 2).
        keep_offline([os.getcwd(), wandb_root()])
        monitor = Monitor(self.store, self.sweep.id)
        self._monitor = monitor
        monitor.start()
        interrupted = 0
        try:
            with on_sigterm(self.termination) if self._own_termination else _nothing():
                self._loop(report)
        except AgentInterrupted:
            raise
        except KeyboardInterrupt as exc:
            _interrupt.clear()  # acted on: the agent stops for it
            interrupted = _interrupted_runs(exc)
            raise AgentInterrupted(
                interrupted, self.config.method is Method.GRID, self.sweep.id
            ) from None
        finally:
            monitor.stop()
            self._monitor = None
        return report

    def _loop(self, report: AgentReport) -> None:
        failures_in_a_row = 0
        while self.count is None or len(report.runs) < self.count:
            # A Ctrl-C swallowed on its way (or caught by the user's code, which then
            # returned) still stops the agent before it claims another run.
            _interrupt.raise_if_pending()
            self._check_health(report)
            claim = self.store.claim_run(
                self.sweep.id,
                self.info,
                self._propose,
                needs_runs=self._needs_runs,
                needs_history=self._needs_history,
                nest=self.config.nest,
            )
            if claim.outcome is ClaimOutcome.PAUSED:
                if not self._paused_said:
                    logger.warning(
                        "sweep %s is paused: waiting for `localsweep sweep --resume %s`",
                        self.sweep.id,
                        self.sweep.id,
                    )
                    self._paused_said = True
                self._sleep(WAIT_INTERVAL)
                continue
            if self._paused_said:
                if claim.run is None and claim.outcome is not ClaimOutcome.WAIT:
                    # Stopped or cancelled while paused: no run will start again.
                    logger.warning("sweep %s ended while paused", self.sweep.id)
                else:
                    logger.warning("sweep %s resumed", self.sweep.id)
                self._paused_said = False
            if claim.outcome is ClaimOutcome.WAIT:
                self._sleep(WAIT_INTERVAL)
                continue
            if claim.run is None:
                report.stop_reason = self._why_over(claim.outcome)
                break
            if self.on_run_start is not None:
                self.on_run_start(claim.run)
            record = self._run_one(claim.run, report)
            report.count(record)
            if self.on_run_end is not None:
                self.on_run_end(record)
            if record.state is RunState.FAILED:
                failures_in_a_row += 1
                if failures_in_a_row >= self.max_consecutive_failures:
                    report.stop_reason = "too_many_failures"
                    raise AgentError(
                        f"{failures_in_a_row} runs in a row failed; the agent stops. To "
                        "allow more, give --max-consecutive-failed-runs N (Python: "
                        "max_consecutive_failures=N), or set WANDB_AGENT_MAX_INITIAL_FAILURES=N. "
                        f"Last error (run {record.id}):\n{record.error or ''}".rstrip()
                    )
            else:
                failures_in_a_row = 0
        else:
            report.stop_reason = "count"
        self._check_health(report)

    def _check_health(self, report: AgentReport) -> None:
        """Stop the loop on SIGTERM or SIGHUP, or when the monitor found the store failing."""
        if self.termination.event.is_set():
            report.stop_reason = "terminated"
            requeued = report.states.get(RunState.PREEMPTED.value, 0)
            termination = self.termination
            raise AgentTerminated(
                terminated_message(requeued, termination.signal_name),
                requeued,
                termination.signum,
            )
        monitor = self._monitor
        if monitor is not None and monitor.failure is not None:
            report.stop_reason = "store_error"
            raise monitor.failure
        if (gone := output_fault()) is not None:  # see localsweep._console.output_fault
            report.stop_reason = "output_closed"
            raise gone

    def _why_over(self, outcome: ClaimOutcome) -> str:
        """Why no run is left, in the sweep's own words when it was ended (``canceled``,
        ``stopped``, ``exhausted``): ``finished`` alone says nothing of who ended it."""
        if outcome is not ClaimOutcome.FINISHED:
            return outcome.value
        try:
            sweep = self.store.get_sweep(self.sweep.id)
        except StoreError:
            return outcome.value
        return sweep.finished_reason or sweep.state.value

    def _run_one(self, run: RunRecord, report: AgentReport) -> RunRecord:
        control = RunControl(run)
        monitor = self._monitor
        if monitor is not None:
            monitor.add(control)
        self.termination.add(control)
        try:
            record = self._execute(run, control)
        finally:
            self.termination.discard(control)
            if monitor is not None:
                monitor.discard(control)
        if control.reason == LEASE_LOST:
            report.lease_lost += 1
        if control.error is not None:
            # The run was stopped and recorded as far as the store allows; now say why,
            # and whether its end got written after all (the database came back).
            raise _with_what_was_recorded(control.error, control.recorded)
        return record

    @property
    def _needs_runs(self) -> bool:
        # Random search draws without looking at earlier runs: its claims skip reading them.
        return self.config.method is not Method.RANDOM

    @property
    def _needs_history(self) -> bool:
        return self.config.method in (Method.BAYES, Method.CUSTOM)

    def _propose(self, runs: Sequence[RunView], number: int) -> Proposal | None:
        return self.search.propose(runs, run_rng(self.sweep.seed, number, self._priors))

    # ---------------------------------------------------------------------------------

    def _execute(self, run: RunRecord, control: RunControl) -> RunRecord:
        recorder = RunRecorder(
            self.store,
            run,
            self.config,
            is_boundary=self._stopper.is_boundary if self._stopper else None,
            should_stop=self._stopper.for_run(run.id) if self._stopper else None,
            control=control,
            early_stopping=self.config.options.early_stopping,
        )
        try:
            _interrupt.raise_if_pending()
            if (gone := folder_gone(run.id)) is not None:
                raise gone  # no run can start there (wandb, multiprocessing, a program)
            outcome = self.runner(run, recorder)
        except KeyboardInterrupt as exc:
            # Ctrl-C outside the user's code (while starting the run): still record it.
            outcome = RunOutcome(
                RunState.KILLED, error="stopped by the user (Ctrl-C)", interrupted=exc
            )
        except RunSetupError as exc:
            # The run's files could not be written (a full disk): not the run's failure,
            # and the next runs would fail the same way. Not counted; the agent stops.
            outcome = RunOutcome(
                RunState.KILLED, error=str(exc), interrupted=exc, end_reason=SETUP_ERROR
            )
        outcome = not_the_trainings(run.id, outcome, wandb_root)
        if outcome.interrupted is not None and outcome.state is RunState.KILLED:
            outcome = replace(outcome, end_reason=outcome.end_reason or "interrupted")
        finished = outcome.finished or recorder.finished
        if finished is not None and recorder.finished is None:
            recorder.on_finish(finished)
        if finished is not None:
            warn_if_disk_full(run.id, finished.dir)
        summary = recorder.summary()
        summary_metric = recorder.summary_metric(summary)
        best = recorder.best_value(summary_metric)
        metric = self.config.metric
        target_reached = (
            outcome.state is RunState.FINISHED
            and metric is not None
            and best is not None
            and metric.reaches_target(best)
        ) or (outcome.state is RunState.FINISHED and reaches_all_targets(summary, self.config))
        exit_code = outcome.exit_code
        if exit_code is None and finished is not None:
            exit_code = finished.exit_code
        end_reason = outcome.end_reason
        if outcome.stopped_at_band is not None and end_reason in (None, "hyperband"):
            # The sweep's stopper: hyperband, or the user's Optuna pruner ("pruned").
            end_reason = getattr(self._stopper, "end_reason", "hyperband")
        history = recorder.take_rows()
        try:
            if outcome.state is RunState.PREEMPTED:
                record = self.store.requeue_run(
                    run,
                    history=history,
                    summary=summary,
                    metric=summary_metric,
                    reason=end_reason or PREEMPTED,
                )
                logger.warning(
                    "run %s was preempted; it is requeued and resumes with the same id", run.id
                )
            else:
                record = self.store.finish_run(
                    run,
                    outcome.state,
                    history=history,
                    summary=summary,
                    metric=summary_metric,
                    exit_code=exit_code,
                    error=outcome.error,
                    name=finished.name if finished else None,
                    stopped_at_band=outcome.stopped_at_band,
                    end_reason=end_reason,
                    target_reached=target_reached,
                    dir=_absolute(finished.dir if finished else None),
                    stdout_path=_absolute(outcome.stdout_path),
                    stderr_path=_absolute(outcome.stderr_path),
                )
            control.recorded = record
        except LeaseLostError:
            # Another agent took the run for dead and runs its point again: this result
            # must not count. The store kept its rows and says why (end_reason).
            logger.warning(
                "run %s: this agent no longer holds it (another agent took it for dead); "
                "its result is not counted",
                run.id,
            )
            control.abort(LEASE_LOST)
            record = replace(
                run,
                state=RunState.CRASHED,
                end_reason=LEASE_LOST,
                error="another agent took this run for dead (its heartbeat was late) and runs "
                "its point again; this attempt is not counted",
            )
        except StoreError as exc:
            if control.error is None:
                control.abort("store_error", exc)
                control.error = control.error or exc
            record = replace(run, state=outcome.state, end_reason=end_reason)
        if outcome.interrupted is not None:
            if isinstance(outcome.interrupted, RunSetupError) and self.on_run_end is not None:
                self.on_run_end(record)  # its end line, as every run's; then the agent stops
            raise _with_count(outcome.interrupted)
        return record


def _with_what_was_recorded(error: StoreError, recorded: RunRecord | None) -> StoreError:
    """``error``, saying that the run's end was recorded all the same when it was: the
    store came back before the run ended, and a message that the run was lost would be
    false."""
    if recorded is None:
        return error
    try:
        said = type(error)(
            f"{error}\n(The database came back before run {recorded.id} ended: it is "
            f"recorded {recorded.state.value}, with the rows it logged. The agent stopped all "
            "the same, as the store was unavailable for longer than the bound.)"
        )
    except TypeError:  # an error class with other arguments: said as it is
        return error
    said.__cause__ = error.__cause__
    return said


def _absolute(path: str | None) -> str | None:
    """``path`` as recorded: absolute, so that ``sync``, ``Run.dir`` and the report find it
    from any folder. A relative one (a relative ``WANDB_DIR`` or ``dir=``) is relative to
    the agent's working directory, which is also its runs' (a program's, a run's process,
    and an in-process run's, which the agent goes back to after the run), deleted or not."""
    return None if path is None else absolute_path(path)


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def _with_count(exc: BaseException) -> BaseException:
    """A Ctrl-C to re-raise, counting the run it interrupted."""
    if isinstance(exc, KeyboardInterrupt) and not isinstance(exc, AgentInterrupted):
        exc.localsweep_interrupted = _interrupted_runs(exc) + 1  # type: ignore[attr-defined]
    return exc


def _interrupted_runs(exc: BaseException) -> int:
    return int(getattr(exc, "localsweep_interrupted", 0))
