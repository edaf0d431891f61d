"""The agent: claim a run, execute it, record it, finish it; again until the sweep is done."""

from __future__ import annotations

import inspect
import logging
import os
import random
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from localsweep.config import SweepConfig
from localsweep.errors import AgentError
from localsweep.records import Proposal, RunState, RunView
from localsweep.search import Search, make_search
from localsweep.store import AgentInfo, ClaimOutcome, RunRecord, Store
from localsweep.agent._recorder import RunRecorder, RunStopped

__all__ = ["Agent", "AgentReport"]

logger = logging.getLogger(__name__)

HEARTBEAT_INTERVAL = 30.0
#: How long an agent with nothing to claim waits before asking again, while other agents'
#: runs are in flight and may still crash and give their grid point back.
WAIT_INTERVAL = 1.0


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
        function: Callable[..., Any],
        *,
        count: int | None = None,
        project: str | None = None,
        entity: str | None = None,
        max_consecutive_failures: int = 5,
        on_run_end: Callable[[RunRecord], None] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.store = store
        self.sweep = store.get_sweep(sweep_id)
        self.config: SweepConfig = self.sweep.config
        self.function = function
        self.count = count
        self.project = project or self.sweep.project or self.config.project
        self.entity = entity or self.sweep.entity or self.config.entity
        self.max_consecutive_failures = max_consecutive_failures
        self.on_run_end = on_run_end
        self._sleep = sleep
        self.info = AgentInfo.current()
        self.search: Search = make_search(self.config)
        self._takes_config = _takes_config(function)
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
        from localsweep.config import Method

        return self.config.method is not Method.RANDOM

    @property
    def _needs_history(self) -> bool:
        from localsweep.config import Method

        return self.config.method is Method.BAYES

    def _propose(self, runs: list[RunView], number: int) -> Proposal | None:
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
        config = dict(run.config)
        state = RunState.FINISHED
        error: str | None = None
        exit_code: int | None = 0
        band: int | None = None
        interrupted: BaseException | None = None
        try:
            if self._takes_config:
                result = self.function(config)
            else:
                from localsweep.wandb_bridge import WandbRunSession

                session = WandbRunSession(
                    sweep_id=self.sweep.id,
                    run_id=run.id,
                    config=config,
                    sink=recorder,
                    param_dir=wandb_root() / "wandb" / f"sweep-{self.sweep.id}",
                    project=self.project,
                    entity=self.entity,
                )
                with session:
                    result = self.function()
            recorder.record_return(result)
        except RunStopped as stop:
            state, band, exit_code = RunState.EARLY_TERMINATED, stop.band, stop.exit_code
        except KeyboardInterrupt as exc:
            state, exit_code, interrupted = RunState.KILLED, 255, exc
            error = "stopped by the user (Ctrl-C)"
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if code != 0:
                state, exit_code = RunState.FAILED, code
                error = f"the run called sys.exit({exc.code!r})"
        except Exception:
            state, exit_code = RunState.FAILED, 1
            error = traceback.format_exc()
            logger.warning("run %s failed:\n%s", run.id, error)

        finished = recorder.finished
        summary = recorder.summary()
        summary_metric = recorder.summary_metric(summary)
        best = recorder.best_value(summary_metric)
        metric = self.config.metric
        target_reached = (
            state is RunState.FINISHED
            and metric is not None
            and best is not None
            and metric.reaches_target(best)
        )
        self.store.finish_run(
            run.id,
            state,
            history=recorder.take_rows(),
            summary=summary,
            metric=summary_metric,
            exit_code=finished.exit_code if finished and finished.exit_code is not None
            else exit_code,
            error=error,
            name=finished.name if finished else None,
            stopped_at_band=band,
            target_reached=target_reached,
        )
        if finished is not None and finished.dir:
            self.store.set_run_files(run.id, dir=finished.dir)
        if interrupted is not None:
            raise interrupted
        return self.store.get_run(run.id)


@dataclass
class _Stopper:
    """Hyperband for one sweep, asked by a run's recorder at band boundaries."""

    config: SweepConfig
    store: Store
    sweep_id: str
    is_boundary: Callable[[int], bool]

    def for_run(self, run_id: str) -> Callable[[tuple[float, ...]], int | None]:
        from localsweep.stopping import hyperband_stops

        hb = self.config.early_terminate
        metric = self.config.metric
        assert hb is not None and metric is not None

        def should_stop(history: tuple[float, ...]) -> int | None:
            views = self.store.run_views(self.sweep_id, with_history=True)
            views = [replace(v, history=history) if v.id == run_id else v for v in views]
            for decision in hyperband_stops(hb, metric.goal, views):
                if decision.run_id == run_id:
                    return decision.band
            return None

        return should_stop


def _make_stopper(config: SweepConfig, store: Store, sweep_id: str) -> _Stopper | None:
    if config.early_terminate is None or config.metric is None:
        return None
    from localsweep.stopping import is_band_boundary

    hb = config.early_terminate
    return _Stopper(config, store, sweep_id, lambda iteration: is_band_boundary(hb, iteration))

