"""The process of one run of ``isolation="process"`` (see :mod:`localsweep.agent._isolated`):
it loads the function the way *spawn* sends it, runs it with the in-process machinery, and
reports to the agent in a JSON file how the run ended."""

from __future__ import annotations

import json
import logging
import math
import os
import pickle
import sys
from collections.abc import Callable, Mapping
from dataclasses import asdict, replace
from multiprocessing import spawn
from pathlib import Path
from typing import Any

from localsweep.agent import _isolated
from localsweep.agent._control import LEASE_LOST, STORE_ERROR
from localsweep.agent._disk import SETUP_ERROR
from localsweep.agent._inprocess import InProcessRunner
from localsweep.agent._isolated import _ChildReport, _UnguardedAgentCall
from localsweep.agent._recorder import RunRecorder
from localsweep.agent._scheduler import run_stopper
from localsweep.agent._sending import load_function
from localsweep.errors import LeaseLostError, StoreError
from localsweep.records import RunState
from localsweep.store import RunRecord, Store
from localsweep.store._tables import json_default

__all__ = ["child_main"]


def _json_default(value: Any) -> Any:
    """A value of the report as JSON takes it: a mapping as a dict, the rest by the
    store's rule for logged values."""
    if isinstance(value, Mapping):
        return dict(value)
    return json_default(value)


def child_main() -> None:
    """The entry point of a run's process: ``python -c ... <payload file>``."""
    with open(sys.argv[1], "rb") as f:
        payload = pickle.load(f)
    # Each line of a print reaches the agent as it is printed, as on a terminal: a pipe
    # would hold it back until 8 kB gathered or the run ended.
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(line_buffering=True)
    _isolated._bootstrapping = True
    try:
        spawn.prepare(payload["preparation"])
        function = load_function(payload["function_how"], payload["function"])
        if _isolated._unguarded:  # refused, and the script caught the error and went on
            raise _UnguardedAgentCall(_isolated._unguarded[0])
    except _UnguardedAgentCall as exc:
        # Said to the parent agent, which stops: no run of this sweep could start.
        _write_report(payload["result_path"], _not_started(str(exc), SETUP_ERROR))
        return
    finally:
        _isolated._bootstrapping = False
    try:
        report = _run_in_child(
            function,
            store_url=payload["store_url"],
            sweep_id=payload["sweep_id"],
            run=payload["run"],
            project=payload["project"],
            entity=payload["entity"],
            stderr_path=payload.get("stderr_path"),
        )
    except LeaseLostError:
        # Another agent took the run for dead: no error of the store's (the agent goes on).
        report = _not_started(
            "another agent took this run for dead (its heartbeat was late)", LEASE_LOST
        )
    except StoreError as exc:
        # The store's error, not the run's: the run is no result (its point goes back). The
        # agent's own connection may still work (a file made read-only keeps its open
        # connections writing): the report carries the error, for the agent to say and stop.
        report = _store_failed(exc)
    _write_report(payload["result_path"], report)


def _store_failed(exc: StoreError) -> _ChildReport:
    """The report of a run that the store's ``exc`` stopped in this process."""
    return _with_store_error(_not_started("", STORE_ERROR), exc)


def _with_store_error(report: _ChildReport, exc: StoreError) -> _ChildReport:
    """``report`` carrying the store's ``exc`` to the agent, which says it and stops."""
    return replace(
        report,
        error=f"the store failed in the run's process: {exc}",
        store_error=str(exc),
        store_error_type=type(exc).__name__,
    )


def _not_started(error: str, end_reason: str | None = None) -> _ChildReport:
    """The report of a run that ends killed, no result: its point goes back."""
    return _ChildReport(
        state=RunState.KILLED.value,
        exit_code=None,
        error=error,
        stopped_at_band=None,
        summary={},
        finished_exit_code=None,
        dir=None,
        name=None,
        metric_values=[],
        iterations=0,
        end_reason=end_reason,
    )


def _write_report(path: str, report: _ChildReport) -> None:
    result_path = Path(path)
    partial = result_path.with_name(result_path.name + ".partial")
    partial.write_text(json.dumps(asdict(report), default=_json_default), encoding="utf-8")
    os.replace(partial, result_path)


