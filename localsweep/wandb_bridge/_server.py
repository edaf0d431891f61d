"""Talk to a W&B server for ``localsweep sync``, through wandb's own client only.

Everything runs in a child process (:mod:`._server_child`), so that this process never
starts a wandb-core, never changes its environment (wandb's sweep creation sets
``WANDB_ENTITY``/``WANDB_PROJECT``) and never prompts for a key:

- :class:`ServerSession`: a child Python process that logs in, creates, updates and
  finishes the server's sweep the way ``wandb sweep`` does (``wandb.Api`` and
  ``wandb.apis.public.sweeps._upsert_sweep``/``_set_sweep_state``, wandb 0.31's code
  behind ``wandb sweep``, ``wandb sweep -R`` and ``wandb sweep --stop``), and runs
  ``wandb sync`` on run folders with wandb's own sync code (:meth:`ServerSession.sync`;
  wandb is then started and logged in once, not twice). Requests and answers are JSON
  lines over its stdin and a private copy of its stdout.
- :func:`run_wandb_sync`: the real ``wandb sync`` command on run folders, in a process
  of its own.

``wandb sync``'s exit code says nothing (it exits 0 when the server refused a run):
success is the ``run-<id>.wandb.synced`` marker it writes beside each file it finished.

Children get the caller's environment without the offline and sweep variables a
localsweep agent sets (``WANDB_MODE``, ``WANDB_SWEEP_ID``, ...): the user asked to
upload. Tested against wandb 0.31.0.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from localsweep.errors import LocalsweepError

__all__ = [
    "ServerError",
    "ServerSession",
    "ServerSweep",
    "WandbSyncResult",
    "run_wandb_sync",
    "sync_env",
]

logger = logging.getLogger(__name__)

#: Variables a localsweep agent or an offline shell sets that must not reach an upload.
_DROPPED_ENV = (
    "WANDB_MODE",
    "WANDB_OFFLINE",
    "WANDB_DISABLED",
    "WANDB_SERVICE",
    "WANDB_SWEEP_ID",
    "WANDB_SWEEP_PARAM_PATH",
    "WANDB_RUN_ID",
)
#: How long the reachability probe waits for the server.
PROBE_TIMEOUT = 5.0


class ServerError(LocalsweepError):
    """The W&B server could not be used. ``kind`` says why, in one word:
    ``no_api_key``, ``unreachable``, ``auth`` (the key was refused), ``refused`` (the
    server refused a request: wrong entity or project, no permission), ``timeout``."""

    def __init__(self, kind: str, message: str):
        self.kind = kind
        super().__init__(message)


@dataclass(frozen=True)
class ServerSweep:
    """A sweep on the server: its ``name`` (the id the server chose) in ``entity/project``,
    and its page in the W&B app."""

    name: str
    entity: str
    project: str
    url: str


def sync_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a child that uploads: the caller's, minus offline and sweep
    variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
    env.update(extra or {})
    return env


class ServerSession:
    """A child process holding a ``wandb.Api`` for one server: open it, then create,
    update and finish sweeps. Every call raises :class:`ServerError` with a clear message.

    Example::

        with ServerSession(timeout=10) as server:
            sweep = server.create_sweep(config, entity="team", project="p")
    """

    def __init__(
        self,
        *,
        timeout: float = 20.0,
        workdir: Path | None = None,
        start_core: bool = False,
        ask_entity: bool = True,
    ):
        self.timeout = timeout
        # Ask the server for the key's default entity (one more request) at the login.
        self.ask_entity = ask_entity
        # Start wandb-core (the uploader) right after the login, for a later sync().
        self.start_core = start_core
        # wandb writes debug logs under its WANDB_DIR: keep them out of the user's wandb/.
        self.workdir = workdir
        self.base_url = ""
        self.default_entity: str | None = None
        self._proc: subprocess.Popen[str] | None = None
        self._answers: IO[str] | None = None
        self._log: IO[str] | None = None
        self._opened = False

    def start(self) -> ServerSession:
        """Start the child and ask it to log in, without waiting for the answer (wandb
        takes seconds to start: the caller can do other work meanwhile)."""
        if self._proc is not None:
            return self
        read_fd, write_fd = os.pipe()
        # The child's own output goes to a file: a pipe nobody reads could fill and block it.
        self._log = tempfile.TemporaryFile(mode="w+", dir=self.workdir)  # noqa: SIM115 (closed in close())
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "localsweep.wandb_bridge._server_child",
                str(write_fd),
                str(os.getpid()),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            pass_fds=(write_fd,),
            # wandb sync's messages (its ERROR lines) are read from what it prints.
            env=sync_env({"WANDB_SILENT": "false", **_workdir_env(self.workdir)}),
            cwd=self.workdir,
            text=True,
        )
        os.close(write_fd)
        self._answers = os.fdopen(read_fd, "r")
        self._opened = False
        self._send(
            {
                "op": "open",
                "timeout": self.timeout,
                "start_core": self.start_core,
                "ask_entity": self.ask_entity,
            }
        )
        return self

    def __enter__(self) -> ServerSession:
        self.start()
        self._wait_open()
        return self

    def _wait_open(self) -> None:
        if not self._opened:
            # wandb imports and starts in the child; give that time beyond the login's own.
            opened = self._receive(extra=60.0)
            self.base_url = opened["base_url"]
            self.default_entity = opened.get("default_entity")
            self._opened = True

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """End the child process."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()  # the child ends when its input does
        except OSError:
            pass
        # wandb's shutdown takes a second; reap the child without waiting for it.
        threading.Thread(target=_reap, args=(proc,), daemon=True).start()
        if self._answers is not None:
            self._answers.close()
        if self._log is not None:
            self._log.close()

    def create_sweep(
        self,
        config: dict[str, Any],
        *,
        entity: str,
        project: str,
        prior_runs: Sequence[str] = (),
    ) -> ServerSweep:
        """Create a sweep with ``config`` (as ``wandb sweep -e -p [-R ...]`` does)."""
        answer = self._call(
            {
                "op": "create_sweep",
                "config": config,
                "entity": entity,
                "project": project,
                "prior_runs": list(prior_runs),
            }
        )
        return ServerSweep(answer["name"], answer["entity"], answer["project"], answer["url"])

    def attach_prior_runs(
        self, sweep: ServerSweep, config: dict[str, Any], run_ids: Sequence[str]
    ) -> None:
        """Attach runs already on the server to ``sweep`` as its prior runs (``-R``)."""
        self._call(
            {
                "op": "attach_prior_runs",
                "name": sweep.name,
                "entity": sweep.entity,
                "project": sweep.project,
                "config": config,
                "run_ids": list(run_ids),
            }
        )

    def finish_sweep(self, sweep: ServerSweep) -> None:
        """Mark ``sweep`` finished (``wandb sweep --stop``); one already finished is left."""
        self._call(
            {
                "op": "finish_sweep",
                "name": sweep.name,
                "entity": sweep.entity,
                "project": sweep.project,
            }
        )

    def sync(
        self,
        run_files: Sequence[Path],
        *,
        entity: str,
        project: str,
        parallel: int = 5,
        log_path: Path | None = None,
        timeout: float | None = None,
    ) -> WandbSyncResult:
        """``wandb sync -e ENTITY -p PROJECT -n PARALLEL`` on the run folders of
        ``run_files``, by wandb's own sync code in the child, as :func:`run_wandb_sync`
        runs the command. After ``timeout`` seconds the child is stopped (and started
        again by the next call) and the runs it did not finish count as failed."""
        request = {
            "op": "sync",
            "paths": [str(f.parent) for f in run_files],
            "entity": entity,
            "project": project,
            "parallel": parallel,
        }
        wait = 7 * 86400.0 if timeout is None else timeout  # poll() takes no more than ~24 days
        try:
            answer = self._call(request, extra=wait - self.timeout)  # waits `wait` in all
            output, returncode = str(answer.get("output", "")), 0
        except ServerError as exc:
            if exc.kind != "timeout":
                raise
            # The child was stopped mid-upload: the next call starts a new one.
            self.kill()
            output, returncode = _timed_out(timeout), -1
        return _sync_result(run_files, output, returncode, log_path)

    def kill(self) -> None:
        """End the child process at once, whatever it is doing (a later call starts
        another)."""
        proc = self._proc
        self.close()
        if proc is not None:
            proc.kill()

    def _call(self, request: dict[str, Any], extra: float = 30.0) -> dict[str, Any]:
        if self._proc is None and self.base_url:
            # A child stopped after a timeout: start another for this call.
            self.start()
        self._wait_open()
        self._send(request)
        try:
            return self._receive(extra)
        except KeyboardInterrupt:
            # Ctrl-C: the child must not go on uploading (wandb sync in it would, to the
            # end, in the background) after the command said it stopped.
            self.kill()
            raise

    def _send(self, request: dict[str, Any]) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None:
            raise RuntimeError("ServerSession used before start()")
        try:
            proc.stdin.write(json.dumps(request) + "\n")
            proc.stdin.flush()
        except OSError:
            pass  # the child died; _receive says why

    def _receive(self, extra: float) -> dict[str, Any]:
        proc, answers = self._proc, self._answers
        if proc is None or answers is None:
            raise RuntimeError("ServerSession used before start()")
        line = _read_line(answers, self.timeout + extra)
        if line is None:
            proc.kill()
            raise ServerError(
                "timeout", f"the W&B server did not answer within {self.timeout + extra:.0f} s"
            )
        if not line:
            proc.wait()
            tail = ""
            if self._log is not None:
                self._log.seek(0)
                tail = " ".join(self._log.read().strip().splitlines()[-5:])
            raise ServerError("refused", f"the wandb client failed: {tail}")
        answer: dict[str, Any] = json.loads(line)
        if not answer.get("ok"):
            raise ServerError(answer.get("kind", "refused"), answer.get("message", ""))
        return answer


