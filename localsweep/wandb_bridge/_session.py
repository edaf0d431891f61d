"""One in-process wandb run of a sweep: hand it its parameters, watch what it logs, clean up.

This is the only module that touches wandb's private API for in-process runs; it is
tested against the wandb versions pinned in pyproject.toml (0.31). What it relies on:

- ``wandb.setup(wandb.Settings(sweep_id=..., run_id=..., sweep_param_path=...))``
  before each run. wandb reads its settings once per process, so changing
  environment variables between runs would silently reuse the first run's id.
- The setup singleton keeps the last sweep config (``_sweep_config``) and the
  settings; both are reset afterwards so a later plain ``wandb.init()`` in the user's
  process does not inherit the last run's id and parameters.
- ``Run._log`` sees every row, from ``wandb.log`` and ``run.log`` alike (wrapping
  the public ``Run.log`` after init would miss ``wandb.log``, which is bound at init).
- ``Run._finish`` is where every way of finishing ends (``run.finish()``,
  ``wandb.finish()``, leaving ``with wandb.init()``), so the summary is read there, and
  the exit code the run is finished with: the code wandb writes in the run's exit record
  (``None`` is written as 0: the run's own exit hooks are never installed in 0.31), non-zero
  for a run W&B shows as failed.
- ``wandb.init`` is looked up on the module at each call, so replacing the attribute for
  the length of a run lets that run's ``wandb.init(early_stopping_metric=..., ...)`` hand
  the arguments wandb does not know to the sink, and makes its ``mode="online"`` (which
  beats the offline mode of ``wandb.setup``) ``offline``. The original is put back when the run
  ends: outside a localsweep run, wandb's own ``TypeError`` for them stands.
- ``Run._metric_callback`` receives every ``define_metric`` as wandb's ``MetricRecord``
  (handed to the sink: the live summary and a resumed run's summary apply it), and
  ``Run._set_backend`` is called once per run right before ``wandb.init`` sends the Run
  record, so a resumed run is marked resumed there (see :mod:`._resume`), and given its
  step and earlier summary as it starts.
- ``Run._summary_update_callback`` receives every write of ``run.summary`` (wandb's
  ``SummaryRecord``: values by key path, and removals), handed to the sink so that the
  running run's summary in the store has them.
- ``Run.log`` takes no lock: training code may log from several threads at once (a GPU
  monitor beside the main loop). wandb-core numbers the rows in the order they reach it, so
  each run's ``_log`` and finish run under one lock of the run's: the sink sees the rows in
  the order wandb sent them, each with the step ``_local_step`` gave it. (Summary writes
  need none: a run that wrote to its summary has it read from wandb when it finishes.)
"""

from __future__ import annotations

import functools
import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

import yaml

from localsweep.errors import RunSetupError
from localsweep.wandb_bridge._init_routing import (
    _close_init,
    _open_init,
    forget_run_thread,
    in_run_thread,
    note_finished,
)
from localsweep.wandb_bridge._metric_summary import definition_of
from localsweep.wandb_bridge._one_run import claim_process, release_process
from localsweep.wandb_bridge._resume import resuming_set_backend
from localsweep.wandb_bridge._sink import (
    EARLY_STOPPING_ARGUMENTS,
    FinishedRun,
    LogSink,
    StopRun,
)

__all__ = [
    "DEFAULT_PROJECT",
    "EARLY_STOPPING_ARGUMENTS",
    "FinishedRun",
    "LogSink",
    "StopRun",
    "WandbRunSession",
    "install_hooks",
    "param_file_text",
]

logger = logging.getLogger(__name__)

#: The project of runs whose sweep names none: wandb's own default.
DEFAULT_PROJECT = "uncategorized"

# The settings a sweep run changes; each is put back afterwards.
_SETTING_NAMES = (
    "sweep_id",
    "run_id",
    "sweep_param_path",
    "project",
    "entity",
    "mode",
    "resume",
)

