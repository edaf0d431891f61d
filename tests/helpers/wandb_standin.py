"""A stand-in for W&B's server on 127.0.0.1, for the sync tests and benchmark.

No real W&B server can run here (it is closed source and needs network and licences),
so these tests talk to this one instead. It answers, with the shapes wandb 0.31's
client reads, exactly the requests a ``wandb sync`` and ``wandb sweep``-style sweep
creation send (captured by running the real client against a recorder first):

- GraphQL (``POST /graphql``): ``UpsertSweep`` (creates a sweep under a name of its own
  choosing, or updates one by ``id``: state, prior runs), ``SweepWithRuns`` and
  ``GetSweepState`` (a sweep by name), ``UpsertBucket`` (a run; an unknown ``sweep``
  is answered 404 ``sweep ... not found``, as W&B's server does), ``CreateRunFiles``
  (upload URLs pointing back here), and the viewer/server-info queries the client
  asks first;
- ``RunResumeStatus``, which wandb sync asks before uploading the folder of a run that
  ``wandb.init`` was told to resume (a later attempt of a preempted run): for a run it
  has, what W&B's server answers (its history line count and last row, summary,
  config), from which wandb-core continues the run: its history lines go on at that
  line and its ``_step`` after the last one. The answer's shape is wandb's query
  (``core/api/graphql/query_run_resume_status.graphql``) and what wandb-core reads of
  it (``core/internal/runbranch/resume.go``, ``processresponse.go``);
- file_stream (``POST /files/<entity>/<project>/<run>/file_stream``): history, summary,
  console lines and the run's completion. Each chunk of lines is written at the line
  ``offset`` the client gives, as W&B's server stores them: a client that sends a
  resumed run's rows at offset 0 overwrites the first rows, as it would on W&B;
- uploads (``PUT /upload/...``): the run's files.

It records every request (:attr:`StandinServer.requests`) and keeps what reached it per
run (:attr:`StandinServer.runs`). Knobs make it refuse things the way a real server
would: an unknown entity, runs inside sweeps, one run's upload, or everything after a
number of runs (to interrupt a sync).
"""

from __future__ import annotations

import itertools
import json
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_OPERATION = re.compile(r"\b(?:query|mutation)\s+(\w+)")


@dataclass
class Recorded:
    """One request as it arrived."""

    method: str
    path: str
    operation: str | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    body: bytes = b""
    status: int = 200


@dataclass
class ServerRun:
    """What reached the server about one run."""

    id: str
    entity: str
    project: str
    sweep: str | None = None
    upserts: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    complete: bool = False
    exit_code: int | None = None
    config: str | None = None


@dataclass
class ServerSweep:
    """A sweep the server created."""

    id: str
    name: str
    entity: str
    project: str
    config: str
    state: str = "PENDING"
    prior_runs_filters: str | None = None


