"""REST handlers: parse the request, ask the hub, shape the answer. No state of their own."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path, PurePosixPath
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response

from floe.config.errors import FlowFileError
from floe.model.flow import Flow
from floe.model.form import FormError
from floe.model.gate import may_answer
from floe.model.policy import Rejected
from floe.model.run import Run
from floe.nodes.artifacts import find as find_artifact
from floe.server import jsonbody
from floe.server.auth import COOKIE, Sessions, same
from floe.server.cluster_view import Located, cluster_runs, every_flow_runs, locate, peer_call
from floe.server.context import Context
from floe.server.errors import ApiError
from floe.server.passwords import DUMMY_HASH, check_password
from floe.server.views import flow_detail, flow_summary
from floe.triggers.status import status_for

log = logging.getLogger(__name__)


def who(request: Request) -> str:
    """The user behind a request; host-to-host calls carry the original user in `by`."""
    principal = request.scope.get("state", {}).get("principal")
    return str(getattr(principal, "user", "")) or "?"


def ctx(request: Request) -> Context:
    c: Context = request.app.state.floe
    return c


async def body(request: Request) -> dict[str, Any]:
    data = jsonbody.parse(await request.body() or b"{}")
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
    # ok once runs are recovered and every peer was asked once: before that, this host's view of
    # the cluster (where a run is, who is online) is not yet worth answering from
    ok = c.hub.ready.is_set() and c.hub.cluster.beaten.is_set()
    return JSONResponse({"host": c.hub.host.id, "tags": sorted(c.hub.host.tags), "ok": ok})


async def login(request: Request) -> Response:
    c = ctx(request)
    data = await body(request)
    user, password = data.get("user", data.get("User")), data.get("password", data.get("Password"))
    if not isinstance(user, str) or not isinstance(password, str):
        raise ApiError(400, "user and password are required strings")
    address, now = request.client.host if request.client else "?", time.monotonic()
    name = user[:64]  # as long as a user name can be: what is throttled, logged and audited
    wait = c.logins.retry_after(name, address, now)
    if wait:
        message = f"too many failed logins: try again in {wait} s"
        raise ApiError(429, message, headers={"Retry-After": str(wait)})
    role = await _check_login(c, user, password)
    if role is None:
        blocked = c.logins.failed(name, address, now)
        log.warning("failed login as %r from %s%s", name, address, ": throttled" if blocked else "")
        c.hub.audit.record(name, "login-failed", detail=f"from {address}")  # never the password
        raise ApiError(401, "user or password is wrong")
    c.logins.succeeded(name)
    c.hub.audit.record(user, "login")
    token = await c.sessions.create(user)  # stored with the audit entry before the answer
    resp = JSONResponse({"user": user, "role": role})
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


async def _check_login(c: Context, user: str, password: str) -> str | None:
    """The role of a good user/password pair: admin with the admin token, or a configured user."""
    if user == "admin":
        return "admin" if c.admin_token and same(password, c.admin_token) else None
    account = next((u for u in c.hub.config.common.users if u.name == user), None)
    if account is None:
        await asyncio.to_thread(check_password, password, DUMMY_HASH)  # same time for unknown users
        return None
    return account.role if await asyncio.to_thread(check_password, password, account.password) else None


async def me(request: Request) -> Response:
    """Who this request's credential is: `{user, role}` (the dashboard hides what the role may not do)."""
    principal = request.scope.get("state", {}).get("principal")
    return JSONResponse({"user": who(request), "role": str(getattr(principal, "role", ""))})


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
    detail = flow_detail(f, [str(w) for w in c.hub.config.flow_warnings(f)])
    states = status_for(c.hub).status_of(f.id, f.ver)
    for t in detail["triggers"]:
        t["status"] = states.get(t["id"])
    return JSONResponse(detail)


def int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
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


def before_param(request: Request) -> float | None:
    raw = request.query_params.get("before")
    try:
        return float(raw) if raw else None
    except ValueError as e:
        raise ApiError(400, "before must be the created time of a page's last run", field="before") from e


async def runs(request: Request) -> Response:
    c = ctx(request)
    f = _flow(c, request.path_params["flow"])
    limit = int_param(request, "limit", 50, 1, 500)
    return JSONResponse(await cluster_runs(c.hub, f.id, limit, before_param(request)))


async def all_runs(request: Request) -> Response:
    """The runs of every flow, across the cluster, paged like one flow's."""
    limit = int_param(request, "limit", 50, 1, 500)
    return JSONResponse(await every_flow_runs(ctx(request).hub, limit, before_param(request)))


async def _locate(request: Request) -> Located:
    found = await locate(ctx(request).hub, request.path_params["run"])
    view = found.view()
    if view is None or view["flow"] != request.path_params["flow"]:
        raise ApiError(
            404, found.missing(f"no run {request.path_params['run']} of flow {request.path_params['flow']}")
        )
    return found


async def run(request: Request) -> Response:
    return JSONResponse((await _locate(request)).view())


