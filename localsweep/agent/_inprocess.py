"""The user's Python function run in the agent's process: ``train()`` inside a wandb run
that localsweep set up, or ``train(config)`` returning its metrics; how it ended becomes
the run's outcome (a Ctrl-C, ``sys.exit``, a raised error, hyperband's stop, a wandb run
the code finished with a non-zero exit code)."""

from __future__ import annotations

import inspect
import logging
import os
import reprlib
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from localsweep import _interrupt
from localsweep._agent_options import folder_gone
from localsweep.agent._agent import RunOutcome, aborted_outcome, wandb_root
from localsweep.agent._control import PREEMPTED
from localsweep.agent._recorder import RunAborted, RunRecorder, RunStopped
from localsweep.agent._wandb_exit import marked_failed
from localsweep.errors import RunSetupError
from localsweep.records import RunState
from localsweep.store import RunRecord

__all__ = ["InProcessRunner"]

logger = logging.getLogger(__name__)


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


def _name(function: Callable[..., Any]) -> str:
    return getattr(function, "__name__", "train")


@dataclass
class InProcessRunner:
    """Runs the user's Python function in this process, on this thread."""

    function: Callable[..., Any]
    sweep_id: str
    project: str | None
    entity: str | None

    def __post_init__(self) -> None:
        self._takes_config = _takes_config(self.function)
        self._init_said = False
        self._return_said = False

    def _ignore_return(self, result: Any) -> None:
        if result is None or self._return_said:
            return
        self._return_said = True
        logger.warning(
            "%s() returned %s, which is not recorded: a function that runs wandb is "
            "judged by what its wandb run logged, and wandb.agent ignores the return value. "
            "Log it instead (run.log({...}) before the run ends), or write %s(config) "
            "returning the metrics, without wandb",
            _name(self.function),
            reprlib.repr(result),
            _name(self.function),
        )

    def __call__(self, run: RunRecord, recorder: RunRecorder) -> RunOutcome:
        with _same_folder(run.id) as folder:
            return self._run(run, recorder, folder)

    def _run(self, run: RunRecord, recorder: RunRecorder, folder: str) -> RunOutcome:
        """Run ``run`` in the agent's working folder ``folder``."""
        config = dict(run.config)
        try:
            if self._takes_config:
                with _interrupt.deferred():  # see localsweep._interrupt.deferred
                    from localsweep.wandb_bridge import InitWatch

                with InitWatch(self.sweep_id) as watch, _user_code(recorder):
                    result = self.function(config)
                if watch.called and not self._init_said:
                    self._init_said = True
                    logger.warning(
                        "%s(config) called wandb.init(): a function that takes the config "
                        "gets no wandb run of the sweep, so that run is outside the sweep "
                        "and what it logs is not recorded. Read the config from wandb "
                        "instead: def %s(): with wandb.init() as run: ... run.config[...]",
                        _name(self.function),
                        _name(self.function),
                    )
            else:
                with _interrupt.deferred():
                    from localsweep.wandb_bridge import WandbRunSession

                session = WandbRunSession(
                    sweep_id=self.sweep_id,
                    run_id=run.id,
                    config=config,
                    sink=recorder,
                    param_dir=wandb_root() / "wandb" / f"sweep-{self.sweep_id}",
                    project=self.project,
                    entity=self.entity,
                    resume=getattr(run, "attempt", 1) > 1,
                    resume_step=recorder.resume_step,
                )
                with session, _user_code(recorder):
                    result = self.function()
                if recorder.finished is not None:
                    # wandb code: its run holds the results, and wandb.agent ignores what
                    # the function returns; taking it would make a best run that W&B, after
                    # the sync, does not show.
                    self._ignore_return(result)
                    result = None
            recorder.record_return(result)
            if recorder.preempting and recorder.finished and recorder.finished.exit_code:
                return RunOutcome(
                    RunState.PREEMPTED, exit_code=recorder.finished.exit_code, end_reason=PREEMPTED
                )
        except RunStopped as stop:
            return RunOutcome(
                RunState.EARLY_TERMINATED,
                exit_code=stop.exit_code,
                stopped_at_band=stop.band,
                end_reason=stop.reason,
            )
        except RunAborted as abort:
            return aborted_outcome(abort.reason, exit_code=abort.exit_code)
        except KeyboardInterrupt as exc:
            return RunOutcome(
                RunState.KILLED,
                exit_code=255,
                error="stopped by the user (Ctrl-C)",
                interrupted=exc,
            )
        except RunSetupError:
            raise  # localsweep's own failure before the run's code started: the agent's
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            if code != 0 and recorder.preempting:
                return RunOutcome(RunState.PREEMPTED, exit_code=code, end_reason=PREEMPTED)
            if code != 0 and _interrupt.pending():
                # The code caught the Ctrl-C and exited on it, as PyTorch Lightning's
                # Trainer.fit does ("Detected KeyboardInterrupt, attempting graceful
                # shutdown ...", then sys.exit(1)): interrupted, not failed.
                return RunOutcome(
                    RunState.KILLED,
                    exit_code=code,
                    error="stopped by the user (Ctrl-C)",
                    interrupted=KeyboardInterrupt(),
                )
            if code != 0:
                return RunOutcome(
                    RunState.FAILED, exit_code=code, error=f"the run called sys.exit({exc.code!r})"
                )
        except Exception:
            error = traceback.format_exc()
            if recorder.preempting:
                logger.warning("run %s was preempting and raised:\n%s", run.id, error)
                return RunOutcome(RunState.PREEMPTED, exit_code=1, end_reason=PREEMPTED)
            if _interrupt.pending():
                # The code took the Ctrl-C (its own SIGINT handler, or an except) and then
                # raised: interrupted, as a run's process that ends so after a Ctrl-C.
                logger.debug("run %s raised after a Ctrl-C:\n%s", run.id, error)
                return RunOutcome(
                    RunState.KILLED,
                    exit_code=1,
                    error="stopped by the user (Ctrl-C)",
                    interrupted=KeyboardInterrupt(),
                )
            # wandb prints the traceback when it leaves `with wandb.init()`; otherwise (a
            # plain `wandb.init()`, no wandb) it is said here, so it is shown exactly once.
            shown = recorder.finished is not None and recorder.finished.traceback_printed
            # Failed for want of the agent's deleted working folder (wandb.finish asks for
            # it): the agent says so in one message, which the traceback would only bury.
            # (Its own folder: the code may have gone to one it then deleted, its failure.)
            shown = shown or not os.path.isdir(folder)
            log = logger.debug if shown else logger.warning
            log("run %s failed:\n%s", run.id, error)
            return RunOutcome(RunState.FAILED, exit_code=1, error=error)
        # Returned (or sys.exit(0)): finished, unless the code marked its wandb run failed.
        failed = marked_failed(recorder.finished, preempting=recorder.preempting)
        if failed is not None:
            logger.debug("run %s: %s", run.id, failed.error)
            return failed
        return RunOutcome(RunState.FINISHED, exit_code=0)


