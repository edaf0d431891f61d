"""``isolation="process"``: each run of a Python function in a fresh Python process.

For training code that leaks memory or GPU state from one run to the next. The child runs
the same in-process machinery as ``isolation="thread"`` (:class:`InProcessRunner`, a
:class:`RunRecorder` writing to the store, hyperband), so metrics, early termination and the
wandb session behave exactly as in-process; it reports how the run ended in a small JSON
file. The parent only watches: the child's exit, the run's ``timeout`` and Ctrl-C, with
the same signal escalation as program mode, and records the run itself when the child dies
without reporting it.

The function reaches the child the way ``multiprocessing``'s *spawn* start method sends it:
pickled by reference (module and name), after the child has re-imported the parent's main
module as ``__mp_main__`` (so a ``train`` defined in the script that calls
``localsweep.agent`` works, provided that call sits under ``if __name__ == "__main__":``).
A function that cannot be imported that way (a closure, a lambda, a function typed into a
notebook) is sent by value with ``cloudpickle`` when it is installed, and refused with an
explanation otherwise. The child is started with :class:`subprocess.Popen` rather than
``multiprocessing.Process`` so that it gets its own session (stopping it reaches its data
loader workers too), its own environment (``CUDA_VISIBLE_DEVICES``, no inherited
``WANDB_SERVICE``) and files for its output, like a program-mode run.

Its output (the function's prints, wandb's lines) reaches the agent's stdout and stderr as
it comes, as ``wandb.agent`` leaves a function's prints on the terminal, and is kept in the
run's ``.out`` and ``.err`` files: the same :class:`OutputTee` as program mode's, each line
prefixed with the run id when several workers interleave. What the agent says itself once
the run ends (localsweep's warnings about the run's wandb use, a failure's traceback) the
child writes to its ``.err`` file only, so that it is shown once.
"""

from __future__ import annotations

import json
import logging
import math
import os
import pickle
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from multiprocessing import spawn
from pathlib import Path
from typing import Any

from localsweep import errors
from localsweep._agent_options import folder_gone
from localsweep.agent._agent import (
    RunOutcome,
    aborted_outcome,
    wandb_root,
)
from localsweep.agent._child_watch import RunFileReader
from localsweep.agent._command import sweep_dir_for
from localsweep.agent._control import STORE_ERROR, TIMED_OUT
from localsweep.agent._defaults import DEFAULT_GRACE_PERIOD
from localsweep.agent._disk import SETUP_ERROR
from localsweep.agent._isolated_report import _ChildReport
from localsweep.agent._output import OutputTee, this_attempt
from localsweep.agent._process import (
    POLL_INTERVAL,
    ProcessWatch,
    StopReason,
    describe_exit,
    exit_status,
    stderr_tail,
    with_tail,
)
from localsweep.agent._recorder import RunRecorder
from localsweep.agent._sending import pickle_function
from localsweep.errors import AgentError, RunSetupError, StoreError
from localsweep.records import RunState
from localsweep.store import RunRecord
from localsweep.wandb_bridge import FinishedRun

__all__ = ["IsolatedFunctionRunner"]

logger = logging.getLogger(__name__)

# True while a child re-imports the parent's main module: a script that starts an agent at
# import time (no ``if __name__ == "__main__":``) would otherwise start children forever.
_bootstrapping = False

# A Ctrl-C that stops the child before the user's function runs (while it imports
# localsweep, wandb or the user's module) is no error of anyone's: the child ends as a
# process killed by SIGINT does (exit status 130), without a traceback of our imports. The
# function's own Ctrl-C is caught around it (InProcessRunner). No import of localsweep here:
# that is what may be interrupted.
_CHILD_CODE = """\
import os, signal, sys
try:
    from localsweep.agent._isolated_child import child_main
    child_main()
except KeyboardInterrupt:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGINT)
    sys.exit(130)
"""


