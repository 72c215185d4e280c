"""REST handlers: parse the request, ask the hub, shape the answer. No state of their own."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from floe.hub.flowfile import FlowFileError
from floe.model.flow import Flow
from floe.model.form import FormError
from floe.model.run import RunStatus
from floe.server.auth import COOKIE, Sessions, same
from floe.server.context import Context
from floe.server.errors import ApiError
from floe.server.views import flow_detail, flow_summary, run_detail, run_summary


def ctx(request: Request) -> Context:
    c: Context = request.app.state.floe
    return c


async def body(request: Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.body() or b"{}")
    except (ValueError, UnicodeDecodeError) as e:
        raise ApiError(400, f"body is not valid JSON: {e}") from e
    if not isinstance(data, dict):
        raise ApiError(400, "body must be a JSON object")
    return data


def _flow(c: Context, flow_id: str, ver: int = 0) -> Flow:
    flow = c.hub.config.flow(flow_id, ver or None)
    if flow is None:
        raise ApiError(404, f"no flow {flow_id}" + (f" version {ver}" if ver else ""))
    return flow


async def healthz(request: Request) -> Response:
    c = ctx(request)
    return JSONResponse({"host": c.hub.host.id, "tags": sorted(c.hub.host.tags), "ok": c.hub.ready.is_set()})


async def login(request: Request) -> Response:
    c = ctx(request)
    data = await body(request)
    user, password = data.get("user", data.get("User")), data.get("password", data.get("Password"))
    if not isinstance(user, str) or not isinstance(password, str):
        raise ApiError(400, "user and password are required strings")
    if not (user == "admin" and c.admin_token and same(password, c.admin_token)):
        raise ApiError(401, "user or password is wrong")
    token = await c.sessions.create(user, "admin")
    resp = JSONResponse({"user": user, "role": "admin"})
    resp.set_cookie(
        COOKIE,
        token,
        max_age=10 * 24 * 3600,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return resp


async def logout(request: Request) -> Response:
    sessions: Sessions = ctx(request).sessions
    token = request.cookies.get(COOKIE)
    if token:
        await sessions.end(token)
    resp = JSONResponse({"ok": True})
    resp.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return resp


async def flows(request: Request) -> Response:
    c = ctx(request)
    return JSONResponse({"flows": [flow_summary(f) for f in c.hub.config.flows]})


async def flow(request: Request) -> Response:
    c = ctx(request)
    f = _flow(c, request.path_params["flow"])
    return JSONResponse(flow_detail(f, [str(w) for w in c.hub.config.flow_warnings(f)]))


def _int(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        v = int(raw)
    except ValueError as e:
        raise ApiError(400, f"{name} must be an integer", field=name) from e
    if not lo <= v <= hi:
        raise ApiError(400, f"{name} must be between {lo} and {hi}", field=name)
    return v


async def runs(request: Request) -> Response:
    c = ctx(request)
    f = _flow(c, request.path_params["flow"])
    limit = _int(request, "limit", 50, 1, 500)
    before_raw = request.query_params.get("before")
    try:
        before = float(before_raw) if before_raw else None
    except ValueError as e:
        raise ApiError(
            400, "before must be a timestamp (the created of the last run of a page)", field="before"
        ) from e
    held = sorted((r for r in c.hub.runs.values() if r.flow.id == f.id), key=lambda r: -r.created)
    archive = await c.hub.archive(f.id, limit, before)
    return JSONResponse(
        {
            "pending": [run_summary(r) for r in held if r.status is RunStatus.PENDING],
            "active": [run_summary(r) for r in held if r.status is not RunStatus.PENDING],
            "archive": [run_summary(r) for r in archive],
            "next_before": archive[-1].created if len(archive) == limit else None,
        }
    )


async def _run(request: Request) -> Any:
    c = ctx(request)
    r = await c.hub.find(request.path_params["run"])
    if r is None or r.flow.id != request.path_params["flow"]:
        raise ApiError(404, f"no run {request.path_params['run']} of flow {request.path_params['flow']}")
    return r


async def run(request: Request) -> Response:
    return JSONResponse(run_detail(await _run(request)))


async def node_log(request: Request) -> Response:
    r = await _run(request)
    node_id = request.path_params["node"]
    if r.flow.node(node_id) is None:
        raise ApiError(404, f"flow {r.flow.id} has no node {node_id}")
    lines = await ctx(request).hub.store.node_log(r.run_id, node_id)
    return PlainTextResponse("".join(line + "\n" for line in lines))


async def cancel(request: Request) -> Response:
    r = await _run(request)
    if r.status.ended:
        raise ApiError(409, f"run {r.run_id} already ended {r.status.value}")
    try:
        await ctx(request).hub.cancel(r.run_id)
    except LookupError as e:
        raise ApiError(409, str(e)) from e
    return JSONResponse({"run_id": r.run_id, "cancelling": True}, status_code=202)


def _push_fields(data: dict[str, Any]) -> tuple[str, int, str, str, dict[str, Any]]:
    ref, form = data.get("Ref"), data.get("Form")
    if not isinstance(ref, dict) or not isinstance(ref.get("ID"), str) or not ref["ID"]:
        raise ApiError(400, "Ref.ID (the flow id) is required", field="Ref.ID")
    ver = ref.get("Ver", 0)
    if not isinstance(ver, int) or isinstance(ver, bool):
        raise ApiError(400, "Ref.Ver must be an integer", field="Ref.Ver")
    if form is None:
        form = {}
    if not isinstance(form, dict):
        raise ApiError(400, "Form must be an object", field="Form")
    form_id = form.get("ID", "")
    values = form.get("Values") or {}
    if not isinstance(form_id, str):
        raise ApiError(400, "Form.ID must be a string", field="Form.ID")
    if not isinstance(values, dict):
        raise ApiError(400, "Form.Values must be an object", field="Form.Values")
    run_id = data.get("Run") or ""
    if not isinstance(run_id, str):
        raise ApiError(400, "Run must be a run id string", field="Run")
    return ref["ID"], ver, run_id, form_id, values


async def push_data(request: Request) -> Response:
    c = ctx(request)
    flow_id, ver, run_id, form_id, values = _push_fields(await body(request))
    f = _flow(c, flow_id, ver)
    try:
        if run_id:
            await c.hub.answer(run_id, form_id, values)
            return JSONResponse({"run_id": run_id, "ok": True})
        if not form_id:
            form_id = next((t.id for t in f.triggers if t.type == "data"), "")
        trig = f.trigger(form_id)
        if trig is None:
            raise ApiError(404, f"flow {f.id} has no trigger {form_id}", field="Form.ID")
        if trig.type != "data":
            raise ApiError(400, f"trigger {form_id} is a {trig.type} trigger, not data", field="Form.ID")
        new_id = await c.hub.trigger(f, form_id, values)
    except FormError as e:
        raise ApiError(400, str(e), field=e.field) from e
    except LookupError as e:
        raise ApiError(404, str(e).strip("'\"")) from e
    except FlowFileError as e:
        raise ApiError(422, str(e)) from e
    return JSONResponse({"run_id": new_id}, status_code=202)


async def hosts(request: Request) -> Response:
    c = ctx(request)
    return JSONResponse(
        {
            "hosts": [
                {
                    "id": c.hub.host.id,
                    "address": c.address,
                    "tags": sorted(c.hub.host.tags),
                    "online": True,
                    "active_runs": sum(1 for r in c.hub.runs.values() if r.phase == "active"),
                }
            ]
        }
    )
