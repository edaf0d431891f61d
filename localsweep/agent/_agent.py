"""The agent: claim a run, execute it, record it, finish it; again until the sweep is done."""

from __future__ import annotations

import inspect
import logging
import os
import random
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from localsweep.agent._recorder import RunRecorder, RunStopped
from localsweep.config import Method, SweepConfig
from localsweep.errors import AgentError
from localsweep.records import Proposal, RunState, RunView
from localsweep.search import Search, make_search
from localsweep.store import AgentInfo, ClaimOutcome, RunRecord, Store
from localsweep.wandb_bridge import FinishedRun

__all__ = ["Agent", "AgentReport", "InProcessRunner", "RunOutcome", "Runner"]

logger = logging.getLogger(__name__)

HEARTBEAT_INTERVAL = 30.0
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
    #: What wandb reported as the run finished (summary, offline folder, name), if known.
    finished: FinishedRun | None = None
    stdout_path: str | None = None
    stderr_path: str | None = None
    #: A Ctrl-C to re-raise after the run is recorded, so the agent stops.
    interrupted: BaseException | None = None


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

    def count(self, run: RunRecord) -> None:
        self.runs.append(run.id)
        self.states[run.state.value] = self.states.get(run.state.value, 0) + 1


def wandb_root() -> Path:
    """Where wandb puts its ``wandb/`` folder: ``WANDB_DIR`` or the working directory."""
    return Path(os.environ.get("WANDB_DIR") or os.getcwd())


def run_rng(seed: int, number: int) -> random.Random:
    """The random stream of run ``number``: fixed by the sweep's seed, whoever runs it."""
    return random.Random(f"localsweep:{seed}:{number}")


def _takes_config(function: Callable[..., Any]) -> bool:
    """Whether ``function`` wants the config passed in (``train(config)``) rather than
    reading ``wandb.config`` itself (``train()``)."""
    try:
        params = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(
        p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
        for p in params
    )


class _Heartbeat(threading.Thread):
    def __init__(self, store: Store, interval: float):
        super().__init__(name="localsweep-heartbeat", daemon=True)
        self.store = store
        self.interval = interval
        self.run_ids: set[str] = set()
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            try:
                self.store.heartbeat(sorted(self.run_ids))
            except Exception:  # a missed beat is harmless; a dead thread is not
                logger.warning("heartbeat failed", exc_info=True)

    def stop(self) -> None:
        self._stop_event.set()


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
        on_run_start: Callable[[RunRecord], None] | None = None,
    ):
        self.store = store
        self.sweep = store.get_sweep(sweep_id)
        self.config: SweepConfig = self.sweep.config
        if function is None and runner is None:
            raise ValueError("an agent needs a function to call or a runner")
        self.count = count
        self.project = project or self.sweep.project or self.config.project
        self.entity = entity or self.sweep.entity or self.config.entity
        self.max_consecutive_failures = max_consecutive_failures
        self.on_run_end = on_run_end
        self.on_run_start = on_run_start
        self._sleep = sleep
        self.info = AgentInfo.current()
        self.search: Search = make_search(self.config)
        reason = getattr(self.search, "reason", None)
        if reason:
            logger.info("sweep %s: %s", sweep_id, reason)
        if runner is None:
            assert function is not None
            runner = InProcessRunner(function, sweep_id, self.project, self.entity)
        self.runner: Runner = runner
        self._stopper = _make_stopper(self.config, store, sweep_id)

    # ---------------------------------------------------------------------------------

    def run(self) -> AgentReport:
        report = AgentReport()
        heartbeat = _Heartbeat(self.store, HEARTBEAT_INTERVAL)
        heartbeat.start()
        failures_in_a_row = 0
        try:
            while self.count is None or len(report.runs) < self.count:
                claim = self.store.claim_run(
                    self.sweep.id,
                    self.info,
                    self._propose,
                    needs_runs=self._needs_runs,
                    needs_history=self._needs_history,
                    nest=self.config.nest,
                )
                if claim.outcome is ClaimOutcome.WAIT:
                    self._sleep(WAIT_INTERVAL)
                    continue
                if claim.run is None:
                    report.stop_reason = claim.outcome.value
                    break
                heartbeat.run_ids.add(claim.run.id)
                if self.on_run_start is not None:
                    self.on_run_start(claim.run)
                try:
                    record = self._execute(claim.run)
                finally:
                    heartbeat.run_ids.discard(claim.run.id)
                report.count(record)
                if self.on_run_end is not None:
                    self.on_run_end(record)
                if record.state is RunState.FAILED:
                    failures_in_a_row += 1
                    if failures_in_a_row >= self.max_consecutive_failures:
                        report.stop_reason = "too_many_failures"
                        raise AgentError(
                            f"{failures_in_a_row} runs in a row failed; the agent stops. "
                            f"Last error (run {record.id}):\n{record.error or ''}".rstrip()
                        )
                else:
                    failures_in_a_row = 0
            else:
                report.stop_reason = "count"
        finally:
            heartbeat.stop()
        return report

    @property
    def _needs_runs(self) -> bool:
        # Random search draws without looking at earlier runs: its claims skip reading them.
        return self.config.method is not Method.RANDOM

    @property
    def _needs_history(self) -> bool:
        return self.config.method is Method.BAYES

    def _propose(self, runs: Sequence[RunView], number: int) -> Proposal | None:
        return self.search.propose(runs, run_rng(self.sweep.seed, number))

    # ---------------------------------------------------------------------------------

    def _execute(self, run: RunRecord) -> RunRecord:
        recorder = RunRecorder(
            self.store,
            run.id,
            self.config,
            is_boundary=self._stopper.is_boundary if self._stopper else None,
            should_stop=self._stopper.for_run(run.id) if self._stopper else None,
        )
        outcome = self.runner(run, recorder)
        finished = outcome.finished or recorder.finished
        if finished is not None and recorder.finished is None:
            recorder.on_finish(finished)
        summary = recorder.summary()
        summary_metric = recorder.summary_metric(summary)
        best = recorder.best_value(summary_metric)
        metric = self.config.metric
        target_reached = (
            outcome.state is RunState.FINISHED
            and metric is not None
            and best is not None
            and metric.reaches_target(best)
        )
        exit_code = outcome.exit_code
        if exit_code is None and finished is not None:
            exit_code = finished.exit_code
        record = self.store.finish_run(
            run,
            outcome.state,
            history=recorder.take_rows(),
            summary=summary,
            metric=summary_metric,
            exit_code=exit_code,
            error=outcome.error,
            name=finished.name if finished else None,
            stopped_at_band=outcome.stopped_at_band,
            end_reason="hyperband" if outcome.stopped_at_band is not None else None,
            target_reached=target_reached,
            dir=finished.dir if finished else None,
            stdout_path=outcome.stdout_path,
            stderr_path=outcome.stderr_path,
        )
        if outcome.interrupted is not None:
            raise outcome.interrupted
        return record