class _UnguardedAgentCall(AgentError):
    """``localsweep.agent``/``run`` was called as a run's process imported the script."""


#: What a run's process that is importing the script was refused (kept: the script may
#: catch the error and go on, and the run must still not start).
_unguarded: list[str] = []


def unguarded_call(call: str) -> _UnguardedAgentCall:
    """The error for ``call`` made while a run's process imports the user's script."""
    message = (
        f"{call} was called while a run's process (isolation='process') was importing your "
        "script: put the script's calls under `if __name__ == '__main__':` so that importing "
        "the script does not start sweeps and agents of its own"
    )
    _unguarded.append(message)
    return _UnguardedAgentCall(message)


# ------------------------------------------------------------------------------ parent


@dataclass
class IsolatedFunctionRunner:
    """Runs a Python training function in a fresh process for each run (a :class:`Runner`).

    ``store_url`` is the sweep's database (the child opens its own connection to write the
    run's rows; an in-memory database cannot be shared). ``timeout``, ``grace_period``,
    ``env`` and ``stop_event`` mean what they mean for
    :class:`~localsweep.agent._subprocess.ProgramRunner`. The function's output goes to
    ``<WANDB_DIR>/wandb/sweep-<id>/<run id>.out`` and ``.err`` and, with ``echo_output``
    (as ``wandb.agent`` leaves it on the terminal), to this process's stdout and stderr as
    it comes, each line prefixed with the run id when ``prefix_output``: as
    :class:`~localsweep.agent._subprocess.ProgramRunner`'s.
    """

    function: Callable[..., Any]
    store_url: str
    sweep_id: str
    project: str | None = None
    entity: str | None = None
    timeout: float | None = None
    grace_period: float = DEFAULT_GRACE_PERIOD
    env: Mapping[str, str] = field(default_factory=dict)
    stop_event: threading.Event | None = None
    poll_interval: float = POLL_INTERVAL
    echo_output: bool = True
    prefix_output: bool = False
    #: The children's warnings said so far (a once-per-sweep warning comes from every child).
    _said: set[str] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        if _bootstrapping:
            raise unguarded_call("localsweep.agent(..., isolation='process')")
        if _in_memory(self.store_url):
            raise AgentError(
                "isolation='process' needs a database the run's process can open too; "
                f"{self.store_url} is in memory. Use a file (db='sweeps.db')."
            )
        self._function = pickle_function(self.function)

    def __call__(self, run: RunRecord, recorder: RunRecorder) -> RunOutcome:
        sweep_dir = Path(sweep_dir_for(wandb_root(), self.sweep_id))
        with RunSetupError.guard(sweep_dir, run.id):
            sweep_dir.mkdir(parents=True, exist_ok=True)
        stdout_path = sweep_dir / f"{run.id}.out"
        stderr_path = sweep_dir / f"{run.id}.err"
        payload_path = sweep_dir / f"{run.id}.payload.pkl"
        result_path = sweep_dir / f"{run.id}.result.json"
        if self.stop_event is not None and self.stop_event.is_set():
            return RunOutcome(
                RunState.KILLED,
                error="stopped by the user (Ctrl-C) before it started",
                interrupted=KeyboardInterrupt(),
            )
        result_path.unlink(missing_ok=True)
        preparation = spawn.get_preparation_data(f"localsweep-run-{run.id}")
        preparation.pop("authkey", None)  # a secret for multiprocessing's sockets; unused
        main_path = preparation.get("init_main_from_path")
        if main_path is not None and not os.path.isfile(main_path):
            # `python - <<EOF` (``<stdin>``): nothing to re-import; the function comes by value.
            preparation.pop("init_main_from_path")
        how, function = self._function
        payload = {
            "preparation": preparation,
            "function_how": how,
            "function": function,
            "store_url": self.store_url,
            "sweep_id": self.sweep_id,
            "run": run,
            "project": self.project,
            "entity": self.entity,
            "result_path": str(result_path),
            "stderr_path": str(stderr_path),
        }
        data = pickle.dumps(payload)
        try:
            payload_path.write_bytes(data)
        except OSError as exc:  # a full disk is not the run's failure
            payload_path.unlink(missing_ok=True)
            raise RunSetupError.writing(payload_path, run.id, exc) from exc
        tee = OutputTee(run.id, echo=self.echo_output, prefix=self.prefix_output)
        # Where the child's wandb.init notes its run's folder, for a child that ends
        # without its report (RunFileReader); a requeued run's last note is not this.
        run_dir_note = sweep_dir / f"{run.id}.run-dir"
        try:
            # A resumed run's files keep its earlier attempts' output. Opened before the
            # child starts: it writes there too (what the agent says itself).
            attempt = getattr(run, "attempt", 1)
            with RunSetupError.guard(stdout_path, run.id):
                run_dir_note.unlink(missing_ok=True)
                tee.open(str(stdout_path), str(stderr_path), attempt)
            try:
                reader = RunFileReader(
                    run.id, recorder, Path(wandb_root()), stderr_path, run_dir_note=run_dir_note
                )
                process = subprocess.Popen(
                    [sys.executable, "-c", _CHILD_CODE, str(payload_path)],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    env=self._child_env(run_dir_note),
                    start_new_session=True,
                )
            except OSError as exc:
                # The agent's own open files, processes or memory ran out: not the run's.
                lacking = RunSetupError.lacking("start the run's process", run.id, exc)
                if lacking is not None:
                    raise lacking from exc
                raise
            assert process.stdout is not None and process.stderr is not None
            tee.start(process.stdout, process.stderr, str(stdout_path), str(stderr_path))
            watch = ProcessWatch(
                process,
                timeout=self.timeout,
                grace_period=self.grace_period,
                stop_event=self.stop_event,
                poll_interval=self.poll_interval,
                label=f"run {run.id}",
                control=recorder.control,
            )
            returncode = reader.wait(watch)
            tee.join()  # all of it in the files (and shown) before the tail is read
        finally:
            tee.close()  # the files, when the child did not start
            payload_path.unlink(missing_ok=True)
        report = _read_report(result_path)
        if report is None:
            # It ended without saying how (os._exit(0) after wandb.finish(), a crash): its
            # wandb file says, as a program's does.
            reader.skip_through = recorder.store.history_extent(run.id)[1]
            reader.finish_reading(returncode)
        for warning in report.warnings if report is not None else ():
            # A warning about this run begins with it ("run X: wandb.init() was called
            # again..."), said for each run; the others are the sweep's, said once, as
            # in-process, even when they name the run they were met in (the plateau metric
            # never logged "by run X").
            said = warning if warning.startswith(f"run {run.id}:") else warning.replace(run.id, "")
            if said not in self._said:
                self._said.add(said)
                logger.warning("%s", warning)
        outcome = self._outcome(run, recorder, watch, returncode, report, stderr_path, reader)
        return replace(outcome, stdout_path=str(stdout_path), stderr_path=str(stderr_path))

    def _child_env(self, run_dir_note: Path) -> dict[str, str]:
        from localsweep.wandb_bridge._forced_offline import BOOT_DIR, KEPT_MODES, RUN_DIR_VARIABLE

        env = dict(os.environ)
        env.update(self.env)
        # Each run starts its own wandb service, as under `wandb agent`, so that runs do not
        # share one and a killed run is not closed as a success by someone else's service.
        env.pop("WANDB_SERVICE", None)
        # The child imports localsweep before it can restore the parent's sys.path. It and
        # every process it starts are offline as a program-mode child is (keep_child_offline):
        # the boot folder's sitecustomize wraps wandb as it is imported, before any module of
        # the user's can bind wandb.init.
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(BOOT_DIR), package_root, env.get("PYTHONPATH", "")) if p
        )
        if env.get("WANDB_MODE") not in KEPT_MODES:
            env["WANDB_MODE"] = "offline"
        env[RUN_DIR_VARIABLE] = str(run_dir_note)
        return env

    def _outcome(
        self,
        run: RunRecord,
        recorder: RunRecorder,
        watch: ProcessWatch,
        returncode: int,
        report: _ChildReport | None,
        stderr_path: Path,
        reader: RunFileReader,
    ) -> RunOutcome:
        from_file = reader.finished_run() if report is None else None
        if report is not None:
            # The child's recorder holds the whole run's values (a resumed run's earlier
            # attempts' first).
            recorder.metric_values[:] = [math.nan if v is None else v for v in report.metric_values]
            recorder.iterations = report.iterations
            finished = FinishedRun(
                summary=report.summary,
                exit_code=report.finished_exit_code,
                dir=report.dir,
                name=report.name,
                merged=True,  # the child's recorder merged a resumed run's attempts
            )
        else:
            # What the child stored before it died, updated by what its wandb file holds.
            summary = _summary_from_rows(recorder.store.history(run.id))
            summary.update(from_file.summary if from_file is not None else {})
            finished = FinishedRun(
                summary=summary,
                exit_code=from_file.exit_code if from_file is not None else None,
                dir=from_file.dir if from_file is not None else None,
                name=None,
            )
        if from_file is not None and returncode == 0 and watch.reason is None:
            # It ended by itself without its report (os._exit(0) after wandb.finish(), to
            # skip a slow shutdown): its wandb file says how, by the rule of a program that
            # exits 0, so that both modes record the same code the same way.
            outcome = reader.exited_zero(program=False, finished=finished)
        else:
            outcome = self._ended(run, recorder, watch, returncode, report, stderr_path, finished)
        if report is None and reader.short is not None:
            return reader.lacking_outcome(outcome)
        return outcome

    def _ended(
        self,
        run: RunRecord,
        recorder: RunRecorder,
        watch: ProcessWatch,
        returncode: int,
        report: _ChildReport | None,
        stderr_path: Path,
        finished: FinishedRun,
    ) -> RunOutcome:
        """The outcome of the run, whose ``finished`` wandb run is as given."""
        status = exit_status(returncode)
        if watch.reason is StopReason.INTERRUPTED:
            if returncode == 0 and report is not None and report.state == RunState.FINISHED.value:
                # The function caught the Ctrl-C and returned: the run is kept as it ended,
                # as in-process (and as W&B shows a run that exited 0), and counted. The
                # agent still stops, before it claims another run, for the Ctrl-C it
                # remembers (localsweep._interrupt; with workers, their stop event).
                return RunOutcome(
                    RunState.FINISHED,
                    exit_code=report.exit_code,
                    finished=finished,
                    end_reason=report.end_reason,
                )
            return RunOutcome(
                RunState.KILLED,
                exit_code=status,
                error=watch.interrupt_error(returncode),
                finished=finished,
                interrupted=watch.interrupt or KeyboardInterrupt(),
            )
        if watch.reason is StopReason.ABORTED:
            why = recorder.control.reason or "store_error"
            return aborted_outcome(why, exit_code=status, finished=finished)
        if watch.reason is None and report is None and returncode == -signal.SIGTERM:
            # SIGTERM from outside (a scheduler), not the agent's own escalation (a timeout):
            # the run is requeued, not failed.
            return RunOutcome(
                RunState.PREEMPTED, exit_code=status, finished=finished, end_reason="preempted"
            )
        tail = this_attempt(stderr_tail(stderr_path))
        if watch.reason is StopReason.TIMEOUT:
            error = with_tail(watch.timeout_error(returncode), tail)
            code = watch.timeout_exit_code(status, finished.exit_code)
            return RunOutcome(
                RunState.FAILED,
                exit_code=code,
                error=error,
                finished=finished,
                end_reason=TIMED_OUT,
            )
        if report is None:
            why = describe_exit(returncode)
            error = with_tail(f"the run's process {why} without reporting how the run ended", tail)
            return RunOutcome(RunState.FAILED, exit_code=status, error=error, finished=finished)
        if report.end_reason == STORE_ERROR or report.store_error is not None:
            # The store failed for the run's process alone (its own connection: a file made
            # read-only since the agent opened it): the run is the store's, not the user's
            # failure, even when the training returned (the failing write was a timed flush
            # after its last log, and its rows are lost with it). Killed, so its point runs
            # again; the agent stops with the child's message rather than start run after
            # run that meets it.
            return RunOutcome(
                RunState.KILLED,
                exit_code=status,
                error=report.error,
                end_reason=STORE_ERROR,
                finished=finished,
                interrupted=_child_store_error(run, report),
            )
        if report.end_reason == SETUP_ERROR:
            # Every run would meet it: stop now rather than spend the sweep's points on it.
            # Killed, so the point runs again once the script is fixed.
            error = report.error or "the run's process could not start the run"
            return RunOutcome(
                RunState.KILLED,
                exit_code=status,
                error=error,
                end_reason=SETUP_ERROR,
                finished=finished,
                interrupted=AgentError(
                    f"{error}. The agent stops: run {run.id} is recorded killed and its "
                    "point runs again."
                ),
            )
        if report.state == RunState.KILLED.value and report.end_reason == "interrupted":
            # The training raised KeyboardInterrupt with no Ctrl-C here: the agent stops,
            # as it does when an in-process run's code raises it, rather than offer the
            # killed run's point again, and again.
            return RunOutcome(
                RunState.KILLED,
                exit_code=report.exit_code,
                error=report.error,
                end_reason="interrupted",
                finished=finished,
                interrupted=KeyboardInterrupt(),
            )
        if report.state == RunState.FAILED.value and report.error:
            # Shown once, as an in-process run's failure is (and as wandb.agent shows it):
            # here, unless wandb printed it in the child's output, which was shown.
            shown = report.traceback_shown and self.echo_output
            # A run the deleted working folder failed is said as that, not by its traceback.
            log = logger.debug if shown or folder_gone() is not None else logger.warning
            log("run %s failed:\n%s", run.id, report.error.rstrip())
        return RunOutcome(
            RunState(report.state),
            exit_code=report.exit_code,
            error=report.error,
            stopped_at_band=report.stopped_at_band,
            end_reason=report.end_reason,
            finished=finished,
        )