@contextmanager
def _user_code(recorder: RunRecorder) -> Iterator[None]:
    """Mark the run's code as running on this thread: SIGTERM or SIGHUP then stops it at
    once (when this is the main thread, where signal handlers run) rather than at its next
    log. A SIGINT handler the code installs is taken back when it ends, and a Ctrl-C it
    took still stops the agent (:func:`localsweep._interrupt.handed_back`)."""
    control = recorder.control
    control.in_user_code = threading.current_thread() is threading.main_thread()
    try:
        with _interrupt.handed_back():
            yield
    finally:
        control.in_user_code = False


@contextmanager
def _same_folder(run_id: str) -> Iterator[str]:
    """Go back to the agent's working directory after a run whose code changed it
    (``os.chdir``): the next runs' files (their parameter file, a relative ``WANDB_DIR``)
    are where they would be without that run, as with a run in a process of its own."""
    try:
        here = os.getcwd()
    except FileNotFoundError:
        # The folder was deleted under the agent: a message naming it and the fix, and the
        # run recorded killed (not counted, its point offered again), not a traceback.
        gone = folder_gone(run_id)
        if gone is None:  # there again (made anew) already
            raise
        raise gone from None
    try:
        yield here
    finally:
        try:
            os.chdir(here)
        except OSError as exc:
            # Deleted (the run's end says so, and the agent stops: folder_gone), or no
            # longer ours to enter.
            log = logger.debug if isinstance(exc, FileNotFoundError) else logger.warning
            log("after run %s, could not go back to the folder %s: %s", run_id, here, exc)