def _run_in_child(
    function: Callable[..., Any],
    *,
    store_url: str,
    sweep_id: str,
    run: RunRecord,
    project: str | None,
    entity: str | None,
    stderr_path: str | None = None,
) -> _ChildReport:
    store = Store(store_url, check=False)  # the agent checked the file when it opened it
    said = _Warnings()
    ours = logging.getLogger("localsweep")
    # Without a handler of the user's, Python prints warnings to stderr (shown by the agent,
    # kept in the run's .err file) through its last resort, which a handler here would
    # silence: keep it, but for what the agent says itself.
    kept: list[logging.Handler] = []
    if not ours.hasHandlers() and logging.lastResort is not None:
        kept.append(_ChildStderr(run.id, stderr_path))
    for handler in (said, *kept):
        ours.addHandler(handler)
    try:
        sweep = store.get_sweep(sweep_id)
        config = sweep.config
        stopper = run_stopper(config, store, sweep_id, sweep.config_dir)
        recorder = RunRecorder(
            store,
            run,
            config,
            is_boundary=stopper.is_boundary if stopper else None,
            should_stop=stopper.for_run(run.id) if stopper else None,
            early_stopping=config.options.early_stopping,
        )
        outcome = InProcessRunner(function, sweep_id, project, entity)(run, recorder)
        rows = recorder.take_rows()
        if recorder.control.reason is None:
            store.append_history(run, rows)
        finished = recorder.finished
        report = _ChildReport(
            state=outcome.state.value,
            exit_code=outcome.exit_code,
            error=outcome.error,
            stopped_at_band=outcome.stopped_at_band,
            summary=recorder.summary(),
            finished_exit_code=finished.exit_code if finished else outcome.exit_code,
            dir=finished.dir if finished else None,
            name=finished.name if finished else None,
            metric_values=[v if math.isfinite(v) else None for v in recorder.metric_values],
            iterations=recorder.iterations,
            # The training raised KeyboardInterrupt: the agent stops, as in-process.
            end_reason=outcome.end_reason
            or ("interrupted" if isinstance(outcome.interrupted, KeyboardInterrupt) else None),
            warnings=said.messages,
            traceback_shown=bool(finished and finished.traceback_printed),
        )
        control = recorder.control
        if control.reason == STORE_ERROR and control.error is not None:
            # Writing its rows failed here and the recorder stopped the run: the report
            # carries why, for the agent to say (its own connection may not fail).
            report = _with_store_error(report, control.error)
        return report
    finally:
        for handler in (said, *kept):
            ours.removeHandler(handler)
        store.close()


class _Warnings(logging.Handler):
    """localsweep's warnings about the run's use of wandb in a run's process, for its report
    to the parent (which says how the run ended itself, from the report)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if _about_wandb_use(record):
            self.messages.append(record.getMessage())


#: The loggers of the warnings a run's report carries, for the agent to say once per sweep:
#: about the run's use of wandb, and a plateau metric it never logged.
_REPORTED_LOGGERS = ("localsweep.wandb_bridge", "localsweep.agent._recorder_plateau")


def _about_wandb_use(record: logging.LogRecord) -> bool:
    """A warning of localsweep's about the run's use of wandb (or of its plateau metric):
    its report carries it."""
    return record.name.startswith(_REPORTED_LOGGERS) and record.exc_info is None


class _ChildStderr(logging.Handler):
    """Python's last resort in a run's process (localsweep's warnings on its stderr, which
    the agent shows and keeps in the run's ``.err`` file), but for what the agent says
    itself when the run ends, from the report: the warnings about the run's wandb use
    (once per sweep) and the run's failure with its traceback. Those go straight to the
    ``.err`` file at ``stderr_path``, kept there and shown once."""

    def __init__(self, run_id: str, stderr_path: str | None) -> None:
        super().__init__(logging.WARNING)
        self.stderr_path = stderr_path
        self._failed = f"run {run_id} failed:"

    def emit(self, record: logging.LogRecord) -> None:
        said_by_agent = _about_wandb_use(record) or record.getMessage().startswith(self._failed)
        if not said_by_agent or self.stderr_path is None:
            assert logging.lastResort is not None
            logging.lastResort.handle(record)
            return
        try:
            sys.stderr.flush()  # what the run wrote before it goes first
            with open(self.stderr_path, "a", encoding="utf-8") as err:
                err.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)