def _child_store_error(run: RunRecord, report: _ChildReport) -> StoreError:
    """The store's error that the run's process met, as the agent raises it: of the same
    class (so the command exits as it would on that error of its own)."""
    kind = getattr(errors, report.store_error_type or "", None)
    if not (isinstance(kind, type) and issubclass(kind, StoreError)):
        kind = StoreError
    message = (
        f"{report.store_error or 'the store failed'}\n(Met by the process of run {run.id}; "
        "the agent stops. The run is not counted as a failure and its point runs again.)"
    )
    try:
        return kind(message)
    except TypeError:  # a class with other arguments
        return StoreError(message)


def _in_memory(url: str) -> bool:
    if not url.startswith("sqlite"):
        return False
    database = url.split("://", 1)[-1].lstrip("/")
    return database in ("", ":memory:") or "mode=memory" in url


def _read_report(path: Path) -> _ChildReport | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        logger.warning("cannot read the report of a run's process in %s", path, exc_info=True)
        return None
    finally:
        path.unlink(missing_ok=True)
    return _ChildReport(**data)


def _summary_from_rows(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Each key's last logged value: the summary of a run whose process died."""
    summary: dict[str, Any] = {}
    for row in rows:
        summary.update((k, v) for k, v in row.items() if k != "_step")
    return summary
