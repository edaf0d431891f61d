"""The ``localsweep ui`` web application, on Starlette (an ASGI toolkit that is small,
typed and well kept, with a test client; served by uvicorn).

Safety, by default: the server binds to 127.0.0.1 and accepts only requests whose
``Host`` is a loopback name or the loopback ``--host`` it was bound to (so a web page
elsewhere cannot reach it through DNS rebinding). Off loopback it requires a token,
printed at start: the first visit with ``?token=...`` sets a cookie, as Jupyter does.
Control actions are POSTs that must carry the page's CSRF token in a header (a cross-site
form cannot send one) and come from the page's own origin. ``read_only`` drops the
controls.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from localsweep._api_state import shown_state, state_word
from localsweep.api import Api
from localsweep.errors import LocalsweepError, NotFoundError
from localsweep.report._html import _e
from localsweep.report._page import render_page
from localsweep.store import Store
from localsweep.ui._live import LiveSweeps
from localsweep.ui._pages import index_page, run_page

__all__ = ["CONTROL_ACTIONS", "UiSettings", "create_app"]

logger = logging.getLogger(__name__)

CONTROL_ACTIONS = ("pause", "resume", "stop", "cancel")
_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}
_COOKIE = "localsweep_token"
#: Milliseconds between two polls of a live page.
POLL_MS = 1000


@dataclass
class UiSettings:
    """How the server behaves: ``token`` (``None``: none needed), ``read_only`` (no
    controls), ``loopback_only`` (refuse requests for other host names than localhost's
    and ``host``'s), ``host`` (the loopback address or name the server was bound to, as
    ``--host`` gave it: the printed URL names it)."""

    token: str | None = None
    read_only: bool = False
    loopback_only: bool = True
    host: str | None = None
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    @cached_property
    def host_names(self) -> frozenset[str]:
        """The ``Host`` names answered with ``loopback_only``."""
        names = set(_LOOPBACK_NAMES)
        if self.host:
            name = self.host.lower()
            names.add(f"[{name}]" if ":" in name and not name.startswith("[") else name)
        return frozenset(names)


def _host_name(host_header: str) -> str:
    if host_header.startswith("["):
        return host_header[: host_header.find("]") + 1]
    return host_header.rsplit(":", 1)[0] if ":" in host_header else host_header


class _Guard:
    """Refuses requests for foreign host names and, with a token, unauthenticated ones."""

    def __init__(self, app: ASGIApp, settings: UiSettings):
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        host = _host_name(request.headers.get("host", ""))
        if self.settings.loopback_only and host.lower() not in self.settings.host_names:
            answered = "localhost" + (f" and {self.settings.host}" if self.settings.host else "")
            await _text(403, f"this server answers only to {answered}, not {host!r}")(
                scope, receive, send
            )
            return
        token = self.settings.token
        if token is not None:
            given = request.query_params.get("token")
            if given is not None and hmac.compare_digest(given, token):
                target = request.url.remove_query_params("token")
                response = RedirectResponse(str(target.path) or "/", status_code=303)
                response.set_cookie(_COOKIE, token, httponly=True, samesite="strict")
                await response(scope, receive, send)
                return
            held = request.cookies.get(_COOKIE) or ""
            auth = request.headers.get("authorization", "")
            if auth.lower().startswith("token "):
                held = auth[6:].strip()
            if not hmac.compare_digest(held, token):
                await _text(
                    403,
                    "This localsweep ui needs its token: open the URL with ?token=... that "
                    "`localsweep ui` printed when it started.",
                )(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _text(status: int, message: str) -> Response:
    return HTMLResponse(f"<!DOCTYPE html><title>{status}</title><p>{_e(message)}</p>", status)


@dataclass
class _Ui:
    store: Store
    settings: UiSettings

    @cached_property
    def live(self) -> LiveSweeps:
        return LiveSweeps(self.store)

    @cached_property
    def api(self) -> Api:
        return Api(store=self.store)

    def nav(self, prefix: str) -> str:
        return f'<nav><a href="{prefix}">all sweeps</a></nav>'

    # ------------------------------------------------------------------ pages

    def index(self, request: Request) -> Response:
        return HTMLResponse(index_page(self.live.sweeps(), nav=self.nav("./")))

    def sweep(self, request: Request) -> Response:
        sweep_id = request.path_params["sweep_id"]
        view = self.live.first_view(sweep_id)
        controls = "" if self.settings.read_only else _controls_html()
        head = f'<meta name="localsweep-csrf" content="{_e(self.settings.csrf)}">'
        scripts = f"<script>{_live_js(sweep_id)}</script>"
        page = render_page(
            view,
            footer='localsweep ui · <span id="live-status">live</span>',
            head=head,
            before_body=self.nav("../") + controls,
            scripts=scripts,
        )
        return HTMLResponse(page)

    def run(self, request: Request) -> Response:
        run = self.api.run(request.path_params["run_id"])
        nav = (
            f'<nav><a href="../">all sweeps</a><a href="../sweeps/{_e(run.sweep_id)}">sweep '
            f"{_e(run.sweep_id)}</a></nav>"
        )
        config = self.api.sweep(run.sweep_id).parsed_config
        objectives = config.metrics if config.is_multi_objective else ()
        return HTMLResponse(
            run_page(run, nav=nav, plotly_src="../static/plotly.min.js", objectives=objectives)
        )

    # ------------------------------------------------------------------ data

    def update(self, request: Request) -> Response:
        sweep_id = request.path_params["sweep_id"]
        since = request.query_params.get("since")
        return JSONResponse(self.live.update(sweep_id, since))

    async def control(self, request: Request) -> Response:
        if self.settings.read_only:
            return JSONResponse({"error": "this server is read-only (--read-only)"}, 403)
        csrf = request.headers.get("x-localsweep-csrf", "")
        if not hmac.compare_digest(csrf, self.settings.csrf):
            return JSONResponse({"error": "missing or wrong CSRF token"}, 403)
        origin = request.headers.get("origin")
        if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
            return JSONResponse({"error": f"cross-site request from {origin} refused"}, 403)
        try:
            body: Any = await request.json()
        except ValueError:
            body = None
        action = body.get("action") if isinstance(body, dict) else None
        if action not in CONTROL_ACTIONS:
            return JSONResponse(
                {"error": f"action must be one of {', '.join(CONTROL_ACTIONS)}"}, 400
            )
        sweep_id = request.path_params["sweep_id"]
        from starlette.concurrency import run_in_threadpool

        def where(r: Any) -> tuple[Any, ...]:  # what a control changes, as the CLI's
            return r.state, r.finished_reason, r.finished_at

        try:
            before = await run_in_threadpool(self.store.get_sweep, sweep_id)
            record = await run_in_threadpool(self.store.control_sweep, sweep_id, action)
        except NotFoundError as exc:
            return JSONResponse({"error": str(exc)}, 404)
        except LocalsweepError as exc:
            return JSONResponse({"error": str(exc)}, 409)
        shown = shown_state(record.state, record.finished_reason)
        word = state_word(record.state)
        said = f"sweep {shown}"
        if where(before) == where(record):
            # As `localsweep stop` on an ended sweep says: what was asked holds already.
            ended = word in ("finished", "canceled")
            said = (
                f"sweep {'had already ended (' + shown + ')' if ended else 'was already ' + shown}"
            )
            said += ": nothing changed"
        return JSONResponse({"state": word, "shown": shown, "action": action, "said": said})

    def plotly(self, request: Request) -> Response:
        return Response(
            _plotly_js(),
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=86400"},
        )


_PLOTLY: list[str] = []


def _plotly_js() -> str:
    """plotly.js from the installed plotly package: nothing is fetched from the internet."""
    if not _PLOTLY:
        from plotly.offline import get_plotlyjs

        _PLOTLY.append(get_plotlyjs())
    return _PLOTLY[0]


def _controls_html() -> str:
    buttons = "".join(
        f'<button type="button" data-action="{a}"{" class=danger" if a == "cancel" else ""}>'
        f"{a}</button>"
        for a in CONTROL_ACTIONS
    )
    return f'<div class="controls" id="controls">{buttons}<span id="control-status"></span></div>'


def _live_js(sweep_id: str) -> str:
    from localsweep.report._html import embed_json

    return f"""
