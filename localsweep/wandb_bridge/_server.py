"""Talk to a W&B server for ``localsweep sync``, through wandb's own client only.

Two kinds of work, both run in child processes so that this process never starts a
wandb-core, never changes its environment (wandb's sweep creation sets
``WANDB_ENTITY``/``WANDB_PROJECT``) and never prompts for a key:

- :class:`ServerSession`: a child Python process that creates, updates and finishes
  the server's sweep the way ``wandb sweep`` does (``wandb.Api`` and
  ``wandb.apis.public.sweeps._upsert_sweep``/``_set_sweep_state``, wandb 0.31's code
  behind ``wandb sweep``, ``wandb sweep -R`` and ``wandb sweep --stop``). Requests and
  answers are JSON lines over its stdin and a private copy of its stdout.
- :func:`run_wandb_sync`: the real ``wandb sync`` on run folders. Its exit code says
  nothing (it exits 0 when the server refused a run); success is the
  ``run-<id>.wandb.synced`` marker it writes beside each file it finished.

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
import time
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

    def __init__(self, *, timeout: float = 20.0, workdir: Path | None = None):
        self.timeout = timeout
        # wandb writes debug logs under its WANDB_DIR: keep them out of the user's wandb/.
        self.workdir = workdir
        self.base_url = ""
        self.default_entity: str | None = None
        self._proc: subprocess.Popen[str] | None = None
        self._answers: IO[str] | None = None
        self._log: IO[str] | None = None

    def start(self) -> ServerSession:
        """Start the child and ask it to log in, without waiting for the answer (wandb
        takes seconds to start: the caller can do other work meanwhile)."""
        if self._proc is not None:
            return self
        read_fd, write_fd = os.pipe()
        # The child's own output goes to a file: a pipe nobody reads could fill and block it.
        self._log = tempfile.TemporaryFile(mode="w+", dir=self.workdir)  # noqa: SIM115 (closed in close())
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "localsweep.wandb_bridge._server", str(write_fd)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            pass_fds=(write_fd,),
            env=sync_env(_workdir_env(self.workdir)),
            cwd=self.workdir,
            text=True,
        )
        os.close(write_fd)
        self._answers = os.fdopen(read_fd, "r")
        self._send({"op": "open", "timeout": self.timeout})
        return self

    def __enter__(self) -> ServerSession:
        self.start()
        if not self.base_url:
            # wandb imports and starts in the child; give that time beyond the login's own.
            opened = self._receive(extra=60.0)
            self.base_url = opened["base_url"]
            self.default_entity = opened.get("default_entity")
        return self

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

    def _call(self, request: dict[str, Any], extra: float = 30.0) -> dict[str, Any]:
        self._send(request)
        return self._receive(extra)

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
        output = _text(exc.stdout) + _text(exc.stderr) + f"\n(wandb sync timed out: {timeout} s)"
        returncode = -1
    if log_path is not None:
        log_path.write_text(output)
    synced = tuple(f for f in run_files if Path(f"{f}.synced").exists())
    failed = tuple(f for f in run_files if f not in synced)
    errors = tuple(
        line.split("ERROR", 1)[1].strip() for line in output.splitlines() if "ERROR" in line
    )
    return WandbSyncResult(synced, failed, errors, output, returncode)


def _workdir_env(workdir: Path | None) -> dict[str, str]:
    return {"WANDB_DIR": str(workdir)} if workdir is not None else {}


def _text(value: str | bytes | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


# ------------------------------------------------------------------- the child process


def _probe(base_url: str, timeout: float) -> None:
    """Raise ServerError("unreachable") unless something answers HTTP at ``base_url``."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(base_url, timeout=timeout):
            pass
    except urllib.error.HTTPError:
        return  # any HTTP answer means the server is there
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ServerError(
            "unreachable",
            f"cannot reach the W&B server at {base_url} ({reason}). Check the network, "
            "or WANDB_BASE_URL if you use your own W&B server.",
        ) from exc