async def node_log(request: Request) -> Response:
    found = await _locate(request)
    node_id = request.path_params["node"]
    if found.peer is not None:
        run_id = request.path_params["run"]
        status, doc = await peer_call(found.peer, "GET", f"/runs/{run_id}/nodes/{node_id}/log")
        if status != 200:
            raise ApiError(status, doc.get("error", "no log"))
        return PlainTextResponse(doc["log"])
    if found.run is None:
        raise ApiError(502, "the run's exec host is unreachable")
    if found.run.flow.node(node_id) is None:
        raise ApiError(404, f"flow {found.run.flow.id} has no node {node_id}")
    lines = await ctx(request).hub.store.node_log(found.run.run_id, node_id)
    return PlainTextResponse("".join(line + "\n" for line in lines))


async def artifact(request: Request) -> Response:
    """One file a task kept, as it was stored (an attachment, never rendered by the browser)."""
    found = await _locate(request)
    node_id, rel = request.path_params["node"], request.path_params["path"]
    if found.peer is not None or found.run is None:
        host = (found.view() or {}).get("exec_host", "another host")
        raise ApiError(404, f"the artifacts of run {request.path_params['run']} are kept by {host}: ask it")
    kept = found.run.node(node_id).artifacts
    if not any(a.get("path") == rel for a in kept):
        raise ApiError(404, f"node {node_id} of run {found.run.run_id} kept no artifact {rel}")
    path = find_artifact(Path(ctx(request).hub.config.common.store_root), found.run.run_id, node_id, rel)
    if path is None:
        raise ApiError(404, f"artifact {rel} of {found.run.run_id} is no longer stored")
    return FileResponse(
        path,
        media_type="application/octet-stream",
        filename=PurePosixPath(rel).name,
        content_disposition_type="attachment",
    )


async def cancel(request: Request) -> Response:
    found = await _locate(request)
    view = found.view() or {}
    if view.get("status") in ("good", "bad", "cancelled"):
        raise ApiError(409, f"run {view['run_id']} already ended {view['status']}")
    if found.peer is not None:
        status, doc = await peer_call(
            found.peer, "POST", f"/runs/{view['run_id']}/cancel", {"by": who(request)}
        )
        if status != 202:
            raise ApiError(status, doc.get("error", "cannot cancel"))
    elif found.run is None:
        raise ApiError(502, "the run's exec host is unreachable")
    else:
        try:
            await ctx(request).hub.cancel(found.run.run_id, by=who(request))
        except LookupError as e:
            raise ApiError(409, str(e).strip("'\"")) from e
    return JSONResponse({"run_id": view["run_id"], "cancelling": True}, status_code=202)


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
            gate = f.node(form_id)
            principal = request.scope.get("state", {}).get("principal")
            refused = gate and may_answer(gate, who(request), str(getattr(principal, "role", "")))
            if refused:
                raise ApiError(403, refused, field="Form.ID")
            await _answer(c, f, run_id, form_id, values, who(request))
            return JSONResponse({"run_id": run_id, "ok": True})
        if not form_id:
            form_id = next((t.id for t in f.triggers if t.type == "data"), "")
        trig = f.trigger(form_id)
        if trig is None:
            raise ApiError(404, f"flow {f.id} has no trigger {form_id}", field="Form.ID")
        if trig.type != "data":
            raise ApiError(400, f"trigger {form_id} is a {trig.type} trigger, not data", field="Form.ID")
        new_id = await c.hub.trigger(f, form_id, values, by=who(request))
    except FormError as e:
        raise ApiError(400, str(e), field=e.field) from e
    except LookupError as e:
        raise ApiError(404, str(e).strip("'\"")) from e
    except FlowFileError as e:
        raise ApiError(422, str(e)) from e
    except Rejected as e:
        raise ApiError(e.rejection.status, str(e), policy=e.rejection.policy) from e
    return JSONResponse({"run_id": new_id}, status_code=202)


async def _answer(c: Context, f: Flow, run_id: str, node: str, values: dict[str, Any], by: str) -> None:
    """Answer a data task wherever its run executes."""
    if run_id in c.hub.runs:
        await c.hub.answer(run_id, node, values, by)
        return
    found = await locate(c.hub, run_id)
    view = found.view()
    if view is None or view["flow"] != f.id:
        raise ApiError(404, f"no run {run_id} of flow {f.id}")
    if found.peer is None:
        if found.run is None:
            raise ApiError(502, "the run's exec host is unreachable")
        await c.hub.answer(run_id, node, values, by)  # raises LookupError: not waiting
        return
    status, doc = await peer_call(
        found.peer, "POST", f"/runs/{run_id}/answer", {"node": node, "values": values, "by": by}
    )
    if status != 200:
        raise ApiError(
            status, doc.get("error", "cannot answer"), **({"field": doc["field"]} if "field" in doc else {})
        )


async def hosts(request: Request) -> Response:
    c = ctx(request)
    me = {
        "id": c.hub.host.id,
        "address": c.address,
        "tags": sorted(c.hub.host.tags),
        "online": True,
        "active_runs": sum(1 for r in c.hub.runs.values() if r.phase == "active"),
        "error": "",
        "last_seen": time.time(),
        "lock_host": c.hub.cluster.locks is not None,
    }
    lock = c.hub.cluster.addresses[0] if c.hub.cluster.addresses else c.address
    return JSONResponse(
        {"hosts": [me, *({**p.view(), "lock_host": p.address == lock} for p in c.hub.cluster.peers)]}
    )


