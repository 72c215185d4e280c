"""The route table: every HTTP route of the API, declared once with its method, path, role, body
schema and answers. The app's routes, the role each needs (roles.py), the paths open without a
credential, the check of request bodies (bodies.py) and the OpenAPI document (openapi.py) all come
from it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Literal, cast

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute, compile_path

from floe.server import api, artifacts, metrics, openapi, p2p, posted, reload, trigger_now, webhooks, ws
from floe.server.bodies import read
from floe.server.roles import PEER, PUBLIC
from floe.triggers.webhook import PATH as WEBHOOK_PATH

Endpoint = Callable[[Request], Awaitable[Response]]
Where = Literal["base", "root", "both"]  # under the API base, at the host's root, or both


@dataclass(frozen=True, slots=True)
class Query:
    name: str
    schema: Mapping[str, object]
    description: str


@dataclass(frozen=True, slots=True)
class Op:
    """One route. `answers` maps each success status to a schema name of schemas.py (or `text`,
    `binary`, `any`, `events`); `errors` are the error statuses it may answer (`{"error"}`); `body`
    names the schema a JSON body is checked against before the handler runs."""

    method: str  # GET, POST, DELETE, or WS for a websocket
    path: str
    endpoint: Endpoint | Callable[..., Awaitable[None]]
    role: str  # public, viewer, operator, admin, or peer (host-to-host: the admin token)
    summary: str
    answers: Mapping[int, str]
    errors: tuple[int, ...] = ()
    body: str = ""
    query: tuple[Query, ...] = ()
    where: Where = "base"
    optional_body: bool = False  # the body may be left out (then `{}`)
    raw_body: bool = False  # a body the handler reads itself (a webhook's payload)
    notes: str = ""  # more words for the OpenAPI document

    @property
    def internal(self) -> bool:
        return self.role == PEER


LIMIT = Query("limit", {"type": "integer", "minimum": 1, "maximum": 500}, "archive page size (50)")
BEFORE = Query("before", {"type": "number"}, "archive runs created before this (a page's next_before)")
WS_NOTES = (
    "Unauthenticated clients are closed with code 4401; clients that fall a whole queue behind "
    "with 4408 (too slow: reconnect and reload); a handshake from another origin is refused with 403."
)
WS_QUERY = (
    Query("run", {"type": "string"}, "only this run: its stored events first, then live ones"),
    Query("after", {"type": "integer"}, "with run: replay only events with seq greater than this"),
    Query("flow", {"type": "string"}, "only live events of this flow"),
    Query("tags", {"type": "string"}, "comma-separated tags: only events with one of them"),
)
RUN = "/flows/{flow}/runs/{run}"

OPS: tuple[Op, ...] = (
    Op("GET", "/healthz", api.healthz, PUBLIC, "Host health", {200: "Health"}, where="root"),
    Op("GET", "/metrics", metrics.endpoint, "viewer", "Prometheus metrics", {200: "text"}, where="both"),
    Op(
        "WS",
        "/ws",
        ws.stream,
        "viewer",
        "Event stream (websocket upgrade): one JSON Event per text frame, in order per run",
        {101: "events"},
        (403, 404),
        query=WS_QUERY,
        where="both",
        notes=WS_NOTES,
    ),
    Op(
        "POST",
        "/login",
        api.login,
        PUBLIC,
        "Log in; sets the floe-sesh cookie",
        {200: "Principal"},
        (400, 401, 429),
        body="Login",
    ),
    Op(
        "POST", "/logout", api.logout, "viewer", "End the session of the floe-sesh cookie", {200: "LoggedOut"}
    ),
    Op(
        "GET",
        "/me",
        api.me,
        "viewer",
        "Who the credential is: the dashboard hides what its role may not do",
        {200: "Principal"},
    ),
    Op("GET", "/flows", api.flows, "viewer", "Flows of this cluster", {200: "FlowList"}),
    Op(
        "GET",
        "/flows/{flow}",
        api.flow,
        "viewer",
        "One flow: tasks, triggers, graph",
        {200: "FlowDetail"},
        (404,),
    ),
    Op(
        "GET",
        "/flows/{flow}/runs",
        api.runs,
        "viewer",
        "Pending, active and archived runs (archive paged, newest first)",
        {200: "RunList"},
        (400, 404),
        query=(LIMIT, BEFORE),
    ),
    Op("GET", RUN, api.run, "viewer", "Run detail", {200: "RunDetail"}, (404,)),
    Op(
        "GET",
        RUN + "/nodes/{node}/log",
        api.node_log,
        "viewer",
        "A node's output, one line per line",
        {200: "text"},
        (404, 502),
    ),
    Op(
        "GET",
        RUN + "/artifacts/{node}/{path:path}",
        artifacts.download,
        "viewer",
        "Download a file a node kept (its path relative to the workspace), from any host",
        {200: "binary"},
        (404, 502, 503),
    ),
    Op(
        "POST",
        RUN + "/cancel",
        api.cancel,
        "operator",
        "Cancel a pending or active run",
        {202: "Cancelling"},
        (404, 409, 502),
    ),
    Op(
        "POST",
        RUN + "/rerun",
        api.rerun,
        "operator",
        "Re-run an ended run as a new run (with ?from=<node>: from that node on)",
        {202: "Rerun"},
        (400, 404, 409, 502),
        query=(Query("from", {"type": "string"}, "re-run from this node, keeping what ran before it"),),
    ),
    Op(
        "POST",
        "/flows/{flow}/triggers/{trigger}/run",
        trigger_now.endpoint,
        "operator",
        "Run now: fire a timer or poll-git trigger at once (operator); poll-git runs one watched ref at "
        "its current commit: body ref, else the repository's HEAD branch",
        {202: "RanNow"},
        (400, 404, 422),
        body="RunNowRequest",
        optional_body=True,
    ),
    Op("GET", "/stop", api.stopped, "viewer", "The stop switches in force", {200: "Stopped"}),
    Op(
        "POST",
        "/stop",
        api.stop,
        "admin",
        "Stop dispatching new runs (of one flow or all) on every host",
        {200: "Stopped"},
        (400, 404),
        body="StopRequest",
    ),
    Op(
        "POST",
        "/go",
        api.go,
        "admin",
        "Lift a stop switch on every host",
        {200: "Stopped"},
        (400, 404),
        body="StopRequest",
    ),
    Op(
        "GET",
        "/audit",
        api.audit,
        "viewer",
        "Who did what (log in, trigger, cancel, re-run, stop), cluster-wide, newest first",
        {200: "Audit"},
        (400,),
        query=(
            Query("limit", {"type": "integer", "minimum": 1, "maximum": 10000}, "entries (100)"),
            Query("flow", {"type": "string"}, "only entries about this flow"),
            Query("user", {"type": "string"}, "only entries by this user"),
        ),
    ),
    Op(
        "POST",
        "/config/reload",
        reload.endpoint,
        "admin",
        "Load the host config again (as SIGHUP does); on errors the running config is kept",
        {200: "Reloaded", 400: "ReloadFailed"},
    ),
    Op(
        "POST",
        "/retention/run",
        api.retention,
        "admin",
        "Apply the retention policy now on this host (admin): delete old archived runs and workspaces; "
        "it also runs after each archived run and every 10 minutes",
        {200: "Swept"},
    ),
    Op(
        "POST",
        WEBHOOK_PATH + "/{flow}/{trigger}",
        webhooks.endpoint,
        PUBLIC,  # the handler checks the trigger's signature or the API's own credentials
        "A webhook (git push) for a webhook trigger: signed with the trigger's secret, or sent with "
        "the API's credentials",
        {200: "WebhookAnswer", 202: "WebhookAnswer"},
        (400, 401, 403, 404, 422, 429),
        raw_body=True,
        notes="The body is the forge's push payload (JSON, or form-encoded with a payload field).",
    ),
    Op(
        "POST",
        "/push/data",
        api.push_data,
        "operator",
        "Trigger a data trigger, or (with Run) answer a data task of a run",
        {202: "Triggered", 200: "Answered"},
        (400, 403, 404, 422, 429, 502),
        body="PushData",
    ),
    Op(
        "GET",
        "/runs",
        api.all_runs,
        "viewer",
        "Pending, active and archived runs of every flow (archive paged, newest first)",
        {200: "RunList"},
        (400,),
        query=(LIMIT, BEFORE),
    ),
    Op(
        "POST",
        "/runs",
        posted.endpoint,
        "operator",  # the handler also checks common.posted-flows
        "Run a posted flow document (only where common.posted-flows allows it)",
        {202: "PostedRun"},
        (400, 403, 409),
        body="PostFlow",
    ),
    Op(
        "GET",
        "/runs/{run}",
        api.run_by_id,
        "viewer",
        "Run detail, by the run's id alone",
        {200: "RunDetail"},
        (404,),
    ),
    Op("GET", "/hosts", api.hosts, "viewer", "The cluster as this host sees it", {200: "HostList"}),
    Op("GET", "/openapi.json", openapi.endpoint, "viewer", "This document", {200: "any"}),
    # host-to-host (role peer): not part of the published document
    Op("GET", "/p2p/hello", p2p.hello, PEER, "Who this host is", {200: "Hello"}),
    Op(
        "POST",
        "/p2p/runs",
        p2p.offer,
        PEER,
        "Take a pend handed over",
        {200: "Offered"},
        (400, 403, 409),
        body="Offer",
    ),
    Op(
        "POST",
        "/p2p/runs/{run}/ended",
        p2p.ended,
        PEER,
        "A run handed over has ended",
        {200: "Ok"},
        (400,),
        body="Ended",
    ),
    Op(
        "POST",
        "/p2p/wake",
        p2p.wake,
        PEER,
        "Look at the pends again (the sender's load with it)",
        {200: "Ok"},
        (400,),
        body="Wake",
        optional_body=True,
    ),
    Op("GET", "/p2p/active", p2p.active, PEER, "The runs active on this host", {200: "Active"}),
    Op(
        "POST",
        "/p2p/locks",
        p2p.lock,
        PEER,
        "Reserve a run's resource tags",
        {200: "Ok"},
        (400, 409),
        body="LockRequest",
    ),
    Op("DELETE", "/p2p/locks/{run}", p2p.unlock, PEER, "Release a run's resource tags", {200: "Ok"}, (409,)),
)


def _endpoint(op: Op) -> Endpoint:
    """The op's handler, its body parsed and checked against the declared schema first."""
    handler, schema = cast(Endpoint, op.endpoint), op.body
    if not schema:
        return handler

    async def checked(request: Request) -> Response:
        await read(request, schema)
        return await handler(request)

    return checked


def starlette_routes(where: Literal["base", "root"]) -> list[BaseRoute]:
    """The routes to mount under the API base, or to serve at the host's root."""
    out: list[BaseRoute] = []
    for op in OPS:
        if op.where not in (where, "both"):
            continue
        if op.method == "WS":
            out.append(WebSocketRoute(op.path, op.endpoint))
        else:
            out.append(Route(op.path, _endpoint(op), methods=[op.method]))
    return out


def public_paths(base: str) -> Callable[[str], bool]:
    """Whether a full request path is a route of role public (no credential needed)."""
    paths = [f"{'' if op.where == 'root' else base}{op.path}" for op in OPS if op.role == PUBLIC]
    patterns = [compile_path(path)[0] for path in paths]
    return lambda path: any(p.match(path) for p in patterns)


def role_rules() -> list[tuple[str, str, str]]:
    """`(method, path relative to the base, role)` of every route (a websocket as GET)."""
    return [("GET" if op.method == "WS" else op.method, op.path, op.role) for op in OPS]