def _child_open(state: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    import wandb
    from wandb.errors import UsageError

    timeout = float(request.get("timeout") or 20)
    from wandb.sdk import wandb_setup

    base_url = str(wandb_setup.singleton().settings.base_url).rstrip("/")
    _probe(base_url, min(PROBE_TIMEOUT, timeout))
    started = time.monotonic()
    try:
        api = wandb.Api(timeout=int(max(timeout, 1)))
    except UsageError as exc:
        raise ServerError(
            "no_api_key",
            f"not logged in to W&B ({exc}). Run `wandb login`, or set WANDB_API_KEY.",
        ) from exc
    except Exception as exc:
        waited = time.monotonic() - started
        kind = "unreachable" if "did not respond in time" in str(exc) else "auth"
        hint = (
            f"the server at {base_url} did not answer within {waited:.0f} s"
            if kind == "unreachable"
            else "check the API key (`wandb login --relogin`) and WANDB_BASE_URL"
        )
        raise ServerError(kind, f"W&B refused the login: {exc} ({hint})") from exc
    state["api"] = api
    try:
        default_entity = api.default_entity
    except Exception:  # a server without a viewer answer; the caller names the entity
        default_entity = None
    return {"base_url": api.settings["base_url"], "default_entity": default_entity}


def _refused(what: str, entity: str, project: str, exc: Exception) -> ServerError:
    return ServerError(
        "refused",
        f"W&B refused to {what} in {entity}/{project}: {exc}. Check --entity and "
        "--project: the entity must exist and your API key must be allowed to write to it.",
    )


def _child_create_sweep(state: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    from wandb.apis.public.sweeps import _upsert_sweep
    from wandb.sdk.wandb_sweep import _get_sweep_url

    api = state["api"]
    entity, project = request["entity"], request["project"]
    try:
        sweep, _warnings = _upsert_sweep(
            api,
            request["config"],
            entity=entity,
            project=project,
            prior_runs=request.get("prior_runs") or None,
        )
    except Exception as exc:
        raise _refused("create the sweep", entity, project, exc) from exc
    project_obj = sweep.get("project") or {}
    entity = (project_obj.get("entity") or {}).get("name") or entity
    project = project_obj.get("name") or project
    url = _get_sweep_url(
        base_url=api.settings["base_url"], entity=entity, project=project, sweep_id=sweep["name"]
    )
    return {"name": sweep["name"], "entity": entity, "project": project, "url": url or ""}


def _child_attach_prior_runs(state: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    from wandb.apis.public.sweeps import _sweep_with_runs, _upsert_sweep

    api = state["api"]
    entity, project = request["entity"], request["project"]
    try:
        found = _sweep_with_runs(api, request["name"], "{}", entity=entity, project=project)
        _upsert_sweep(
            api,
            request["config"],
            entity=entity,
            project=project,
            obj_id=found["id"],
            prior_runs=request["run_ids"],
        )
    except Exception as exc:
        raise _refused("attach prior runs to the sweep", entity, project, exc) from exc
    return {}


def _child_finish_sweep(state: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    from wandb.apis.public.sweeps import _set_sweep_state

    entity, project = request["entity"], request["project"]
    try:
        _set_sweep_state(state["api"], request["name"], "FINISHED", entity=entity, project=project)
    except Exception as exc:
        if "already finished" in str(exc).lower():
            return {}
        raise _refused("finish the sweep", entity, project, exc) from exc
    return {}


_CHILD_OPS = {
    "open": _child_open,
    "create_sweep": _child_create_sweep,
    "attach_prior_runs": _child_attach_prior_runs,
    "finish_sweep": _child_finish_sweep,
}


def _child_main(answer_fd: int) -> None:
    answers = os.fdopen(answer_fd, "w")
    state: dict[str, Any] = {}
    for line in sys.stdin:
        request = json.loads(line)
        try:
            answer = {"ok": True, **_CHILD_OPS[request["op"]](state, request)}
        except ServerError as exc:
            answer = {"ok": False, "kind": exc.kind, "message": str(exc)}
        except Exception as exc:  # wandb's own errors, said in one line to the parent
            answer = {"ok": False, "kind": "refused", "message": f"{type(exc).__name__}: {exc}"}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


if __name__ == "__main__":
    _child_main(int(sys.argv[1]))