_sinks: dict[str, LogSink] = {}
#: Our runs whose summary is not just the last logged values (explicit summary writes,
#: define_metric), so it must be read from wandb when they finish.
_custom_summary: set[str] = set()
#: Our runs a sink stopped, by run id: the exit code to finish them with (ours, not the
#: training code's) when they are finished, as the training unwinds or its session ends.
_stopped: dict[str, int] = {}
#: Our runs whose ``with wandb.init()`` is being left with an exception (wandb prints it).
_raising: set[str] = set()
#: Our runs whose last ``log`` left its row open (``step=`` or ``commit=False``): wandb
#: adds that row to the summary only when it is committed.
_open_row: set[str] = set()
#: Each of our runs' last row as wandb serialized it for its run file (media as their
#: ``{"_type": ...}`` form, numpy values as plain numbers), taken in ``_log``.
_serialized: dict[str, dict[str, Any]] = {}
#: Our resumed runs' ``_step`` to go on from, and the summary their earlier attempts left
#: (the sink's ``resume_summary``), by run id (see :mod:`._resume`).
_resume_steps: dict[str, int] = {}
_resume_summaries: dict[str, Mapping[str, Any]] = {}
#: Each of our runs' lock, held around a ``log`` (wandb's own call and the sink's) and the
#: finish, so that rows logged from several threads reach the sink whole and in the order
#: wandb wrote them. Reentrant: a sink's stop finishes the run from inside ``_log``.
_run_locks: dict[str, threading.RLock] = {}
#: A stop a sink raised on a thread other than the training's (a monitor thread logging
#: GPU use), by run id: raised on the training's thread at its next log, or as the run's
#: session ends. Raised where it came up, it ended the monitor thread, and the training
#: failed on its next log to a run finished under it.
_pending_stops: dict[str, StopRun] = {}
_install_lock = threading.Lock()
_installed = False


def _wrap_history_serializer() -> None:
    """Keep, for our runs, the row wandb's ``publish_partial_history`` serializes: the
    values the run file gets, which program mode reads back from that file."""
    from wandb.sdk.interface import interface

    original = interface.history_dict_to_json

    @functools.wraps(original)
    def history_dict_to_json(run: Any, payload: Any, *args: Any, **kwargs: Any) -> Any:
        out = original(run, payload, *args, **kwargs)
        run_id = getattr(run, "id", None)
        if run_id in _sinks and isinstance(out, dict):
            # A copy: wandb goes on to pop _step and add _timestamp in place.
            _serialized[run_id] = {k: v for k, v in out.items() if k != "_step"}
        return out

    interface.history_dict_to_json = history_dict_to_json


