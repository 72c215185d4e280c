"""The dashboard's pages (`/app/...`): jinja2 shells that the ES modules under `/static/` fill in."""

from __future__ import annotations

import hashlib
from importlib.resources import files
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from floe.server.cluster_view import locate
from floe.server.context import Context, caller

WEBAPP = Path(str(files("floe.webapp")))  # webapp/ in the tree, floe/webapp/ in an installed wheel
STATIC = WEBAPP / "static"
TEMPLATES = WEBAPP / "templates"

# Pages load only same-origin scripts, styles and sockets; nothing inline, no framing.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}

env = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=select_autoescape(enabled_extensions=("html",), default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _version() -> str:
    """A short hash of the static assets, appended to their URLs so a new release is never stale."""
    h = hashlib.sha256()
    for p in sorted(STATIC.rglob("*")):
        if p.is_file():
            h.update(p.name.encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:10]


VERSION = _version()


class Static(StaticFiles):
    """Static assets, revalidated on every use (cheap 304s) so modules never go stale."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", []).append((b"cache-control", b"no-cache"))
                message["headers"].append((b"x-content-type-options", b"nosniff"))
            await send(message)

        await super().__call__(scope, receive, send_with_headers)


def _ctx(request: Request) -> Context:
    c: Context = request.app.state.floe
    return c


def render(request: Request, template: str, *, status: int = 200, **values: Any) -> HTMLResponse:
    c = _ctx(request)
    base = c.config().common.base_url.rstrip("/") or "/build/api"
    principal = request.scope.get("state", {}).get("principal")  # None on the login page
    defaults: dict[str, Any] = {
        "user": str(getattr(principal, "user", "")),
        "role": str(getattr(principal, "role", "")),
        "base": base,
        "v": VERSION,
        "host": c.hub.host.id,
        "flow": "",
        "run": "",
        "authed": True,
        "title": "floe",
    }
    html = env.get_template(template).render(**(defaults | values))
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


async def home(request: Request) -> Response:
    return RedirectResponse("/app/dash", status_code=302)


def same_origin_path(target: str, default: str = "/app/dash") -> str:
    """`target` if a browser can only read it as a path of this host, else `default`: printable
    ASCII without a backslash, one leading `/`. (Browsers drop tabs and newlines anywhere, and read
    `//`, `/\\` and `\\` as the start of another host's address.)"""
    printable = all("!" <= ch <= "~" and ch != "\\" for ch in target)
    if not printable or not target.startswith("/") or target.startswith("//"):
        return default
    return target


async def login(request: Request) -> Response:
    nxt = same_origin_path(request.query_params.get("next", ""))
    return render(request, "login.html", page="login", title="Log in", authed=False, next=nxt)


async def dash(request: Request) -> Response:
    return render(request, "dash.html", page="dash", title="Dashboard")


async def flow(request: Request) -> Response:
    flow_id = request.path_params["flow"]
    f = _ctx(request).config().flow(flow_id, None)
    if f is None:
        return not_found(request, f"There is no flow {flow_id!r}.")
    return render(request, "flow.html", page="flow", title=f.name or f.id, flow=f.id, flow_name=f.name)


async def run(request: Request) -> Response:
    flow_id, run_id = request.path_params["flow"], request.path_params["run"]
    found = await locate(_ctx(request), run_id, caller(request))  # here or on any host
    view = found.view()
    if view is None or view["flow"] != flow_id:
        return not_found(request, found.missing(f"Flow {flow_id!r} has no run {run_id!r}") + ".")
    f = _ctx(request).config().flow(flow_id, None)
    name = (f.name if f is not None else "") or flow_id
    return render(
        request, "run.html", page="run", title=f"{name} {run_id}", flow=flow_id, run=run_id, flow_name=name
    )


async def audit(request: Request) -> Response:
    return render(request, "audit.html", page="audit", title="Audit trail")


def not_found(request: Request, message: str) -> HTMLResponse:
    return render(request, "missing.html", status=404, page="missing", title="Not found", message=message)


async def missing(request: Request) -> Response:
    return not_found(request, f"Nothing lives at {request.url.path}.")


async def favicon(request: Request) -> Response:
    return FileResponse(
        STATIC / "favicon.svg", media_type="image/svg+xml", headers={"cache-control": "public, max-age=86400"}
    )


def page_routes() -> list[BaseRoute]:
    return [
        Route("/", home),
        Route("/app", home),
        Route("/app/", home),
        Route("/app/login", login),
        Route("/app/dash", dash),
        Route("/app/audit", audit),
        Route("/app/flows/{flow}", flow),
        Route("/app/flows/{flow}/runs/{run}", run),
        Route("/app/{rest:path}", missing),
        Route("/favicon.ico", favicon),
        Mount("/static", app=Static(directory=STATIC), name="static"),
    ]