@dataclass
class InProcessRunner:
    """Runs the user's Python function in this process, on this thread."""

    function: Callable[..., Any]
    sweep_id: str
    project: str | None
    entity: str | None

    def __post_init__(self) -> None:
        self._takes_config = _takes_config(self.function)

    def __call__(self, run: RunRecord, recorder: RunRecorder) -> RunOutcome:
        config = dict(run.config)
        try:
            if self._takes_config:
                result = self.function(config)
            else:
                from localsweep.wandb_bridge import WandbRunSession

                session = WandbRunSession(
                    sweep_id=self.sweep_id,
                    run_id=run.id,
                    config=config,
                    sink=recorder,
                    param_dir=wandb_root() / "wandb" / f"sweep-{self.sweep_id}",
                    project=self.project,
                    entity=self.entity,
                )
                with session:
                    result = self.function()
            recorder.record_return(result)
        except RunStopped as stop:
            return RunOutcome(
                RunState.EARLY_TERMINATED, exit_code=stop.exit_code, stopped_at_band=stop.band
            )
        except KeyboardInterrupt as exc:
            return RunOutcome(
                RunState.KILLED,
                exit_code=255,
                error="stopped by the user (Ctrl-C)",
                interrupted=exc,
            )
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if code != 0:
                return RunOutcome(
                    RunState.FAILED, exit_code=code, error=f"the run called sys.exit({exc.code!r})"
                )
        except Exception:
            error = traceback.format_exc()
            # wandb prints the traceback when it leaves `with wandb.init()` (the run is then
            # finished already); otherwise it is said here, so it is shown exactly once.
            log = logger.debug if recorder.finished is not None else logger.warning
            log("run %s failed:\n%s", run.id, error)
            return RunOutcome(RunState.FAILED, exit_code=1, error=error)
        return RunOutcome(RunState.FINISHED, exit_code=0)


@dataclass
class _Stopper:
    """Hyperband for one sweep, asked by a run's recorder at band boundaries."""

    config: SweepConfig
    store: Store
    sweep_id: str
    is_boundary: Callable[[int], bool]
    #: The runs as last read; ended runs are not read again (their history is final).
    _known: dict[str, RunView] = field(default_factory=dict)

    def for_run(self, run_id: str) -> Callable[[tuple[float, ...]], int | None]:
        from localsweep.stopping import hyperband_stops

        hb = self.config.early_terminate
        metric = self.config.metric
        assert hb is not None and metric is not None

        def should_stop(history: tuple[float, ...]) -> int | None:
            views = self.store.metric_views(self.sweep_id, self._known)
            self._known = {v.id: v for v in views}
            views = [replace(v, history=history) if v.id == run_id else v for v in views]
            own: int | None = None
            others = []
            for decision in hyperband_stops(hb, metric.goal, views):
                if decision.run_id == run_id:
                    own = decision.band
                else:
                    others.append((decision.run_id, decision.band))
            # wandb's controller judges every running run each time; the other runs hear of
            # their stop at their next flush.
            self.store.request_stops(others)
            return own

        return should_stop


def _make_stopper(config: SweepConfig, store: Store, sweep_id: str) -> _Stopper | None:
    if config.early_terminate is None or config.metric is None:
        return None
    from localsweep.stopping import is_band_boundary

    hb = config.early_terminate
    return _Stopper(config, store, sweep_id, lambda iteration: is_band_boundary(hb, iteration))