def install_hooks() -> None:
    """Wrap ``Run._log`` and ``Run._finish`` once per process (idempotent).

    The wrappers cost a dict lookup for runs that are not ours.
    """
    global _installed
    with _install_lock:
        if _installed:
            return
        from wandb.sdk.wandb_run import Run

        original_log = Run._log
        _wrap_history_serializer()
        original_finish = Run._finish
        original_summary_update = Run._summary_update_callback
        original_define_metric = Run.define_metric
        original_metric_callback = Run._metric_callback

        @functools.wraps(original_summary_update)
        def _summary_update(self: Any, record: Any) -> Any:
            sink = _sinks.get(self.id) if _sinks else None
            if sink is None:
                return original_summary_update(self, record)
            _custom_summary.add(self.id)
            result = original_summary_update(self, record)
            sink.on_summary(*_summary_change(record))
            return result

        @functools.wraps(original_define_metric)
        def _define_metric(self: Any, *args: Any, **kwargs: Any) -> Any:
            if self.id in _sinks:
                _custom_summary.add(self.id)
            return original_define_metric(self, *args, **kwargs)

        @functools.wraps(original_metric_callback)
        def _metric_callback(self: Any, record: Any) -> Any:
            sink = _sinks.get(self.id) if _sinks else None
            definition = definition_of(record) if sink is not None else None
            if sink is not None and definition is not None:
                sink.on_define_metric(definition)
            return original_metric_callback(self, record)

        @functools.wraps(original_log)
        def _log(self: Any, data: Any, step: int | None = None, commit: bool | None = None) -> Any:
            lock = _run_locks.get(self.id) if _run_locks else None
            if lock is None:
                return original_log(self, data, step, commit)
            with lock:
                return _captured_log(self, data, step, commit)

        def _captured_log(self: Any, data: Any, step: int | None, commit: bool | None) -> Any:
            sink = _sinks.get(self.id)
            if sink is None:  # finished (by another thread) while this call waited: wandb
                return original_log(self, data, step, commit)  # writes no row either
            if self.id in _pending_stops and in_run_thread(self.id):
                _stop(self, _pending_stops.pop(self.id))
            # The row this call lands in, read before wandb advances it.
            before = self._local_step
            row_step = step if step is not None else before
            _serialized.pop(self.id, None)
            result = original_log(self, data, step, commit)
            # The row as wandb wrote it (a Histogram as its dict, not an object the store
            # could only keep as its repr); the user's data when wandb wrote none.
            data = _serialized.pop(self.id, data)
            if step is not None and step < before:
                # wandb drops a row for a step it has already committed (with a warning).
                return result
            # wandb's own rule (Run._log): the call commits its row, or leaves it open.
            committed = bool((step is None and commit is None) or commit)
            if committed:
                _open_row.discard(self.id)
            else:
                _open_row.add(self.id)
            try:
                sink.on_log(data, row_step, committed)
            except StopRun as stop:
                if not in_run_thread(self.id):
                    _pending_stops[self.id] = stop
                    return result
                _stop(self, stop)
            return result

        def _stop(self: Any, stop: StopRun) -> NoReturn:
            # The run is finished once the training has unwound (its `with wandb.init()`,
            # its own finish in a `finally`, or the session's end), as wandb's agent
            # finishes a function it stopped: a monitor thread logs to a live run until the
            # training's `finally` stops it. Finished then as stopped, with our exit code.
            _stopped[self.id] = stop.exit_code
            raise stop

        @functools.wraps(original_finish)
        def _finish(self: Any, exit_code: int | None = None) -> Any:
            lock = _run_locks.get(self.id) if _run_locks else None
            if lock is None:
                return original_finish(self, exit_code)
            # Held until wandb has written the exit record: a log from another thread
            # lands before the finish (in the file and the sink) or after it (in neither).
            with lock:
                if self.id in _stopped:  # a sink stopped it: our exit code, not the code's
                    exit_code = _stopped[self.id]
                sink = _sinks.pop(self.id, None)
                if sink is not None and not self._is_finished:
                    note_finished(sink, self.id)
                    sink.on_finish(_finished_run(self, exit_code, stopped=self.id in _stopped))
                return original_finish(self, exit_code)

        original_mark_preempting = Run.mark_preempting

        @functools.wraps(original_mark_preempting)
        def _mark_preempting(self: Any) -> Any:
            sink = _sinks.get(self.id) if _sinks else None
            if sink is not None:
                sink.on_preempting()
            return original_mark_preempting(self)

        original_exit = Run.__exit__

        @functools.wraps(original_exit)
        def _exit(self: Any, exc_type: Any, exc: Any, tb: Any) -> Any:
            # Leaving `with wandb.init()` prints any exception's traceback; an early stop is
            # no error (the finish takes the stop's exit code).
            if exc_type is not None and issubclass(exc_type, StopRun):
                if self.id in _sinks:
                    # Raised where the sink did not see it (the agent's SIGTERM or SIGHUP
                    # handler, in the middle of the code): stopped all the same, with the
                    # stop's exit code in wandb's file, not the 0 of a finished run.
                    _stopped.setdefault(self.id, getattr(exc, "exit_code", StopRun.exit_code))
                return original_exit(self, None, None, None)
            if exc_type is None or self.id not in _sinks:
                return original_exit(self, exc_type, exc, tb)
            _raising.add(self.id)
            try:
                return original_exit(self, exc_type, exc, tb)
            finally:
                _raising.discard(self.id)

        Run._summary_update_callback = _summary_update  # type: ignore[method-assign,assignment]
        Run.define_metric = _define_metric  # type: ignore[method-assign]
        Run._metric_callback = _metric_callback  # type: ignore[method-assign,assignment]
        resuming = resuming_set_backend(Run._set_backend, _resume_steps.get, _resume_summaries.get)
        Run._set_backend = resuming  # type: ignore[method-assign]
        Run._log = _log  # type: ignore[method-assign]
        Run._finish = _finish  # type: ignore[method-assign]
        Run.__exit__ = _exit  # type: ignore[method-assign]
        Run.mark_preempting = _mark_preempting  # type: ignore[method-assign]
        _installed = True


