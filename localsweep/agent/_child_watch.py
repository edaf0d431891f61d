"""Following one program-mode child to its end (:class:`ChildWatch`, for
:class:`~localsweep.agent._subprocess.ProgramRunner`): its wandb rows fed to the run's
recorder while it runs, its timeout, stop and Ctrl-C, and the outcome read from its exit
status and its wandb file (the rules are in :mod:`localsweep.agent._subprocess`).

:class:`RunFileReader` is the reading part alone: a run's wandb file to its recorder, and
the outcome of a child that exited 0 by itself. ``isolation="process"`` uses it for a run's
process that ended without its report (``os._exit(0)`` after ``wandb.finish()``, to skip a
slow shutdown), so that the same training is recorded the same way in both modes.

The agent's own process running short of open files while it reads (``EMFILE``: ``ulimit
-n`` too low for its workers) is not the run's doing: the read is tried again at the next
poll, and if the shortage lasts until the child has ended, the run is recorded ``killed``
(``setup_error``: not counted, its point offered again) and the agent stops with one
message naming the cause and the fix (:meth:`RunSetupError.lacking`)."""

from __future__ import annotations

import contextlib
import logging
import signal
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localsweep import _interrupt
from localsweep.agent._agent import RunOutcome, aborted_outcome
from localsweep.agent._control import PREEMPTED, TIMED_OUT
from localsweep.agent._env_faults import killed_by
from localsweep.agent._output import OutputTee, this_attempt
from localsweep.agent._process import (
    ProcessWatch,
    StopReason,
    describe_exit,
    exit_status,
    stderr_tail,
    with_tail,
)
from localsweep.agent._recorder import RunAborted, RunRecorder, RunStopped
from localsweep.agent._wandb_exit import marked_failed
from localsweep.errors import RunSetupError
from localsweep.records import RunState
from localsweep.store import RunRecord
from localsweep.wandb_bridge import FinishedRun, online_failure_hint
from localsweep.wandb_bridge._forced_offline import (
    missing_run_dir_message,
    reported_run_dirs,
    second_run_message,
    started_a_run,
    started_other_runs,
)
from localsweep.wandb_bridge._metric_summary import definition_of

if TYPE_CHECKING:
    from localsweep.agent._subprocess import ProgramRunner
    from localsweep.wandb_bridge._datastore import RunFileFollower, RunFileSummary

__all__ = ["ChildWatch", "RunFileReader"]

logger = logging.getLogger(__name__)

#: How long to wait, after a child exits, for the exit record its wandb service writes last.
EXIT_RECORD_TIMEOUT = 5.0
#: The same wait for a child killed by a signal that leaves no exit record (SIGKILL/SIGTERM):
#: only long enough for its service's last flush.
KILLED_EXIT_RECORD_TIMEOUT = 1.0
#: Heads the child's last output before a timeout's signals, in the run's error.
OUTPUT_BEFORE_TIMEOUT = "--- last output before the timeout (before any signal) ---"

# wandb adds these to every row; in-process rows hold only the user's keys (the store adds
# ``_step`` when it reads rows back), so program-mode rows must not carry them either.
_WANDB_ROW_KEYS = frozenset({"_step", "_runtime", "_timestamp"})
# wandb's own bookkeeping in an offline summary; the in-process summary does not show it.
_WANDB_SUMMARY_KEYS = frozenset({"_wandb"})