def _reap(proc: subprocess.Popen[str]) -> None:
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _read_line(stream: IO[str], timeout: float) -> str | None:
    """One line from ``stream``; ``None`` if none came within ``timeout``, ``""`` at EOF."""
    import selectors

    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        if not selector.select(timeout):
            return None
    return stream.readline()


@dataclass(frozen=True)
class WandbSyncResult:
    """What ``wandb sync`` did: ``synced`` are the run files that got their ``.synced``
    marker, ``failed`` the others; ``errors`` are its ERROR lines; ``output`` is all it
    printed (also kept at ``log_path``)."""

    synced: tuple[Path, ...]
    failed: tuple[Path, ...]
    errors: tuple[str, ...]
    output: str
    returncode: int


def run_wandb_sync(
    run_files: Sequence[Path],
    *,
    entity: str,
    project: str,
    parallel: int = 5,
    log_path: Path | None = None,
    timeout: float | None = None,
    workdir: Path | None = None,
) -> WandbSyncResult:
    """Run the real ``wandb sync -e ENTITY -p PROJECT -n PARALLEL`` on the run folders of
    ``run_files``; success for each is its ``<file>.synced`` marker. wandb's own logs go
    under ``workdir``. After ``timeout`` seconds it is stopped (wandb retries a server
    that does not answer for a long time) and the runs it did not finish count as failed."""
    folders = [str(f.parent) for f in run_files]
    command = [sys.executable, "-m", "wandb", "sync", "--no-include-synced"]
    command += ["-e", entity, "-p", project, "-n", str(parallel), *folders]
    logger.debug("running %s", " ".join(command[:9]))
    try:
        proc = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=sync_env({"WANDB_SILENT": "false", **_workdir_env(workdir)}),
            cwd=workdir,
            timeout=timeout,
            check=False,
        )
        output, returncode = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        output = _text(exc.stdout) + _text(exc.stderr) + "\n" + _timed_out(timeout)
        returncode = -1
    return _sync_result(run_files, output, returncode, log_path)


def _sync_result(
    run_files: Sequence[Path], output: str, returncode: int, log_path: Path | None
) -> WandbSyncResult:
    if log_path is not None:
        log_path.write_text(output)
    synced = tuple(f for f in run_files if Path(f"{f}.synced").exists())
    failed = tuple(f for f in run_files if f not in synced)
    errors = tuple(
        line.split("ERROR", 1)[1].strip() for line in output.splitlines() if "ERROR" in line
    )
    return WandbSyncResult(synced, failed, errors, output, returncode)


def _timed_out(timeout: float | None) -> str:
    """wandb sync's output line for an upload stopped at ``timeout``: an ERROR line, so
    that every run it held says why it was not finished (without the word "sweep", which
    would read as the server refusing runs in the sweep: see ``Syncer``'s fallback)."""
    limit = f" ({timeout:g} s)" if timeout is not None else ""
    return (
        f"ERROR wandb sync timed out: it ran past the upload timeout{limit} and was stopped "
        "with the run in flight: sync again, with a larger --upload-timeout if the network "
        "is slow"
    )


def _workdir_env(workdir: Path | None) -> dict[str, str]:
    return {"WANDB_DIR": str(workdir)} if workdir is not None else {}


def _text(value: str | bytes | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value
