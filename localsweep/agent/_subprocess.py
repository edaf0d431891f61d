"""Program mode: each run of a ``program`` / ``command`` sweep as a child process.

The child is started as ``wandb agent`` starts it (argv, parameter file and environment from
:mod:`localsweep.agent._command`), offline, in its own session so that stopping it reaches
every process it started. While it runs, its offline transaction log is followed and each
row is fed to the run's recorder, so hyperband can stop it; a stop, a timeout or Ctrl-C all
end it the same way: ``SIGINT`` to its process group (wandb then keeps every row and writes
its exit record), ``SIGTERM`` after a grace period, ``SIGKILL`` after another.

How a run's end is recorded:

- exit code 0: ``finished``; but ``failed`` (with the wandb run's exit code) when the
  program finished its wandb run with a non-zero exit code (``wandb.finish(exit_code=1)``,
  wandb's way to mark a run failed), read from the exit record in its wandb file;
- a non-zero exit code, or a signal localsweep did not send (SIGKILL from the
  out-of-memory killer, SIGSEGV): ``failed``, with the exit status (``128 + N`` for
  signal ``N``) and the last lines of stderr as its error. Not ``crashed``: in localsweep
  that means the agent died, and a crashed run's grid point is offered again;
- stopped by hyperband: ``early_terminated`` with the band; by its plateau rule
  (``localsweep: {early_stopping: ...}``): ``early_terminated``, end reason ``plateau``;
- ran past its ``timeout``: ``failed``, "timed out after N s", so that a grid point that
  always times out is not retried and the agent's failure limit applies;
- Ctrl-C in the agent: ``killed``, and the ``KeyboardInterrupt`` is re-raised after the run
  is recorded.

The state comes from the child's exit status; the exit record in its wandb file is read
only for a child that exited 0 by itself, to tell a run its code marked failed. It is
never trusted for a child that was killed or stopped: one attached to a shared wandb
service still gets an exit record with code 0 later, when the service shuts down. A child
that exited 0 had its own wandb finish the run (``wandb.finish``, or wandb's exit hook
with the process's code 0): the exit record's code is then the one the training gave.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localsweep import _interrupt
from localsweep.agent._agent import RunOutcome, aborted_outcome, wandb_root
from localsweep.agent._command import (
    build_command,
    child_env,
    param_file_content,
    param_file_path,
    sweep_dir_for,
)
from localsweep.agent._control import PREEMPTED
from localsweep.agent._defaults import DEFAULT_GRACE_PERIOD
from localsweep.agent._output import OutputTee, open_output, this_attempt
from localsweep.agent._process import (
    POLL_INTERVAL,
    ProcessWatch,
    StopReason,
    describe_exit,
    exit_status,
    stderr_tail,
    with_tail,
)
from localsweep.agent._recorder import RunAborted, RunRecorder, RunStopped
from localsweep.agent._wandb_exit import marked_failed
from localsweep.config import SweepConfig
from localsweep.records import RunState
from localsweep.store import RunRecord
from localsweep.wandb_bridge import (
    DEFAULT_PROJECT,
    FinishedRun,
    keep_child_offline,
    online_failure_hint,
    report_child,
)
from localsweep.wandb_bridge._forced_offline import (
    missing_run_dir_message,
    reported_run_dirs,
    started_a_run,
)

if TYPE_CHECKING:
    from localsweep.wandb_bridge._datastore import RunFileFollower

__all__ = ["DEFAULT_GRACE_PERIOD", "ProgramRunner", "sorted_params"]

logger = logging.getLogger(__name__)

#: How long to wait, after a child exits, for the exit record its wandb service writes last.
EXIT_RECORD_TIMEOUT = 5.0
#: The same wait for a child killed by a signal that leaves no exit record (SIGKILL/SIGTERM):
#: only long enough for its service's last flush.
KILLED_EXIT_RECORD_TIMEOUT = 1.0
#: Rows reach a child's wandb file only every 15 s by default; 1 s keeps hyperband timely
#: at a negligible cost.
FLUSH_INTERVAL_VARIABLE = "WANDB_X_TRANSACTION_LOG_FLUSH_INTERVAL"
DEFAULT_FLUSH_INTERVAL = "1"
#: Heads the child's last output before a timeout's signals, in the run's error.
OUTPUT_BEFORE_TIMEOUT = "--- last output before the timeout (before any signal) ---"

# wandb adds these to every row; in-process rows hold only the user's keys (the store adds
# ``_step`` when it reads rows back), so program-mode rows must not carry them either.
_WANDB_ROW_KEYS = frozenset({"_step", "_runtime", "_timestamp"})
# wandb's own bookkeeping in an offline summary; the in-process summary does not show it.
_WANDB_SUMMARY_KEYS = frozenset({"_wandb"})


def sorted_params(value: Any) -> Any:
    """A run's config with names sorted at every level, the order ``wandb agent`` receives
    it from the server, so the arguments come out in the same order."""
    if isinstance(value, Mapping):
        return {str(k): sorted_params(value[k]) for k in sorted(value, key=str)}
    return value


def _service_token() -> str:
    """Start (or reuse) this process's wandb service and return the token children attach
    with."""
    with _interrupt.deferred():
        import wandb

    wandb.setup()
    token = os.environ.get("WANDB_SERVICE")
    if not token:
        raise RuntimeError("wandb.setup() started no wandb service to share (no WANDB_SERVICE)")
    return token


# ---------------------------------------------------------------------------- runner


@dataclass
class ProgramRunner:
    """Runs each run as a child process, as ``wandb agent`` does (a :class:`Runner`).

    ``program`` and ``command`` are the sweep config's. ``timeout`` (seconds) ends a run that
    takes longer; ``grace_period`` is the wait between ``SIGINT``, ``SIGTERM`` and ``SIGKILL``
    when a child is stopped. ``env`` is added to every child's environment (a worker's
    ``CUDA_VISIBLE_DEVICES``). ``share_service`` lets children attach to this process's wandb
    service (about 0.2 s less per run, but one service for all runs, and a killed child's run
    is later closed with exit code 0 in its wandb file). ``stop_event``, when set, stops the
    running child as Ctrl-C would (workers use it: only the main thread sees Ctrl-C).

    Output goes to ``<WANDB_DIR>/wandb/sweep-<id>/<run id>.out`` and ``.err`` and, with
    ``echo_output`` (as ``wandb agent`` leaves it on the terminal), to this process's stdout
    and stderr as it comes, each line prefixed with the run id when ``prefix_output``.
    """

    sweep_id: str
    program: str | None
    command: Sequence[str] | None = None
    project: str | None = None
    entity: str | None = None
    timeout: float | None = None
    grace_period: float = DEFAULT_GRACE_PERIOD
    share_service: bool = False
    env: Mapping[str, str] = field(default_factory=dict)
    interpreter: str = sys.executable
    stop_event: threading.Event | None = None
    poll_interval: float = POLL_INTERVAL
    echo_output: bool = True
    prefix_output: bool = False

    @classmethod
    def for_sweep(cls, sweep_id: str, config: SweepConfig, **options: Any) -> ProgramRunner:
        """A runner for a sweep config's ``program`` / ``command``."""
        return cls(sweep_id, config.program, config.command, **options)

    def __call__(self, run: RunRecord, recorder: RunRecorder) -> RunOutcome:
        root = wandb_root()
        sweep_dir = Path(sweep_dir_for(root, self.sweep_id))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        params = sorted_params(run.config)
        param_path = param_file_path(sweep_dir, run.id)
        env = self.child_env(run.id, root, param_path)
        env.update(self.resume_env(run))
        forced_note = sweep_dir / f"{run.id}.forced-offline"
        # Where the child's wandb.init notes its run's folder (which dir= or a WANDB_DIR set
        # by the program puts elsewhere); a requeued run's last attempt's note is not this one.
        run_dir_note = sweep_dir / f"{run.id}.run-dir"
        run_dir_note.unlink(missing_ok=True)
        keep_child_offline(env, forced_note, run_dir_note)
        command = build_command(
            self.command,
            self.program,
            params,
            sweep_dir=sweep_dir,
            run_id=run.id,
            interpreter=self.interpreter,
            environ=env,
        )
        Path(param_path).write_text(param_file_content(params), encoding="utf-8")
        for path, content in command.files.items():
            Path(path).write_text(content, encoding="utf-8")
        stdout_path = sweep_dir / f"{run.id}.out"
        stderr_path = sweep_dir / f"{run.id}.err"
        attempt = getattr(run, "attempt", 1)  # a resumed run's files keep earlier attempts'
        with_files = functools.partial(
            replace, stdout_path=str(stdout_path), stderr_path=str(stderr_path)
        )

        if self.stop_event is not None and self.stop_event.is_set():
            return with_files(
                RunOutcome(
                    RunState.KILLED,
                    error="stopped by the user (Ctrl-C) before it started",
                    interrupted=KeyboardInterrupt(),
                )
            )
        logger.info("run %s: starting %s", run.id, list(command.argv))
        try:
            process = subprocess.Popen(
                command.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            with open_output(stdout_path, attempt), open_output(stderr_path, attempt) as err:
                err.write(f"cannot start {command.argv[0]!r}: {exc}\n".encode())
            return with_files(
                RunOutcome(RunState.FAILED, error=f"cannot start {command.argv[0]!r}: {exc}")
            )
        tee = OutputTee(run.id, echo=self.echo_output, prefix=self.prefix_output)
        assert process.stdout is not None and process.stderr is not None
        tee.start(
            process.stdout, process.stderr, str(stdout_path), str(stderr_path), attempt=attempt
        )
        watch = _ChildWatch(
            self, run, recorder, process, root, stderr_path, tee, run_dir_note=run_dir_note
        )
        outcome = watch.run()
        report_child(self.sweep_id, forced_note)
        return with_files(outcome)

    def child_env(
        self, run_id: str, root: str | os.PathLike[str], param_path: str | os.PathLike[str]
    ) -> dict[str, str]:
        """The environment of run ``run_id``'s child."""
        base = dict(os.environ)
        base.update(self.env)
        env = child_env(
            base,
            sweep_id=self.sweep_id,
            run_id=run_id,
            project=self.project or DEFAULT_PROJECT,
            wandb_dir=root,
            param_path=param_path,
            entity=self.entity,
        )
        env.setdefault(FLUSH_INTERVAL_VARIABLE, DEFAULT_FLUSH_INTERVAL)
        if self.share_service:
            env["WANDB_SERVICE"] = _service_token()
        return env

    def resume_env(self, run: RunRecord) -> dict[str, str]:
        """What a requeued run's child gets on top: ``WANDB_RESUME=allow``, so its
        ``wandb.init`` resumes the run of the same id (``WANDB_RUN_ID``)."""
        return {"WANDB_RESUME": "allow"} if getattr(run, "attempt", 1) > 1 else {}


class _ChildWatch:
    """Follows one running child to its end: rows to the recorder, timeout, stop, Ctrl-C."""

    def __init__(
        self,
        runner: ProgramRunner,
        run: RunRecord,
        recorder: RunRecorder,
        process: subprocess.Popen[bytes],
        root: Path,
        stderr_path: Path,
        tee: OutputTee | None = None,
        *,
        run_dir_note: Path | None = None,
    ):
        self.runner = runner
        self.run_dir_note = run_dir_note
        self.run_id = run.id
        self.recorder = recorder
        self.root = root
        self.stderr_path = stderr_path
        self.tee = tee
        #: The child's last output when localsweep decided to stop it (before any signal).
        self.output_before_stop = ""
        self.watch = ProcessWatch(
            process,
            timeout=runner.timeout,
            grace_period=runner.grace_period,
            stop_event=runner.stop_event,
            poll_interval=runner.poll_interval,
            label=f"run {run.id}",
            control=recorder.control,
        )
        self.band: int | None = None
        # A requeued run resumed here writes a new folder; the old ones are its last attempt's.
        self._old_dirs = set(self._run_dirs())
        self.end_reason: str | None = None
        self.run_dir: Path | None = None
        self.follower: RunFileFollower | None = None
        self._last_step = -1
        self._unreadable = False

        def before_signals(_reason: StopReason) -> None:
            if self.tee is not None:
                self.output_before_stop = self.tee.recent()

        self.watch.on_stop = before_signals

    def run(self) -> RunOutcome:
        returncode = self.watch.wait(lambda: self._follow(running=True))
        if self.tee is not None:
            self.tee.join()
        late: KeyboardInterrupt | None = None
        try:
            self._finish_reading(returncode)
        except KeyboardInterrupt as exc:
            # The child has ended; record it with what was read, then let the agent stop.
            late = exc
        outcome = self._outcome(returncode)
        missing = self._missing_run_dir()
        if missing is not None and outcome.state is RunState.FINISHED:
            # Recorded finished, it would look like a run that never logged the metric.
            outcome = replace(outcome, state=RunState.FAILED, error=missing)
        if late is not None and outcome.interrupted is None:
            outcome = replace(outcome, interrupted=late)
        return outcome

    # -------------------------------------------------------------------- reading

    def _run_dirs(self) -> list[Path]:
        """The run's folders: those its child's wandb.init noted (see ``reported_run_dirs``),
        wherever ``dir=`` or ``WANDB_DIR`` put them, else those in the agent's own root."""
        if self.run_dir_note is not None:
            _, noted = reported_run_dirs(self.run_dir_note, self.run_id)
            if noted:
                return noted
        # wandb adds "-1", "-2" to a folder whose name is taken (a resumed run, same second).
        return sorted((self.root / "wandb").glob(f"offline-run-*-{self.run_id}*"))

    def _find_run_file(self) -> Path | None:
        if self.run_dir is None:
            folders = [f for f in self._run_dirs() if f not in self._old_dirs]
            if not folders:
                return None
            self.run_dir = folders[-1]
            logger.debug("run %s: reading its wandb run folder %s", self.run_id, self.run_dir)
        return self.run_dir / f"run-{self.run_id}.wandb"

    def _missing_run_dir(self) -> str | None:
        """Why nothing of the run was read, when its program called ``wandb.init`` but no
        folder of the run was found; else ``None``."""
        if self.follower is not None or self.run_dir_note is None:
            return None
        called = started_a_run(self.run_dir_note, self.stderr_path)
        where = self.root / "wandb"
        said = "called wandb.init" if called else "did not call wandb.init"
        args = (self.run_id, where, self.run_dir_note, said)
        logger.debug("run %s: no run folder under %s nor in %s; it %s", *args)
        return missing_run_dir_message(self.run_id, where) if called else None

    def _follow(self, *, running: bool) -> None:
        if self._unreadable:
            return
        if self.follower is None:
            path = self._find_run_file()
            if path is None:
                return
            with _interrupt.deferred():  # wandb, half imported, could not be read with
                from localsweep.wandb_bridge._datastore import RunFileFollower

            self.follower = RunFileFollower(path)
        from localsweep.wandb_bridge._datastore import CorruptFileError

        try:
            rows = self.follower.poll()
        except CorruptFileError as exc:
            logger.warning("run %s: stopped reading its wandb file: %s", self.run_id, exc)
            self._unreadable = True
            return
        for row in rows:
            self._feed(row, running=running)

    def _feed(self, row: Mapping[str, Any], *, running: bool) -> None:
        step = row.get("_step")
        if not isinstance(step, int):
            step = self._last_step + 1
        self._last_step = step
        data = {k: v for k, v in row.items() if k not in _WANDB_ROW_KEYS}
        try:
            self.recorder.on_log(data, step, committed=True)  # a row of the file is final
        except RunAborted:
            if running and self.watch.reason is None:
                self.watch.request_stop(StopReason.ABORTED)
        except RunStopped as stop:
            # Only a decision taken while the child runs ends it; once it has exited, or is
            # already being stopped, the rows are recorded and the decision has no effect.
            if running and self.watch.reason is None:
                logger.info("%s", stop)
                self.band = stop.band
                self.end_reason = stop.reason
                self.watch.request_stop(StopReason.STOPPED)

    def _finish_reading(self, returncode: int) -> None:
        """Read what the child's wandb service wrote last, up to its exit record."""
        # A process that exited by itself, or on SIGINT, had wandb finish its run; a SIGKILL
        # or an unhandled SIGTERM leaves no exit record, so do not wait long for one.
        finished_normally = returncode >= 0 or returncode == -signal.SIGINT
        wait = EXIT_RECORD_TIMEOUT if finished_normally else KILLED_EXIT_RECORD_TIMEOUT
        deadline = time.monotonic() + wait
        while True:
            self._follow(running=False)
            if self.follower is not None and self.follower.finished:
                break
            if self.follower is None:
                break  # wandb.init makes the folder at once: this child never called it
            if time.monotonic() >= deadline:
                if self.follower is not None and finished_normally:
                    logger.warning(
                        "run %s: no exit record in %s after %g s",
                        self.run_id,
                        self.follower.path,
                        wait,
                    )
                break
            time.sleep(0.05)
        if self.follower is not None:
            self.follower.close()

    # -------------------------------------------------------------------- outcome

    def _preempted(self, returncode: int) -> bool:
        """Whether a child that ended by itself (non-zero) was preempted: it called
        ``wandb.run.mark_preempting()``, or SIGTERM from outside (a scheduler at the end of
        its time slot) ended it, handled (exit status 143) or not."""
        marked = self.follower is not None and self.follower.state.preempting
        return marked or returncode == -signal.SIGTERM or returncode == 128 + signal.SIGTERM

    def _finished_run(self) -> FinishedRun | None:
        if self.follower is None:
            return None
        state = self.follower.state
        summary = {k: v for k, v in state.summary.items() if k not in _WANDB_SUMMARY_KEYS}
        return FinishedRun(
            summary=summary,
            exit_code=state.exit_code,
            dir=str(self.run_dir) if self.run_dir is not None else None,
            name=None,
        )

    def _outcome(self, returncode: int) -> RunOutcome:
        status = exit_status(returncode)
        finished = self._finished_run()
        reason = self.watch.reason
        if reason is StopReason.STOPPED:
            return RunOutcome(
                RunState.EARLY_TERMINATED,
                exit_code=status,
                stopped_at_band=self.band,
                end_reason=self.end_reason,
                finished=finished,
            )
        if reason is StopReason.INTERRUPTED:
            return RunOutcome(
                RunState.KILLED,
                exit_code=status,
                error=self.watch.interrupt_error(returncode),
                finished=finished,
                interrupted=self.watch.interrupt or KeyboardInterrupt(),
            )
        if reason is StopReason.ABORTED:
            why = self.recorder.control.reason or "store_error"
            return aborted_outcome(why, exit_code=status, finished=finished)
        # Only a child that ended by itself can have been preempted: exit status 143 after
        # localsweep's own SIGTERM (a timeout's escalation) is no preemption.
        if reason is None and returncode != 0 and self._preempted(returncode):
            return RunOutcome(
                RunState.PREEMPTED, exit_code=status, finished=finished, end_reason=PREEMPTED
            )
        tail = this_attempt(stderr_tail(self.stderr_path))
        if reason is StopReason.TIMEOUT:
            error = self.watch.timeout_error(returncode)
            if self.output_before_stop:
                error += f"\n{OUTPUT_BEFORE_TIMEOUT}\n{self.output_before_stop}"
            error = with_tail(error, tail)
            return RunOutcome(RunState.FAILED, exit_code=status, error=error, finished=finished)
        if returncode == 0:
            preempting = self.follower is not None and self.follower.state.preempting
            failed = marked_failed(finished, preempting=preempting, program=True)
            if failed is not None:
                return failed
            return RunOutcome(RunState.FINISHED, exit_code=0, finished=finished)
        error = with_tail(f"the program {describe_exit(returncode)}", tail)
        hint = online_failure_hint(tail)
        error = f"{error}\n{hint}" if hint else error
        return RunOutcome(RunState.FAILED, exit_code=status, error=error, finished=finished)