class RunFileReader:
    """Reads run ``run_id``'s wandb file for its ``recorder``: in the run's folder as its
    child noted it in ``run_dir_note`` (see ``keep_child_offline``), else as found under
    ``root``. Made before the child starts: the run's folders already there then are an
    earlier attempt's. Rows up to step ``skip_through`` are left out (the store has them).
    """

    def __init__(
        self,
        run_id: str,
        recorder: RunRecorder,
        root: Path,
        stderr_path: Path,
        *,
        run_dir_note: Path | None = None,
        skip_through: int = -1,
    ):
        self.run_id = run_id
        self.recorder = recorder
        self.root = root
        self.stderr_path = stderr_path
        self.run_dir_note = run_dir_note
        self.skip_through = skip_through
        # A requeued run resumed here writes a new folder; the old ones are its last attempt's.
        self._old_dirs = set(self._run_dirs())
        self.run_dir: Path | None = None
        self.follower: RunFileFollower | None = None
        self._last_step = -1
        self._unreadable = False
        self._state: RunFileSummary | None = None
        #: The agent's process ran short of open files (or memory) at the last read.
        self.short: OSError | None = None

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
            # The first: a second wandb run of the same id is not the run's (as in-process).
            self.run_dir = folders[0]
            logger.debug("run %s: reading its wandb run folder %s", self.run_id, self.run_dir)
        return self.run_dir / f"run-{self.run_id}.wandb"

    def _warn_if_second_run(self) -> None:
        """Say that the program started a second wandb run of this run's id (after its first
        finished), whose rows are not recorded, as an in-process run's second one is."""
        if self.run_dir_note is None:
            return
        _, noted = reported_run_dirs(self.run_dir_note, self.run_id)
        if len([f for f in noted if f not in self._old_dirs]) > 1:
            logger.warning("%s", second_run_message(self.run_id))

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
        if not called:
            return None
        # A run of another id: the process that called wandb.init lacked the run's variables.
        others = started_other_runs(self.run_dir_note, self.run_id)
        return missing_run_dir_message(self.run_id, where, others)

    def _read(self, *, running: bool) -> None:
        """Read what the child's wandb file holds by now, and hand it to the recorder."""
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
        for record in self.follower.take_metric_records():
            definition = definition_of(record)
            if definition is not None:
                self.recorder.on_define_metric(definition)
        state = self.follower.state  # the same snapshot until more records are read
        if state is not self._state:
            # Before the rows: their write carries the summary as far as it was read.
            self._state = state
            self.recorder.on_run_summary(state.summary)
        for row in rows:
            self._feed(row, running=running)
        if running:
            # A row read now is written within about a second even when the program then
            # works for long without logging (a long epoch), as in-process rows are; so is
            # a summary its code set by hand.
            self._deliver(self.recorder.tick, running=running)

    def _feed(self, row: Mapping[str, Any], *, running: bool) -> None:
        step = row.get("_step")
        if not isinstance(step, int):
            step = self._last_step + 1
        self._last_step = step
        if step <= self.skip_through:
            return
        data = {k: v for k, v in row.items() if k not in _WANDB_ROW_KEYS}
        # A row of the file is final.
        self._deliver(lambda: self.recorder.on_log(data, step, committed=True), running=running)

    def _follow(self, *, running: bool) -> None:
        """:meth:`_read`, retried at the next call when the agent's process is short of
        open files or memory (:attr:`short` says so meanwhile)."""
        try:
            self._read(running=running)
        except OSError as exc:
            if RunSetupError.lacking("read", self.run_id, exc) is None:
                raise
            if self.short is None:
                logger.warning(
                    "run %s: cannot read its wandb file for now (%s); trying again",
                    self.run_id,
                    exc.strerror or exc,
                )
            self.short = exc
        else:
            self.short = None

    def _deliver(self, call: Callable[[], None], *, running: bool) -> None:
        """Hand something to the recorder. Its child has ended: a stop it asks for has no
        effect (see :meth:`ChildWatch._deliver`)."""
        with contextlib.suppress(RunAborted, RunStopped):
            call()

    def finish_reading(self, returncode: int) -> None:
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
            if self.follower is None and self.short is None:
                break  # wandb.init makes the folder at once: this child never called it
            if time.monotonic() >= deadline:
                if self.follower is not None and finished_normally and self.short is None:
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
        if self.short is not None:
            logger.warning(
                "run %s: could not read its wandb file (%s)",
                self.run_id,
                self.short.strerror or self.short,
            )

    def wait(self, watch: ProcessWatch, on_poll: Callable[[], None] | None = None) -> int:
        """``watch.wait(on_poll)``; the agent short of open files while it looks for what
        is left of the child's process group, once the child has exited, is noted
        (:attr:`short`), not raised."""
        try:
            return watch.wait(on_poll)
        except OSError as exc:
            returncode = watch.process.returncode
            if returncode is None or RunSetupError.lacking("", self.run_id, exc) is None:
                raise
            logger.warning(
                "run %s: cannot look for what is left of its processes (%s)",
                self.run_id,
                exc.strerror or exc,
            )
            self.short = exc
            return returncode

    # -------------------------------------------------------------------- outcome

    def finished_run(self) -> FinishedRun | None:
        """The wandb run as its file says it ended (``None``: no file was read)."""
        if self.follower is None:
            return None
        state = self.follower.state
        summary = {k: v for k, v in state.summary.items() if k not in _WANDB_SUMMARY_KEYS}
        return FinishedRun(
            summary=summary,
            exit_code=state.exit_code,
            dir=str(self.run_dir) if self.run_dir is not None else None,
            name=state.name,
        )

    def exited_zero(
        self, *, program: bool = True, finished: FinishedRun | None = None
    ) -> RunOutcome:
        """The outcome of a child that exited 0 by itself, read (:meth:`finish_reading`):
        ``finished``, or ``failed`` when its code finished its wandb run with a non-zero
        exit code (``program``: say that the program exited 0). ``finished``: the wandb
        run as the caller completed it (else :meth:`finished_run`)."""
        finished = finished or self.finished_run()
        preempting = self.follower is not None and self.follower.state.preempting
        failed = marked_failed(finished, preempting=preempting, program=program)
        if failed is not None:
            return failed
        return RunOutcome(RunState.FINISHED, exit_code=0, finished=finished)

    def lacking_outcome(self, outcome: RunOutcome) -> RunOutcome:
        """``outcome`` replaced when the agent could not read the run's file to its end for
        lack of open files (:attr:`short`): ``killed``, ``setup_error``, not counted, and the
        agent stops with what to do. A run stopped by Ctrl-C keeps its outcome."""
        assert self.short is not None
        error = RunSetupError.lacking("read its wandb file", self.run_id, self.short)
        if error is None or outcome.interrupted is not None:
            return outcome
        return killed_by(outcome, error)


