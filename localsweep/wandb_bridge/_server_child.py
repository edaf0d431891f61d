"""The child process behind :class:`~localsweep.wandb_bridge._server.ServerSession`.

It holds a ``wandb.Api`` for one server and answers JSON-line requests from its parent
(one request per line on stdin, one answer per line on the file descriptor it is given):
log in, create, update and finish the server's sweep (wandb 0.31's code behind ``wandb
sweep``, ``wandb sweep -R`` and ``wandb sweep --stop``), and run ``wandb sync`` on staged
run folders with wandb's own sync code (``wandb.cli.beta_sync.sync``, what ``wandb sync``
calls once it has parsed its options). wandb-core, which does the uploading, is started
while the child logs in, so that a sync pays neither a second wandb start nor the core's.

Run as ``python -m localsweep.wandb_bridge._server_child ANSWER_FD PARENT_PID``; never
imported by the parent. Tested against wandb 0.31.0.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from localsweep.wandb_bridge._server import PROBE_TIMEOUT, ServerError


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


def _start_core(state: dict[str, Any]) -> None:
    """Start wandb-core on a thread of its own while the login goes on; a sync waits
    for it. A failure is kept and raised by the sync that needs the core."""
    from wandb.sdk import wandb_setup

    def start() -> None:
        try:
            wandb_setup.singleton().ensure_service()
        except Exception as exc:  # raised again by the sync that needs it
            state["core_error"] = exc

    thread = threading.Thread(target=start, name="wandb-core-start", daemon=True)
    thread.start()
    state["core_thread"] = thread


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
    if request.get("start_core"):
        _start_core(state)
    default_entity = None
    if request.get("ask_entity", True):
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


def _child_sync(state: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    """``wandb sync --no-include-synced -e E -p P -n N FOLDERS``, by wandb's own code, with
    everything it prints (its ERROR lines name the runs it could not upload) returned."""
    from wandb.cli import beta_sync

    thread = state.get("core_thread")
    if thread is not None:
        thread.join()
    if state.get("core_error") is not None:
        raise ServerError("refused", f"wandb-core did not start: {state['core_error']}")
    with tempfile.TemporaryFile(mode="w+b") as out:
        sys.stdout.flush()
        sys.stderr.flush()
        saved = os.dup(1), os.dup(2)
        os.dup2(out.fileno(), 1)
        os.dup2(out.fileno(), 2)
        try:
            beta_sync.sync(
                [Path(p) for p in request["paths"]],
                live=False,
                entity=request["entity"],
                project=request["project"],
                run_id="",
                job_type="",
                replace_tags="",
                dry_run=False,
                skip_confirmation=True,
                skip_synced=True,
                skip_online=True,
                verbose=False,
                parallelism=int(request["parallel"]),
            )
            failure = ""
        except Exception as exc:  # wandb sync's own failure: said in its output, as the CLI does
            failure = f"\nERROR {type(exc).__name__}: {exc}\n"
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
        out.seek(0)
        output = out.read().decode(errors="replace") + failure
    return {"output": output}


_CHILD_OPS = {
    "open": _child_open,
    "create_sweep": _child_create_sweep,
    "attach_prior_runs": _child_attach_prior_runs,
    "finish_sweep": _child_finish_sweep,
    "sync": _child_sync,
}


def _exit_with_parent(parent: int) -> None:
    """End this process when its parent is gone (killed, say): nobody would read its
    answers, and a sync in it would go on uploading in the background. wandb-core, which
    watches this process, ends with it."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _child_main(answer_fd: int, parent: int) -> None:
    _exit_with_parent(parent)
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
    # The parent's pid comes from the parent: one that died while this child imported
    # would otherwise be taken for init, and watched for ever.
    _child_main(int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else os.getppid())