def _summary_change(record: Any) -> tuple[dict[tuple[str, ...], Any], list[tuple[str, ...]]]:
    """What a wandb ``SummaryRecord`` (of ``run.summary``) sets, by path, and removes."""

    def path(item: Any) -> tuple[str, ...]:
        return tuple(item.key) if isinstance(item.key, (tuple, list)) else (item.key,)

    return {path(item): item.value for item in record.update}, [path(i) for i in record.remove]


def _finished_run(run: Any, exit_code: int | None, *, stopped: bool = False) -> FinishedRun:
    # wandb's default summary is each key's last logged value, which the sink has seen;
    # asking wandb for it costs a round trip to its service (~3 ms), so only runs that
    # wrote to their summary or changed its rules (define_metric) pay for it.
    summary: dict[str, Any] = {}
    open_row = run.id in _open_row
    _open_row.discard(run.id)
    if run.id in _custom_summary:
        _custom_summary.discard(run.id)
        try:
            if open_row:
                # Commit the open row first, as wandb's finish would: the summary holds
                # only committed rows, and the last one may be the run's best. (A commit
                # with no row open would write an empty row, hence the bookkeeping.)
                run._partial_history_callback({}, None, True)
            summary = dict(run.summary)
        except Exception:  # a broken summary must not keep the run from finishing
            logger.exception("could not read the summary of run %s", run.id)
    try:
        run_dir: str | None = str(Path(run.dir).parent)
    except Exception:
        run_dir = None
    return FinishedRun(
        summary=summary,
        exit_code=exit_code,
        dir=run_dir,
        name=run.name,
        stopped=stopped,
        traceback_printed=run.id in _raising,
    )


def _exit_code(exc_type: Any, exc: Any) -> int:
    """The exit code a run that ended this way gets in its wandb file (and so on W&B)."""
    if exc_type is None:
        return 0
    if issubclass(exc_type, SystemExit):
        code = exc.code
        if code is None:
            return 0
        return code if isinstance(code, int) else 1
    if issubclass(exc_type, KeyboardInterrupt):
        return 255  # what wandb writes for a run ended by SIGINT
    return 1


def param_file_text(config: Mapping[str, Any]) -> str:
    """The YAML wandb's agent hands ``wandb.init`` through ``WANDB_SWEEP_PARAM_PATH``:
    ``wandb_version: 1``, then each top-level parameter as ``name: {value: ...}``."""
    doc: dict[str, Any] = {"wandb_version": 1}
    for key, value in config.items():
        doc[key] = {"value": value}
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=False)