class ChildWatch(RunFileReader):
    """Follows one running child to its end: rows to the recorder, timeout, stop, Ctrl-C.
    Made before the child starts (see :class:`RunFileReader`); :meth:`run` follows it."""

    def __init__(
        self,
        runner: ProgramRunner,
        run: RunRecord,
        recorder: RunRecorder,
        root: Path,
        stderr_path: Path,
        tee: OutputTee | None = None,
        *,
        run_dir_note: Path | None = None,
    ):
        super().__init__(run.id, recorder, root, stderr_path, run_dir_note=run_dir_note)
        self.runner = runner
        self.tee = tee
        #: The child's last output when localsweep decided to stop it (before any signal).
        self.output_before_stop = ""
        self.band: int | None = None
        self.end_reason: str | None = None
        #: A stop decided on what was just read, acted on once the read is done.
        self._stop: RunStopped | None = None

    def _before_signals(self, _reason: StopReason) -> None:
        if self.tee is not None:
            self.output_before_stop = self.tee.recent()

    def run(self, process: subprocess.Popen[bytes]) -> RunOutcome:
        """Follow ``process``, the run's child, to its end; its outcome."""
        runner = self.runner
        self.watch = ProcessWatch(
            process,
            timeout=runner.timeout,
            grace_period=runner.grace_period,
            stop_event=runner.stop_event,
            poll_interval=runner.poll_interval,
            label=f"run {self.run_id}",
            control=self.recorder.control,
        )
        self.watch.on_stop = self._before_signals
        # A resumed run whose earlier attempts reached its plateau stops as it starts.
        self._deliver(self.recorder.stop_if_decided, running=True)
        self._act_on_stop()
        returncode = self.wait(self.watch, lambda: self._follow(running=True))
        if self.tee is not None:
            self.tee.join()
        late: KeyboardInterrupt | None = None
        try:
            self.finish_reading(returncode)
        except KeyboardInterrupt as exc:
            # The child has ended; record it with what was read, then let the agent stop.
            late = exc
        outcome = self._outcome(returncode)
        if self.short is not None:
            outcome = self.lacking_outcome(outcome)
        self._warn_if_second_run()
        missing = self._missing_run_dir()
        if missing is not None and outcome.state is RunState.FINISHED:
            # Recorded finished, it would look like a run that never logged the metric.
            outcome = replace(outcome, state=RunState.FAILED, error=missing)
        if late is not None and outcome.interrupted is None:
            outcome = replace(outcome, interrupted=late)
        return outcome

    def _follow(self, *, running: bool) -> None:
        super()._follow(running=running)
        if running:
            self._act_on_stop()

    def _deliver(self, call: Callable[[], None], *, running: bool) -> None:
        """Hand something to the recorder; a stop it raises ends the child (see
        :meth:`_act_on_stop`)."""
        try:
            call()
        except RunAborted:
            if running and self.watch.reason is None:
                self.watch.request_stop(StopReason.ABORTED)
        except RunStopped as stop:
            # Only a decision taken while the child runs ends it; once it has exited, or is
            # already being stopped, the rows are recorded and the decision has no effect.
            if running and self.watch.reason is None and self._stop is None:
                self._stop = stop

    def _act_on_stop(self) -> None:
        """Stop the child for the decision taken on what was read, unless it has ended on
        its own meanwhile: it exited, or its wandb run finished (its exit record is
        written; wandb writes its last rows with it, so a program that logs its values
        and finishes is read whole at once). Such a run was never stopped: it finished,
        with every row it logged, and a signal now would only cut its exit short."""
        stop, self._stop = self._stop, None
        if stop is None or self.watch.reason is not None:
            return
        # What it wrote since the read that decided (its exit record?); decisions on these
        # rows count no more: one stop is on its way.
        self._read(running=False)
        if self.watch.process.poll() is not None or (
            self.follower is not None and self.follower.finished
        ):
            logger.debug("run %s ended on its own before it was stopped: %s", self.run_id, stop)
            return
        logger.info("%s", stop)
        self.band = stop.band
        self.end_reason = stop.reason
        self.watch.request_stop(StopReason.STOPPED)

    # -------------------------------------------------------------------- outcome

    def _preempted(self, returncode: int) -> bool:
        """Whether a child that ended by itself (non-zero) was preempted: it called
        ``wandb.run.mark_preempting()``, or SIGTERM from outside (a scheduler at the end of
        its time slot) ended it, handled (exit status 143) or not."""
        marked = self.follower is not None and self.follower.state.preempting
        return marked or returncode == -signal.SIGTERM or returncode == 128 + signal.SIGTERM

    def _outcome(self, returncode: int) -> RunOutcome:
        status = exit_status(returncode)
        finished = self.finished_run()
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
            if returncode == 0 and marked_failed(finished, preempting=False) is None:
                # The program caught the Ctrl-C and exited 0, its wandb run ended well: kept
                # as it ended (W&B shows it finished), and counted. The agent still stops,
                # before it claims another run, for the Ctrl-C it remembers
                # (localsweep._interrupt; with workers, their stop event).
                return RunOutcome(
                    RunState.FINISHED,
                    exit_code=0,
                    finished=finished,
                )
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
            code = self.watch.timeout_exit_code(status, finished.exit_code if finished else None)
            return RunOutcome(
                RunState.FAILED,
                exit_code=code,
                error=error,
                finished=finished,
                end_reason=TIMED_OUT,
            )
        if returncode == 0:
            return self.exited_zero()
        error = with_tail(f"the program {describe_exit(returncode)}", tail)
        hint = online_failure_hint(tail)
        error = f"{error}\n{hint}" if hint else error
        return RunOutcome(RunState.FAILED, exit_code=status, error=error, finished=finished)