(function () {{
  var sweepId = {embed_json(sweep_id)};
  var status = document.getElementById("live-status");
  var page = window.localsweepPage;
  page.setRunLink("../runs/");
  page.sortBy(0, -1);  // newest runs first, as W&B lists them
  // plotly (4.6 MB of JavaScript) loads after the first paint: the overview and the runs
  // table show at once, the plots when it is there.
  requestAnimationFrame(function () {{
    setTimeout(function () {{
      var script = document.createElement("script");
      script.src = "../static/plotly.min.js";
      script.onload = function () {{ window.__localsweepPlotlyLoaded(); }};
      script.onerror = function () {{ window.__localsweepError("plotly.min.js did not load"); }};
      document.body.appendChild(script);
    }}, 0);
  }});
  var busy = false;
  function poll() {{
    if (busy) {{ return; }}
    busy = true;
    fetch("../api/sweeps/" + encodeURIComponent(sweepId) + "/update?since=" +
          encodeURIComponent(page.version() || ""), {{credentials: "same-origin"}})
      .then(function (r) {{
        if (!r.ok) {{ throw new Error("update failed: HTTP " + r.status); }}
        return r.json();
      }})
      .then(function (update) {{
        status.textContent = "live, updated " + new Date().toLocaleTimeString();
        if (update.unchanged) {{ return; }}
        return page.apply(update).then(function () {{
          document.body.setAttribute("data-updates",
            String(Number(document.body.getAttribute("data-updates") || "0") + 1));
        }});
      }})
      .then(function () {{
        document.body.setAttribute("data-polls",
          String(Number(document.body.getAttribute("data-polls") || "0") + 1));
      }})
      .catch(function (err) {{ status.textContent = "not live: " + err.message; }})
      .then(function () {{ busy = false; }});
  }}
  poll();
  setInterval(poll, {POLL_MS});

  var csrf = document.querySelector('meta[name="localsweep-csrf"]');
  var said = document.getElementById("control-status");
  Array.prototype.forEach.call(document.querySelectorAll("#controls button"), function (b) {{
    b.addEventListener("click", function () {{
      var action = b.getAttribute("data-action");
      if (action === "cancel" &&
          !window.confirm("Cancel the sweep? Its running runs are stopped now.")) {{ return; }}
      fetch("../api/sweeps/" + encodeURIComponent(sweepId) + "/control", {{
        method: "POST", credentials: "same-origin",
        headers: {{"Content-Type": "application/json",
                   "X-Localsweep-CSRF": csrf ? csrf.content : ""}},
        body: JSON.stringify({{action: action}})
      }}).then(function (r) {{ return r.json(); }}).then(function (answer) {{
        said.textContent = answer.error ? answer.error : answer.said;
        document.body.setAttribute("data-control", answer.error ? "error" : answer.state);
        poll();
      }});
    }});
  }});
}})();
"""


def create_app(store: Store, settings: UiSettings | None = None) -> Starlette:
    """The ASGI application of ``localsweep ui`` over ``store``."""
    settings = settings or UiSettings()
    ui = _Ui(store, settings)

    async def not_found(request: Request, exc: Exception) -> Response:
        return _text(404, str(exc))

    routes = [
        Route("/", ui.index),
        Route("/sweeps/{sweep_id}", ui.sweep),
        Route("/runs/{run_id}", ui.run),
        Route("/api/sweeps/{sweep_id}/update", ui.update),
        Route("/api/sweeps/{sweep_id}/control", ui.control, methods=["POST"]),
        Route("/static/plotly.min.js", ui.plotly),
    ]
    return Starlette(
        routes=routes,
        middleware=[Middleware(_Guard, settings=settings)],
        exception_handlers={NotFoundError: not_found},
    )
