"""The OpenAPI 3.1 description of the HTTP API, written by hand and checked against real answers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

S = dict[str, Any]

RUN_STATUS = ["pending", "running", "waiting", "good", "bad", "cancelled"]
NODE_STATUS = ["", "running", "waiting", "finished", "cancelled"]


def ref(name: str) -> S:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(props: dict[str, S], required: list[str] | None = None, *, extra: bool = True) -> S:
    """An object schema; every property is required unless `required` names them. Objects stay open
    to new keys (clients must ignore what they do not know)."""
    return {
        "type": "object",
        "properties": props,
        "required": list(props) if required is None else required,
        "additionalProperties": extra,
    }


def arr(items: S) -> S:
    return {"type": "array", "items": items}


STR: S = {"type": "string"}
INT: S = {"type": "integer"}
NUM: S = {"type": "number"}
BOOL: S = {"type": "boolean"}
TIME: S = {"type": ["number", "null"], "description": "seconds since the epoch"}
ANY_OBJ: S = {"type": "object", "additionalProperties": True}

_RUN_SUMMARY = {
    "run_id": STR,
    "flow": STR,
    "ver": INT,
    "status": {"type": "string", "enum": RUN_STATUS},
    "exec_host": STR,
    "trigger": STR,
    "created": NUM,
    "started": TIME,
    "ended": TIME,
    "pending_reason": STR,
    "reason": STR,
    "by": {**STR, "description": "who or what triggered the run (its audit trail's trigger entry)"},
    "branch": {**STR, "description": "the run's `branch` or `ref` value, or empty"},
    "commit": {**STR, "description": "its `hash` or `commit` value or a git checkout's hash, or empty"},
}
_FLOW_SUMMARY = {
    "id": STR,
    "ver": INT,
    "name": STR,
    "host_tags": arr(STR),
    "resource_tags": arr(STR),
    "triggers": arr(ref("Trigger")),
}
_EDGE = obj({"from": STR, "to": STR, "tag": STR})

SCHEMAS: dict[str, S] = {
    "Error": obj({"error": STR, "field": STR}, ["error"]),
    "Health": obj({"host": STR, "tags": arr(STR), "ok": BOOL}),
    "Login": obj({"user": STR, "password": STR}),
    "Principal": obj({"user": STR, "role": STR}),
    "LoggedOut": obj({"ok": BOOL}),
    "Field": obj(
        {
            "id": STR,
            "prompt": STR,
            "type": {"type": "string", "enum": ["string", "int", "bool", "choice"]},
            "required": BOOL,
            "regex": {"type": ["string", "null"]},
            "options": arr(STR),
            "default": {"type": ["string", "integer", "boolean", "number", "null"]},
        }
    ),
    "Form": obj({"title": STR, "fields": arr(ref("Field"))}),
    "Trigger": obj(
        {
            "id": STR,
            "name": STR,
            "type": STR,
            "form": ref("Form"),
            "webhook": {
                "description": "webhook triggers: the path (under the API base) to give the git host",
                **obj({"path": STR, "secret": {**BOOL, "description": "whether a secret is configured"}}),
            },
            "status": {
                "type": ["object", "null"],
                "description": "flow detail only: what the trigger did (timers, pollers, webhooks)",
                "properties": {
                    "type": STR,
                    "last_fire": TIME,
                    "last_run": STR,
                    "next_fire": TIME,
                    "last_error": STR,
                    "last_error_at": TIME,
                    "fires": INT,
                },
            },
        },
        ["id", "name", "type"],
    ),
    "FlowSummary": obj(_FLOW_SUMMARY),
    "FlowList": obj({"flows": arr(ref("FlowSummary"))}),
    "Task": obj(
        {
            "id": STR,
            "name": STR,
            "class": {"type": "string", "enum": ["task", "merge"]},
            "type": STR,
            "listen": STR,
            "wait": arr(STR),
            "fields": arr(ref("Field")),
        },
        ["id", "name", "class", "type"],
    ),
    "Edge": _EDGE,
    "FlowDetail": obj(
        {
            **_FLOW_SUMMARY,
            "reuse_space": BOOL,
            "flow_file": STR,
            "tasks": arr(ref("Task")),
            "levels": arr(arr(STR)),
            "edges": arr(ref("Edge")),
            "warnings": arr(STR),
        }
    ),
    "RunSummary": obj(
        {
            **_RUN_SUMMARY,
            "status": {
                "type": "string",
                "enum": [*RUN_STATUS, "unreadable"],
                "description": "unreadable: the run's stored record cannot be read (see error)",
            },
            "error": {**STR, "description": "why the run's stored record cannot be read"},
        },
        list(_RUN_SUMMARY),
    ),
    "RunList": obj(
        {
            "pending": arr(ref("RunSummary")),
            "active": arr(ref("RunSummary")),
            "archive": arr(ref("RunSummary")),
            "next_before": {"type": ["number", "null"], "description": "pass as `before` for the next page"},
            "partial": {**arr(STR), "description": "hosts that did not answer: the lists may miss runs"},
        },
        ["pending", "active", "archive", "next_before"],
    ),
    "RunNode": obj(
        {
            "id": STR,
            "name": STR,
            "class": STR,
            "type": STR,
            "status": {"type": "string", "enum": NODE_STATUS},
            "result": {"type": "string", "enum": ["", "good", "bad", "error"]},
            "exit_status": {"type": ["integer", "null"]},
            "started": TIME,
            "stopped": TIME,
            "attempts": INT,
            "tries": {**arr(ANY_OBJ), "description": "each earlier attempt of a retried task"},
            "reason": STR,
            "outputs": {**ANY_OBJ, "description": "what the task published ($FLOE_OUTPUT, http answers)"},
            "artifacts": {**arr(ref("Artifact")), "description": "files kept with the run"},
            "waits": arr(STR),
            "values": ANY_OBJ,
            "fields": arr(ref("Field")),
            "title": {"type": "string", "description": "a data task's form title"},
            "resolvers": {"type": "string", "description": "who may answer a data task (empty: anyone)"},
        },
        [
            "id",
            "name",
            "class",
            "type",
            "status",
            "result",
            "exit_status",
            "started",
            "stopped",
            "attempts",
            "reason",
        ],
    ),
    "RunDetail": obj(
        {
            **_RUN_SUMMARY,
            "name": STR,
            "values": ANY_OBJ,
            "rerun_of": {"type": "string", "description": "the run this one re-runs, or empty"},
            "from_node": {"type": "string", "description": "the node a partial re-run started from"},
            "workspace_from": {
                "type": "string",
                "description": "the run whose workspace a partial re-run copied",
            },
            "audit": {**arr(ref("AuditEntry")), "description": "who triggered, answered, cancelled it"},
            "nodes": arr(ref("RunNode")),
            "levels": arr(arr(STR)),
            "edges": arr(ref("Edge")),
            "posted_document": {"type": "string", "description": "a posted run's flow document (else empty)"},
            "partial": {
                **arr(STR),
                "description": "hosts that could not be asked: the detail is what this host last knew",
            },
        }
    ),
    "Cancelling": obj({"run_id": STR, "cancelling": BOOL}),
    "PushData": obj(
        {
            "Ref": obj({"ID": STR, "Ver": INT}, ["ID"]),
            "Run": {"type": "string", "description": "answer a data task of this run instead of triggering"},
            "Form": obj({"ID": STR, "Values": ANY_OBJ}, ["ID"]),
        },
        ["Ref", "Form"],
    ),
    "Triggered": obj({"run_id": STR}),
    "PostFlow": obj(
        {
            "flow": {"type": "string", "description": "a flow document's YAML text (id, tasks)"},
            "values": ANY_OBJ,
        },
        ["flow"],
    ),
    "PostedRun": obj({"run_id": STR, "flow": STR}),
    "Artifact": obj({"path": STR, "size": INT, "sha256": STR}),
    "Answered": obj({"run_id": STR, "ok": BOOL}),
    "Host": obj(
        {
            "id": STR,
            "address": STR,
            "tags": arr(STR),
            "online": BOOL,
            "active_runs": INT,
            "error": STR,
            "last_seen": {"type": ["number", "null"]},
            "lock_host": BOOL,
        },
        ["id", "address", "tags", "online", "active_runs"],
    ),
    "AuditEntry": obj(
        {
            "at": NUM,
            "by": STR,
            "action": STR,
            "flow": STR,
            "run_id": STR,
            "detail": STR,
            "host": STR,
            "seq": INT,
        }
    ),
    "Audit": obj({"entries": arr(ref("AuditEntry")), "partial": arr(STR)}, ["entries"]),
    "Reloaded": obj({"flows": arr(STR), "warnings": arr(STR)}),
    "ReloadFailed": obj({"error": STR, "problems": arr(STR)}, ["error"]),
    "WebhookAnswer": obj({"started": BOOL, "run_id": STR, "reason": STR, "error": STR, "policy": STR}, []),
    "Rerun": obj({"run_id": STR, "rerun_of": STR, "from": STR}),
    "RunNowRequest": obj(
        {"ref": {"type": "string", "description": "poll-git: the branch, tag or full ref to run"}}, []
    ),
    "RanNow": obj({"run_id": STR, "trigger": STR}),
    "StopRequest": obj(
        {
            "flow": {"type": "string", "description": "a flow id, or * (default) for all"},
            "reason": STR,
            "cancel": {"type": "boolean", "description": "also cancel the active runs it covers"},
        },
        [],
    ),
    "Stopped": obj(
        {
            "stopped": {"type": "object", "additionalProperties": STR, "description": "scope -> reason"},
            "cancelled": arr(STR),
            "hosts": arr(STR),
            "unreachable": arr(STR),
        },
        ["stopped"],
    ),
    "Swept": obj(
        {
            "runs": {"type": "integer", "description": "archived runs deleted, with their events and logs"},
            "workspaces": {"type": "integer", "description": "workspace directories deleted"},
            "failed": {"type": "integer", "description": "deletions that failed (logged, tried again later)"},
        },
        ["runs", "workspaces", "failed"],
    ),
    "HostList": obj({"hosts": arr(ref("Host"))}),
    "Event": obj(
        {
            "run_id": STR,
            "flow": STR,
            "source_node": STR,
            "tag": STR,
            "good": BOOL,
            "opts": ANY_OBJ,
            "seq": {"type": "integer", "description": "strictly increasing per run"},
            "at": NUM,
        }
    ),
}


def _json(schema: str, description: str) -> S:
    return {"description": description, "content": {"application/json": {"schema": ref(schema)}}}


def _json_any() -> S:
    return {"description": "JSON", "content": {"application/json": {"schema": ANY_OBJ}}}


def _err(*codes: int) -> dict[str, S]:
    text = {
        400: "bad request (`field` names the bad input)",
        401: "not authenticated",
        404: "not found",
        403: "the user's role may not do this, or a browser sent it from another origin",
        409: "conflict with the run's state",
        413: "body larger than common.max-body (webhooks, host-to-host: 25 MiB)",
        415: "a body that is not Content-Type: application/json",
        422: "the payload cannot start a run",
        429: "too many failed logins: wait Retry-After seconds",
    }
    return {str(c): _json("Error", text[c]) for c in codes}


def _op(
    summary: str,
    responses: dict[str, S],
    *,
    params: Sequence[str] = (),
    query: Sequence[S] = (),
    body: str = "",
    auth: bool = True,
) -> S:
    op: S = {"summary": summary, "responses": {**responses, **(_err(401) if auth else {})}}
    ps = [{"name": p, "in": "path", "required": True, "schema": STR} for p in params] + list(query)
    if ps:
        op["parameters"] = ps
        op["responses"].setdefault("400", _json("Error", "an id in the path breaks the id rule"))
    if body:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": ref(body)}}}
    if not auth:
        op["security"] = []
    return op


def _q(name: str, schema: S, description: str) -> S:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def spec(base: str) -> S:
    """The document for an API mounted at `base` (e.g. /build/api)."""
    run = f"{base}/flows/{{flow}}/runs/{{run}}"
    text = {"description": "Prometheus text format", "content": {"text/plain": {"schema": STR}}}
    ws = _op(
        "Event stream (websocket upgrade): one JSON Event per text frame, in order per run",
        {"101": {"description": "switching protocols; then Event messages (schema Event)"}},
        query=[
            _q("run", STR, "only this run: its stored events first, then live ones"),
            _q("after", INT, "with run: replay only events with seq greater than this"),
            _q("flow", STR, "only live events of this flow"),
            _q("tags", STR, "comma-separated tags: only events with one of them"),
        ],
    )
    ws["responses"].update(_err(403))
    ws["responses"]["404"] = _json("Error", "a plain GET: not a websocket upgrade")
    ws["description"] = (
        "Unauthenticated clients are closed with code 4401; clients that fall a whole queue behind "
        "with 4408 (too slow: reconnect and reload); a handshake from another origin is refused with 403."
    )
    paths: dict[str, S] = {
        "/healthz": {"get": _op("Host health", {"200": _json("Health", "this host")}, auth=False)},
        "/metrics": {"get": _op("Prometheus metrics", {"200": text})},
        "/ws": {"get": ws},
        f"{base}/login": {
            "post": _op(
                "Log in; sets the floe-sesh cookie",
                {
                    "200": _json("Principal", "logged in"),
                    **_err(400, 401),
                    "429": {
                        **_err(429)["429"],
                        "headers": {"Retry-After": {"schema": INT, "description": "seconds to wait"}},
                    },
                },
                body="Login",
                auth=False,
            )
        },
        f"{base}/me": {
            "get": _op(
                "Who the credential is: the dashboard hides what its role may not do",
                {"200": _json("Principal", "the user and role")},
            )
        },
        f"{base}/flows/{{flow}}/triggers/{{trigger}}/run": {
            "post": _op(
                "Run now: fire a timer or poll-git trigger at once (operator); poll-git runs one "
                "watched ref at its current commit: body ref, else the repository's HEAD branch",
                {"202": _json("RanNow", "a run was created"), **_err(400, 403, 404, 422)},
                params=["flow", "trigger"],
                body="RunNowRequest",
            )
        },
        f"{base}/logout": {
            "post": _op("End the session of the floe-sesh cookie", {"200": _json("LoggedOut", "logged out")})
        },
        f"{base}/flows": {"get": _op("Flows of this cluster", {"200": _json("FlowList", "the flows")})},
        f"{base}/flows/{{flow}}": {
            "get": _op(
                "One flow: tasks, triggers, graph",
                {"200": _json("FlowDetail", "the flow"), **_err(404)},
                params=["flow"],
            )
        },
        f"{base}/flows/{{flow}}/runs": {
            "get": _op(
                "Pending, active and archived runs (archive paged, newest first)",
                {"200": _json("RunList", "the runs"), **_err(400, 404)},
                params=["flow"],
                query=[
                    _q("limit", {"type": "integer", "minimum": 1, "maximum": 500}, "archive page size (50)"),
                    _q("before", NUM, "archive runs created before this (a page's next_before)"),
                ],
            )
        },
        run: {
            "get": _op(
                "Run detail", {"200": _json("RunDetail", "the run"), **_err(404)}, params=["flow", "run"]
            )
        },
        f"{run}/nodes/{{node}}/log": {
            "get": _op(
                "A node's output, one line per line",
                {"200": {"description": "the log", "content": {"text/plain": {"schema": STR}}}, **_err(404)},
                params=["flow", "run", "node"],
            )
        },
        f"{run}/artifacts/{{node}}/{{path}}": {
            "get": _op(
                "Download a file a node kept (its path relative to the workspace)",
                {
                    "200": {
                        "description": "the file, as an attachment",
                        "content": {
                            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}
                        },
                    },
                    **_err(404),
                },
                params=["flow", "run", "node", "path"],
            )
        },
        f"{run}/cancel": {
            "post": _op(
                "Cancel a pending or active run",
                {"202": _json("Cancelling", "cancelling"), **_err(404, 409)},
                params=["flow", "run"],
            )
        },
        f"{run}/rerun": {
            "post": _op(
                "Re-run an ended run as a new run (with ?from=<node>: from that node on)",
                {"202": _json("Rerun", "the new run"), **_err(400, 404, 409)},
                params=["flow", "run"],
                query=[_q("from", STR, "re-run from this node, keeping what ran before it")],
            )
        },
        f"{base}/stop": {
            "get": _op("The stop switches in force", {"200": _json("Stopped", "scopes stopped")}),
            "post": _op(
                "Stop dispatching new runs (of one flow or all) on every host",
                {"200": _json("Stopped", "stopped"), **_err(400, 404)},
                body="StopRequest",
            ),
        },
        f"{base}/go": {
            "post": _op(
                "Lift a stop switch on every host",
                {"200": _json("Stopped", "what stays stopped"), **_err(400, 404)},
                body="StopRequest",
            )
        },
        f"{base}/audit": {
            "get": _op(
                "Who did what (log in, trigger, cancel, re-run, stop), cluster-wide, newest first",
                {"200": _json("Audit", "the audit trail"), **_err(400)},
                query=[
                    _q("limit", {"type": "integer", "minimum": 1, "maximum": 10000}, "entries (100)"),
                    _q("flow", STR, "only entries about this flow"),
                    _q("user", STR, "only entries by this user"),
                ],
            )
        },
        f"{base}/retention/run": {
            "post": _op(
                "Apply the retention policy now on this host (admin): delete old archived runs and "
                "workspaces; it also runs after each archived run and every 10 minutes",
                {"200": _json("Swept", "what was deleted")},
            )
        },
        f"{base}/config/reload": {
            "post": _op(
                "Load the host config again (as SIGHUP does); on errors the running config is kept",
                {"200": _json("Reloaded", "the new flows"), "400": _json("ReloadFailed", "config errors")},
            )
        },
        f"{base}/push/webhook/{{flow}}/{{trigger}}": {
            "post": {
                **_op(
                    "A webhook (git push) for a webhook trigger: signed with the trigger's secret, "
                    "or sent with the API's credentials",
                    {
                        "202": _json("WebhookAnswer", "started, or ignored with the reason"),
                        **_err(400, 403, 404, 413, 422),
                    },
                    params=["flow", "trigger"],
                ),
                "requestBody": {"content": {"application/json": {"schema": ANY_OBJ}}},
            }
        },
        f"{base}/p2p/{{path}}": {
            "get": {
                **_op(
                    "Host-to-host calls (admin token only): not for clients",
                    {"200": _json_any(), **_err(400, 403, 404, 409)},
                ),
                "x-internal": True,
            },
            "post": {
                **_op(
                    "Host-to-host calls (admin token only): not for clients",
                    {"200": _json_any(), **_err(400, 403, 404, 409)},
                ),
                "x-internal": True,
            },
        },
        f"{base}/push/data": {
            "post": _op(
                "Trigger a data trigger, or (with Run) answer a data task of a run",
                {
                    "202": _json("Triggered", "a run was created"),
                    "200": _json("Answered", "the task got the values"),
                    **_err(400, 403, 404),
                },
                body="PushData",
            )
        },
        f"{base}/runs": {
            "get": _op(
                "Pending, active and archived runs of every flow (archive paged, newest first)",
                {"200": _json("RunList", "the runs"), **_err(400)},
                query=[
                    _q("limit", {"type": "integer", "minimum": 1, "maximum": 500}, "archive page size (50)"),
                    _q("before", NUM, "archive runs created before this (a page's next_before)"),
                ],
            ),
            "post": _op(
                "Run a posted flow document (only where common.posted-flows allows it)",
                {"202": _json("PostedRun", "a run of the posted flow was created"), **_err(400, 403, 409)},
                body="PostFlow",
            ),
        },
        f"{base}/hosts": {
            "get": _op("The cluster as this host sees it", {"200": _json("HostList", "hosts")})
        },
        f"{base}/openapi.json": {
            "get": _op(
                "This document",
                {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {"schema": ANY_OBJ}}}},
            )
        },
        f"{base}/metrics": {"get": _op("Prometheus metrics (same as /metrics)", {"200": text})},
        f"{base}/ws": {"get": ws},
    }
    paths[f"{base}/flows/{{flow}}/triggers/{{trigger}}/run"]["post"]["requestBody"]["required"] = False
    for item in paths.values():
        for method, op in item.items():
            if method != "get":  # what the HTTP edge refuses before any handler (floe/server/guard.py)
                read = _err(400) if "requestBody" in op else {}
                op["responses"] = {**_err(403, 413, 415), **read, **op["responses"]}
    return {
        "openapi": "3.1.0",
        "info": {"title": "floe", "version": "1", "description": "The HTTP API of a floe host."},
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "token": {"type": "apiKey", "in": "header", "name": "X-Floe-Auth"},
                "session": {"type": "apiKey", "in": "cookie", "name": "floe-sesh"},
            },
        },
        "security": [{"token": []}, {"session": []}],
    }


async def endpoint(request: Request) -> Response:
    return JSONResponse(request.app.state.openapi)
