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
import json
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localsweep import _interrupt
from localsweep.agent._agent import RunOutcome, wandb_root
from localsweep.agent._child_watch import ChildWatch
from localsweep.agent._command import (
    build_command,
    child_env,
    param_file_content,
    param_file_path,
    sweep_dir_for,
)
from localsweep.agent._defaults import DEFAULT_GRACE_PERIOD
from localsweep.agent._output import OutputTee
from localsweep.agent._process import (
    POLL_INTERVAL,
)
from localsweep.agent._recorder import RunRecorder
from localsweep.config import SweepConfig
from localsweep.errors import RunSetupError
from localsweep.records import RunState
from localsweep.store import RunRecord
from localsweep.wandb_bridge import (
    DEFAULT_PROJECT,
    keep_child_offline,
    report_child,
)
from localsweep.wandb_bridge._resume import RESUME_STEP_VARIABLE, RESUME_SUMMARY_VARIABLE

if TYPE_CHECKING:
    pass

__all__ = ["DEFAULT_GRACE_PERIOD", "ProgramRunner", "sorted_params"]

logger = logging.getLogger(__name__)

#: The largest earlier summary handed to a resumed child in its environment (characters):
#: Linux refuses a variable over 128 KiB.
_MAX_SUMMARY_IN_ENV = 64 * 1024

#: Rows reach a child's wandb file only every 15 s by default; 1 s keeps hyperband timely
#: at a negligible cost.
FLUSH_INTERVAL_VARIABLE = "WANDB_X_TRANSACTION_LOG_FLUSH_INTERVAL"
DEFAULT_FLUSH_INTERVAL = "1"


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
        import wandb  # noqa: F401  (a Ctrl-C must not leave it half imported)

    from localsweep.wandb_bridge._service import shared_service_token

    return shared_service_token()


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
        with RunSetupError.guard(sweep_dir, run.id):
            sweep_dir.mkdir(parents=True, exist_ok=True)
        params = sorted_params(run.config)
        param_path = param_file_path(sweep_dir, run.id)
        env = self.child_env(run.id, root, param_path)
        env.update(self.resume_env(run, recorder.resume_step, recorder.resume_summary))
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
        for argument in command.argv:
            try:
                os.fsencode(argument)
            except UnicodeEncodeError as exc:
                raise RunSetupError.unencodable(run.id, argument, exc) from exc
        written = [(param_path, param_file_content(params)), *command.files.items()]
        for path, content in written:
            with RunSetupError.guard(path, run.id):
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
        tee = OutputTee(run.id, echo=self.echo_output, prefix=self.prefix_output)
        with RunSetupError.guard(stdout_path, run.id):
            # Before the child starts: it is never left running unwatched for a file the
            # agent could not open (its own limit of open files).
            tee.open(str(stdout_path), str(stderr_path), attempt)
        try:
            watch = ChildWatch(
                self, run, recorder, root, stderr_path, tee, run_dir_note=run_dir_note
            )
            logger.info("run %s: starting %s", run.id, list(command.argv))
            process = subprocess.Popen(
                command.argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            tee.close()
            # The agent's own open files, processes or memory ran out: not the run's failure.
            lacking = RunSetupError.lacking(f"start {command.argv[0]!r}", run.id, exc)
            if lacking is not None:
                raise lacking from exc
            with open(stderr_path, "ab") as err:  # the program is missing or not executable
                err.write(f"cannot start {command.argv[0]!r}: {exc}\n".encode())
            return with_files(
                RunOutcome(RunState.FAILED, error=f"cannot start {command.argv[0]!r}: {exc}")
            )
        assert process.stdout is not None and process.stderr is not None
        tee.start(process.stdout, process.stderr, str(stdout_path), str(stderr_path))
        outcome = watch.run(process)
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
            try:
                env["WANDB_SERVICE"] = _service_token()
            except Exception as exc:  # wandb-core could not start here (a memory limit)
                # Sharing only saves time: each child starts its own service instead, and
                # fails with wandb's own error if that cannot start either.
                logger.warning("wandb's service could not be shared with runs (%s)", exc)
                self.share_service = False
        return env

    def resume_env(
        self, run: RunRecord, step: int | None = None, summary: Mapping[str, Any] | None = None
    ) -> dict[str, str]:
        """What a requeued run's child gets on top: ``WANDB_RESUME=allow``, so its
        ``wandb.init`` resumes the run of the same id (``WANDB_RUN_ID``), the ``_step`` it
        goes on from and the summary its earlier attempts left (its ``sitecustomize`` marks
        the run resumed and gives its ``run.summary`` those values, as W&B's server would).
        A summary too large for the environment is left out (the stored one keeps it)."""
        if getattr(run, "attempt", 1) <= 1:
            return {}
        if step is None:  # its earlier attempts logged nothing: nothing to resume
            return {"WANDB_RESUME": "allow"}
        env = {"WANDB_RESUME": "allow", RESUME_STEP_VARIABLE: str(step)}
        earlier = {k: v for k, v in (summary or {}).items() if k != "_wandb"}
        if earlier:
            text = json.dumps(earlier, default=str)
            if len(text) <= _MAX_SUMMARY_IN_ENV:
                env[RESUME_SUMMARY_VARIABLE] = text
            else:
                logger.debug("run %s: its earlier summary is too large to hand over", run.id)
        return env