async def rerun(request: Request) -> Response:
    found = await _locate(request)
    run_id, from_node = request.path_params["run"], request.query_params.get("from", "")
    if found.peer is not None:
        query = f"?from={from_node}" if from_node else ""
        status, doc = await peer_call(
            found.peer, "POST", f"/runs/{run_id}/rerun{query}", {"by": who(request)}
        )
        if status != 202:
            raise ApiError(status, doc.get("error", "cannot re-run"), **_extra(doc))
        return JSONResponse(doc, status_code=202)
    if found.run is None:
        raise ApiError(502, "the run's exec host is unreachable")
    return JSONResponse(await rerun_here(ctx(request), found.run, from_node, who(request)), status_code=202)


async def rerun_here(c: Context, old: Run, from_node: str, by: str) -> dict[str, Any]:
    if not old.status.ended:
        raise ApiError(409, f"run {old.run_id} has not ended: cancel it first")
    try:
        new_id = await c.hub.rerun(old, from_node, by)
    except LookupError as e:
        raise ApiError(400, str(e).strip("'\""), field="from") from e
    except Rejected as e:
        raise ApiError(e.rejection.status, str(e), policy=e.rejection.policy) from e
    return {"run_id": new_id, "rerun_of": old.run_id, "from": from_node}


def _extra(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: doc[k] for k in ("field", "policy") if k in doc}


def _scope(c: Context, data: dict[str, Any]) -> str:
    flow = data.get("flow") or "*"
    if not isinstance(flow, str):
        raise ApiError(400, "flow must be a flow id", field="flow")
    if flow != "*":
        _flow(c, flow)
    return flow


async def stop_switch(
    request: Request, data: dict[str, Any], *, on: bool, by: str, forward: bool
) -> dict[str, Any]:
    """Stop (or resume) dispatch of one flow or all, on this host and, with `forward`, on every
    peer; `cancel: true` also cancels the active runs it covers."""
    c = ctx(request)
    scope = _scope(c, data)
    reason = data.get("reason") or "stopped from the API"
    if not isinstance(reason, str):
        raise ApiError(400, "reason must be a string", field="reason")
    cancelled: list[str] = []
    if on:
        c.hub.switch.stop(scope, reason)
        c.hub.audit.record(by, "stop", "" if scope == "*" else scope, "", reason)
        if data.get("cancel") is True:
            for r in list(c.hub.runs.values()):
                if r.phase == "active" and scope in ("*", r.flow.id) and r.exec_host == c.hub.host.id:
                    await c.hub.cancel(r.run_id, f"cancelled by the stop switch: {reason}", by)
                    cancelled.append(r.run_id)
    else:
        c.hub.switch.go(scope)
        c.hub.audit.record(by, "go", "" if scope == "*" else scope)
    await c.hub.store.flush()
    out: dict[str, Any] = {"stopped": dict(c.hub.switch.stopped), "cancelled": cancelled}
    if forward:
        path, sent = ("/stop" if on else "/go"), {**data, "by": by}
        got, missing = await c.hub.cluster.gather(lambda p: p.client.call("POST", path, sent))
        out["hosts"] = sorted([c.hub.host.id, *(p.id for p, _ in got)])
        out["unreachable"] = c.hub.cluster.unreachable(missing)
        out["cancelled"] += [x for _, (_, doc) in got for x in (doc or {}).get("cancelled", [])]
    return out


async def stop(request: Request) -> Response:
    return JSONResponse(
        await stop_switch(request, await body(request), on=True, by=who(request), forward=True)
    )


async def go(request: Request) -> Response:
    return JSONResponse(
        await stop_switch(request, await body(request), on=False, by=who(request), forward=True)
    )


async def audit(request: Request) -> Response:
    """The audit trail of the whole cluster, newest first (`limit`, default 100), optionally only
    the entries about one `flow` or by one `user`."""
    c = ctx(request)
    limit = int_param(request, "limit", 100, 1, 10_000)
    flow, user = request.query_params.get("flow", ""), request.query_params.get("user", "")
    entries = await c.hub.audit.entries()
    got, missing = await c.hub.cluster.gather(lambda p: p.client.call("GET", "/audit"))
    for _, (_, doc) in got:
        entries += doc["entries"]
    entries = [e for e in entries if flow in ("", e["flow"]) and user in ("", e["by"])]
    entries.sort(key=lambda e: (-e["at"], e["host"], -e["seq"]))
    partial = c.hub.cluster.unreachable(missing)
    return JSONResponse({"entries": entries[:limit], "partial": partial})


async def retention(request: Request) -> Response:
    """Apply the retention policy to every flow of this host now; what was deleted."""
    swept = await ctx(request).hub.retention.sweep(by=who(request))
    return JSONResponse({"runs": swept.runs, "workspaces": swept.workspaces, "failed": swept.failed})


async def stopped(request: Request) -> Response:
    return JSONResponse({"stopped": dict(ctx(request).hub.switch.stopped)})