class StandinServer:
    """The stand-in W&B server: ``with StandinServer() as server: ...server.url...``.

    ``entities`` are the entities that exist (an upsert naming another one is refused
    with a 404, as W&B refuses an entity you cannot write to); ``refuse_sweep_runs``
    makes every run upsert that names a sweep fail with a 400 (a server that will not
    take runs into a sweep); ``fail_run_ids`` are runs whose upsert is answered as W&B
    answers a sweep it does not know (404 ``sweep ... not found``, which wandb does not
    retry); ``upload_delay`` holds each file upload that many seconds (so a test can
    interrupt a sync mid-way); ``refuse_prior_runs`` answers every sweep update that sets
    prior runs with a 400. Change the knobs between syncs to heal the server.
    """

    def __init__(
        self,
        *,
        entities: tuple[str, ...] = ("team",),
        refuse_sweep_runs: bool = False,
        fail_run_ids: tuple[str, ...] = (),
        upload_delay: float = 0.0,
    ):
        self.entities = set(entities)
        self.refuse_sweep_runs = refuse_sweep_runs
        self.fail_run_ids = set(fail_run_ids)
        self.upload_delay = upload_delay
        self.refuse_prior_runs = False
        #: Runs whose ``RunResumeStatus`` is answered 400 (a resumed folder's upload fails).
        self.refuse_resume_ids: set[str] = set()
        #: Runs whose upload stalls once: run id -> N. The file_stream request that would
        #: take the run past N history lines has its lines up to N stored, and is then
        #: held unanswered until the server stops: the server holds the run's first N rows
        #: and not its end, and wandb sync waits until ``--upload-timeout`` stops it, as
        #: on a network that went away mid-upload. The entry is removed as it fires: the
        #: next upload of the run goes through. (A file_stream answered 400 instead is not
        #: retried by wandb-core, which then marks the run synced all the same.)
        self.cut_history: dict[str, int] = {}
        self._stopped = threading.Event()
        self.requests: list[Recorded] = []
        self.runs: dict[str, ServerRun] = {}
        self.sweeps: dict[str, ServerSweep] = {}
        self._names = (f"srv{n:05d}" for n in itertools.count(1))
        self._lock = threading.Lock()
        self._httpd = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The base URL to give the client as ``WANDB_BASE_URL``."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> StandinServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> StandinServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----------------------------------------------------------------- what arrived

    def operations(self, name: str) -> list[Recorded]:
        """Every GraphQL request of operation ``name``, in order."""
        with self._lock:
            return [r for r in self.requests if r.operation == name]

    def created_sweeps(self) -> list[Recorded]:
        """The ``UpsertSweep`` requests that created a sweep (not updates by ``id``)."""
        return [r for r in self.operations("UpsertSweep") if not r.variables.get("id")]

    def completions(self, run_id: str) -> int:
        """How many file_stream requests marked run ``run_id`` complete."""
        with self._lock:
            requests = [r for r in self.requests if r.path.endswith(f"/{run_id}/file_stream")]
        return sum(1 for r in requests if json.loads(r.body or b"{}").get("complete"))

    def first_upserts(self) -> dict[str, dict[str, Any]]:
        """Each run's first ``UpsertBucket`` variables, by run id."""
        first: dict[str, dict[str, Any]] = {}
        for r in self.operations("UpsertBucket"):
            first.setdefault(r.variables.get("name") or "", r.variables)
        return first

    def uploaded_runs(self) -> set[str]:
        """Runs whose file_stream reached ``complete``."""
        with self._lock:
            return {run.id for run in self.runs.values() if run.complete}

    # --------------------------------------------------------------------- handling

    def _graphql(self, query: str, variables: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        op = _operation(query)
        if op == "UpsertSweep":
            return self._upsert_sweep(variables)
        if op in ("SweepWithRuns", "GetSweepState", "GetSweep", "GetSweepLegacy"):
            return self._get_sweep(variables)
        if op == "UpsertBucket":
            return self._upsert_bucket(variables)
        if op == "RunResumeStatus":
            return self._resume_status(variables)
        if op == "CreateRunFiles":
            run = variables.get("run") or ""
            files = [
                {"name": name, "uploadUrl": f"{self.url}/upload/{run}/{name}"}
                for name in variables.get("files") or []
            ]
            return 200, {
                "data": {"createRunFiles": {"runID": run, "uploadHeaders": [], "files": files}}
            }
        if "viewer" in query or "serverInfo" in query:
            viewer = {
                "id": "u1",
                "entity": sorted(self.entities)[0],
                "username": "tester",
                "email": "tester@example.com",
                "flags": "{}",
                "teams": {"edges": []},
            }
            return 200, {"data": {"viewer": viewer, "serverInfo": {"features": []}}}
        return 200, {"data": {}}

    def _upsert_sweep(self, v: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        entity = v.get("entityName") or sorted(self.entities)[0]
        project = v.get("projectName") or "uncategorized"
        if entity not in self.entities:
            return 404, _error(f"entity {entity} not found")
        if self.refuse_prior_runs and v.get("priorRunsFilters"):
            return 400, _error("prior runs refused")
        with self._lock:
            if v.get("id"):
                sweep = next((s for s in self.sweeps.values() if s.id == v["id"]), None)
                if sweep is None:
                    return 404, _error(f"sweep {v['id']} not found")
            else:
                name = next(self._names)
                sweep = ServerSweep(
                    id=f"U3dlZXA6{name}",
                    name=name,
                    entity=entity,
                    project=project,
                    config=v.get("config") or "",
                )
                self.sweeps[name] = sweep
            if v.get("state"):
                sweep.state = v["state"]
            if v.get("priorRunsFilters"):
                sweep.prior_runs_filters = v["priorRunsFilters"]
            body = {
                "name": sweep.name,
                "id": sweep.id,
                "project": {
                    "id": "p1",
                    "name": sweep.project,
                    "entity": {"id": "e1", "name": sweep.entity},
                },
            }
        return 200, {"data": {"upsertSweep": {"sweep": body, "configValidationWarnings": []}}}

    def _get_sweep(self, v: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        name = v.get("sweep") or v.get("name")
        with self._lock:
            sweep = self.sweeps.get(name or "")
            if sweep is None or sweep.project != v.get("project"):
                return 200, {"data": {"project": {"sweep": None}}}
            runs = [
                {"node": {"name": r.id, "state": "finished", "config": "{}"}}
                for r in self.runs.values()
                if r.sweep == sweep.name
            ]
            body = {
                "id": sweep.id,
                "name": sweep.name,
                "state": sweep.state,
                "config": sweep.config,
                "method": "grid",
                "runs": {"edges": runs},
                "runCount": len(runs),
            }
        return 200, {"data": {"project": {"sweep": body}}}

    def _upsert_bucket(self, v: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        run_id = v.get("name") or ""
        entity = v.get("entity") or sorted(self.entities)[0]
        project = v.get("project") or "uncategorized"
        sweep = v.get("sweep")
        if entity not in self.entities:
            return 404, _error(f"entity {entity} not found")
        with self._lock:
            if sweep and sweep not in self.sweeps:
                return 404, _error(f"sweep {sweep} not found")
            if sweep and self.refuse_sweep_runs:
                return 400, _error("runs cannot be added to a sweep this way")
            if run_id in self.fail_run_ids:
                return 404, _error(f"sweep {sweep} not found")
            run = self.runs.setdefault(run_id, ServerRun(run_id, entity, project))
            if sweep:
                run.sweep = sweep
            run.upserts.append(v)
            if v.get("config"):
                run.config = v["config"]
            bucket = {
                "id": f"UnVuOnYx{run_id}",
                "name": run_id,
                "displayName": v.get("displayName") or run_id,
                "description": "",
                "config": v.get("config") or "{}",
                "sweepName": run.sweep,
                "historyLineCount": len(run.history),
                "eventsLineCount": 0,
                "logLineCount": 0,
                "project": {"id": "p1", "name": project, "entity": {"id": "e1", "name": entity}},
            }
        return 200, {"data": {"upsertBucket": {"bucket": bucket, "inserted": True}}}

    def _resume_status(self, v: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        entity = v.get("entity") or sorted(self.entities)[0]
        if v.get("name") in self.refuse_resume_ids:
            return 400, _error("resume refused")
        with self._lock:
            run = self.runs.get(v.get("name") or "")
            if run is None or run.entity != entity or run.project != v.get("project"):
                bucket = None  # missingOk: a run the server does not have
            else:
                bucket = {
                    "id": f"UnVuOnYx{run.id}",
                    "name": run.id,
                    "displayName": run.id,
                    "summaryMetrics": json.dumps(run.summary),
                    "logLineCount": 0,
                    "historyLineCount": len(run.history),
                    "eventsLineCount": 0,
                    "historyTail": json.dumps([json.dumps(r) for r in run.history[-10:]]),
                    "eventsTail": "[]",
                    "config": run.config or "{}",
                    "tags": [],
                    "notes": None,
                    # What tells wandb-core that the run has started (runbranch/resume.go).
                    "wandbConfig": json.dumps({"t": 1}),
                }
        model = {"id": "p1", "name": v.get("project"), "entity": {"id": "e1", "name": entity}}
        return 200, {"data": {"model": {**model, "bucket": bucket}}}

    def _file_stream(self, path: str, body: dict[str, Any]) -> int:
        """Store a file_stream request; the HTTP status to answer (0: hold it)."""
        run_id = path.strip("/").split("/")[-2]
        with self._lock:
            run = self.runs.get(run_id)
            if run is None:
                return 200
            cut = self.cut_history.get(run_id)
            for name, chunk in (body.get("files") or {}).items():
                if name not in ("wandb-history.jsonl", "wandb-summary.json"):
                    continue  # console lines, system metrics
                lines = [json.loads(line) for line in chunk.get("content") or []]
                if name == "wandb-history.jsonl":
                    # Written at the client's line offset, as W&B stores them.
                    at = int(chunk.get("offset") or 0)
                    if cut is not None and at + len(lines) > cut:
                        run.history[at:cut] = lines[: max(0, cut - at)]
                        del self.cut_history[run_id]
                        return 0  # held: see cut_history
                    run.history[at : at + len(lines)] = lines
                elif name == "wandb-summary.json" and lines:
                    run.summary = lines[-1]
            if body.get("complete"):
                run.complete = True
                run.exit_code = body.get("exitcode")
        return 200

    def _upload(self, path: str, data: bytes) -> None:
        _, _, run_id, name = path.split("/", 3)
        with self._lock:
            run = self.runs.get(run_id)
            if run is not None:
                run.files[name] = data


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up (wandb-core at exit) are not the test's concern; a bug in
        # the stand-in is.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _error(message: str) -> dict[str, Any]:
    return {"errors": [{"message": message}], "data": None}


def _operation(query: str) -> str | None:
    match = _OPERATION.search(query)
    return match.group(1) if match else None


def _handler_for(server: StandinServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def _reply(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            record = Recorded("GET", self.path)
            with server._lock:
                server.requests.append(record)
            self._reply(200, {})

        def do_PUT(self) -> None:
            data = self._body()
            if server.upload_delay:
                time.sleep(server.upload_delay)
            with server._lock:
                server.requests.append(Recorded("PUT", self.path, body=data))
            if self.path.startswith("/upload/"):
                server._upload(self.path, data)
            self._reply(200, {})

        def do_POST(self) -> None:
            data = self._body()
            record = Recorded("POST", self.path, body=data)
            status, payload = 200, {}
            if self.path.startswith("/graphql"):
                request = json.loads(data or b"{}")
                record.operation = request.get("operationName") or _operation(
                    request.get("query") or ""
                )
                record.variables = request.get("variables") or {}
                status, payload = server._graphql(request.get("query") or "", record.variables)
            elif self.path.endswith("/file_stream"):
                if not server._file_stream(self.path, json.loads(data or b"{}")):
                    server._stopped.wait()  # a stalled upload (cut_history)
                    return
                payload = {"exitcode": None, "limits": {}}
            record.status = status
            with server._lock:
                server.requests.append(record)
            self._reply(status, payload)

    return Handler