class WandbRunSession:
    """Prepares wandb so that the user's next ``wandb.init()`` becomes this sweep run.

    Use as a context manager around the user's function::

        with WandbRunSession(sweep_id=..., run_id=..., config=..., sink=...) as session:
            train()
    """

    def __init__(
        self,
        *,
        sweep_id: str,
        run_id: str,
        config: Mapping[str, Any],
        sink: LogSink,
        param_dir: str | os.PathLike[str],
        project: str | None = None,
        entity: str | None = None,
        resume: bool = False,
        resume_step: int | None = None,
    ):
        self.sweep_id = sweep_id
        self.resume = resume
        self.resume_step = resume_step
        self.run_id = run_id
        self.config = config
        self.sink = sink
        self.param_path = Path(param_dir) / f"config-{run_id}.yaml"
        self.project = project
        self.entity = entity
        self._saved: dict[str, Any] = {}
        self._routing_init = False

    def __enter__(self) -> WandbRunSession:
        claim_process(self.run_id, self.sweep_id)
        try:
            self._enter()
        except BaseException:
            release_process(self.run_id)
            raise
        return self

    def _enter(self) -> None:
        import wandb
        from wandb.sdk import wandb_setup

        install_hooks()
        with RunSetupError.guard(self.param_path, self.run_id):
            self.param_path.parent.mkdir(parents=True, exist_ok=True)
            self.param_path.write_text(param_file_text(self.config), encoding="utf-8")

        current = wandb_setup.singleton().settings
        self._saved = {name: getattr(current, name, None) for name in _SETTING_NAMES}
        settings: dict[str, Any] = {
            "sweep_id": self.sweep_id,
            "run_id": self.run_id,
            "sweep_param_path": str(self.param_path),
            # Without a project wandb files the run under "uncategorized".
            "project": self.project or current.project or DEFAULT_PROJECT,
            "mode": "offline",
        }
        if self.entity:
            settings["entity"] = self.entity
        if self.resume:
            # A requeued (preempted) run: wandb.init resumes the run of this id, and goes
            # on from its last step, as W&B's resume does.
            settings["resume"] = "allow"
            if self.resume_step is not None:
                _resume_steps[self.run_id] = self.resume_step
                _resume_summaries[self.run_id] = getattr(self.sink, "resume_summary", {})
        _run_locks[self.run_id] = threading.RLock()
        _sinks[self.run_id] = self.sink
        # Settings only: wandb.init starts the service, outside wandb's singleton lock.
        # wandb.setup() starts it under that lock, and when wandb-core cannot start (a
        # memory limit: ulimit -v, SGE's h_vmem) wandb 0.31 takes the lock again on its
        # error path and hangs for good, where wandb.init raises ServicePollForTokenError.
        wandb_setup._setup(settings=wandb.Settings(**settings), start_service=False)
        _open_init(self.sink, self.sweep_id)
        self._routing_init = True

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        stop = _pending_stops.pop(self.run_id, None)
        if stop is None or exc_type is not None:
            self.close(exit_code=_exit_code(exc_type, exc))
            return
        # Stopped on another thread, and the training's own logged no more: the run ends
        # as stopped all the same.
        _stopped[self.run_id] = stop.exit_code
        self.close(exit_code=stop.exit_code)
        raise stop

    def close(self, exit_code: int) -> None:
        """Finish the run if the user's code left it open, then restore wandb's settings."""
        import wandb
        from wandb.sdk import wandb_setup

        try:
            run = wandb.run
            if run is not None and run.id == self.run_id:
                run.finish(exit_code=exit_code)
        finally:
            release_process(self.run_id)
            _sinks.pop(self.run_id, None)
            _run_locks.pop(self.run_id, None)
            _pending_stops.pop(self.run_id, None)
            _stopped.pop(self.run_id, None)
            forget_run_thread(self.run_id)
            _resume_steps.pop(self.run_id, None)
            _resume_summaries.pop(self.run_id, None)
            if self._routing_init:
                _close_init()
                self._routing_init = False
            setup = wandb_setup.singleton()
            settings = setup.settings
            for name, value in self._saved.items():
                try:
                    setattr(settings, name, value)
                except Exception:  # a setting wandb validates may refuse None; clear what we can
                    logger.debug("could not restore wandb setting %s", name, exc_info=True)
            setup._sweep_config = None
