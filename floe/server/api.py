"""REST handlers: take the checked request, ask the hub, shape the answer. No state of their own;
errors are raised (floe/model/errors.py) and answered at the edge (floe/server/errors.py)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response

from floe.model.constant_time import same_secret
from floe.model.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    TooMany,
    Unauthorized,
    Unreachable,
)
from floe.model.flow import Flow
from floe.model.gate import may_answer
from floe.model.run import Run
from floe.server.auth import COOKIE
from floe.server.bodies import body
from floe.server.cluster_view import Located, cluster_runs, every_flow_runs, locate
from floe.server.context import Context, caller, ctx, forwarded, role, who
from floe.server.forward import forward
from floe.server.passwords import DUMMY_HASH, check_password
from floe.server.views import flow_detail, flow_summary

log = logging.getLogger(__name__)


def _flow(c: Context, flow_id: str, ver: int = 0) -> Flow:
    flow = c.config().flow(flow_id, ver or None)
    if flow is None:
        raise NotFound(f"no flow {flow_id}" + (f" version {ver}" if ver else ""))
    return flow


async def healthz(request: Request) -> Response:
    c = ctx(request)
    # ok once runs are recovered and every peer was asked once: before that, this host's view of
    # the cluster (where a run is, who is online) is not yet worth answering from
    ok = c.hub.ready.is_set() and c.cluster.beaten.is_set()
    return JSONResponse({"host": c.hub.host.id, "tags": sorted(c.hub.host.tags), "ok": ok})


async def login(request: Request) -> Response:
    c = ctx(request)
    data = body(request)
    user, password = data.get("user", data.get("User")), data.get("password", data.get("Password"))
    if not isinstance(user, str) or not isinstance(password, str):
        raise BadRequest("user and password are required strings", field="user")
    address, now = request.client.host if request.client else "?", time.monotonic()
    name = user[:64]  # as long as a user name can be: what is throttled, logged and audited
    wait = c.logins.retry_after(name, address, now)
    if wait:
        raise TooMany(f"too many failed logins: try again in {wait} s", retry_after=wait)
    account = await _check_login(c, user, password)
    if account is None:
        blocked = c.logins.failed(name, address, now)
        log.warning("failed login as %r from %s%s", name, address, ": throttled" if blocked else "")
        c.hub.audit.record(name, "login-failed", detail=f"from {address}")  # never the password
        raise Unauthorized("user or password is wrong")
    c.logins.succeeded(name)
    c.hub.audit.record(user, "login")
    token = await c.sessions.create(user)  # stored with the audit entry before the answer
    resp = JSONResponse({"user": user, "role": account})
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
        return "admin" if c.admin_token and same_secret(password, c.admin_token) else None
    account = next((u for u in c.config().common.users if u.name == user), None)
    if account is None:
        await asyncio.to_thread(check_password, password, DUMMY_HASH)  # same time for unknown users
        return None
    return account.role if await asyncio.to_thread(check_password, password, account.password) else None


async def me(request: Request) -> Response:
    """Who this request's credential is: `{user, role}` (the dashboard hides what the role may not do)."""
    return JSONResponse({"user": who(request), "role": role(request)})


async def logout(request: Request) -> Response:
    token = request.cookies.get(COOKIE)
    if token:
        await ctx(request).sessions.end(token)
    resp = JSONResponse({"ok": True})
    resp.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return resp


async def flows(request: Request) -> Response:
    return JSONResponse({"flows": [flow_summary(f) for f in ctx(request).config().flows]})


async def flow(request: Request) -> Response:
    c = ctx(request)
    f = _flow(c, request.path_params["flow"])
    detail = flow_detail(f, [str(w) for w in c.config().flow_warnings(f)])
    states = c.triggers.status.status_of(f.id, f.ver)
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
        raise BadRequest(f"{name} must be an integer", field=name) from e
    if not lo <= v <= hi:
        raise BadRequest(f"{name} must be between {lo} and {hi}", field=name)
    return v


def before_param(request: Request) -> float | None:
    raw = request.query_params.get("before")
    try:
        return float(raw) if raw else None
    except ValueError as e:
        raise BadRequest("before must be the created time of a page's last run", field="before") from e


async def runs(request: Request) -> Response:
    """A flow's runs across the cluster; a peer asking gets this host's own."""
    c = ctx(request)
    f = _flow(c, request.path_params["flow"])
    limit, before = int_param(request, "limit", 50, 1, 500), before_param(request)
    return JSONResponse(
        await cluster_runs(c, f.id, limit, before, caller(request), here_only=forwarded(request))
    )


async def all_runs(request: Request) -> Response:
    """The runs of every flow, across the cluster, paged like one flow's."""
    limit, before = int_param(request, "limit", 50, 1, 500), before_param(request)
    return JSONResponse(
        await every_flow_runs(ctx(request), limit, before, caller(request), here_only=forwarded(request))
    )


async def _locate(request: Request) -> Located:
    flow_id, run_id = request.path_params["flow"], request.path_params["run"]
    found = await locate(ctx(request), run_id, caller(request), here_only=forwarded(request))
    view = found.view()
    if view is None or view["flow"] != flow_id:
        raise NotFound(found.missing(f"no run {run_id} of flow {flow_id}"))
    return found


def _held(found: Located) -> Run:
    """The run a request changes or reads the files of, held by this host."""
    if found.lost:
        raise Unreachable(
            f"exec host {found.lost} unreachable: its lease ran out (a live host takes its runs over)"
        )
    if found.run is None:
        raise Unreachable("the run's exec host is unreachable")
    return found.run


async def run(request: Request) -> Response:
    return JSONResponse((await _locate(request)).view())


async def run_by_id(request: Request) -> Response:
    """A run's detail by its id alone, wherever it is (a peer asking gets it only from this host)."""
    run_id = request.path_params["run"]
    found = await locate(ctx(request), run_id, caller(request), here_only=forwarded(request))
    view = found.view()
    if view is None:
        raise NotFound(found.missing(f"no run {run_id}"))
    return JSONResponse(view)


async def node_log(request: Request) -> Response:
    found = await _locate(request)
    if found.peer is not None and found.run is None:  # on postgres, every host's log is in the database
        return await forward(request, found.peer)
    held, node_id = found.run or _held(found), request.path_params["node"]  # a lost host's too
    if held.flow.node(node_id) is None:
        raise NotFound(f"flow {held.flow.id} has no node {node_id}")
    lines = await ctx(request).store.node_log(held.run_id, node_id)
    return PlainTextResponse("".join(line + "\n" for line in lines))


async def cancel(request: Request) -> Response:
    found = await _locate(request)
    if found.peer is not None:
        return await forward(request, found.peer)
    view = found.view() or {}
    if view.get("status") in ("good", "bad", "cancelled"):  # as last known, when its host is away
        raise Conflict(f"run {view['run_id']} already ended {view['status']}")
    held = _held(found)
    await ctx(request).hub.cancel(held.run_id, by=who(request))
    return JSONResponse({"run_id": held.run_id, "cancelling": True}, status_code=202)


async def push_data(request: Request) -> Response:
    """Trigger a data trigger, or (with `Run`) answer a data task of a run wherever it executes."""
    c, data = ctx(request), body(request)
    form = data.get("Form") or {}
    form_id, values, run_id = form.get("ID", ""), form.get("Values") or {}, data.get("Run") or ""
    f = _flow(c, data["Ref"]["ID"], data["Ref"].get("Ver", 0))
    if run_id:
        gate = f.node(form_id)
        refused = gate and may_answer(gate, who(request), role(request))
        if refused:
            raise Forbidden(refused, field="Form.ID")
        return await _answer(request, f, run_id, form_id, values)
    trig = f.trigger(form_id or next((t.id for t in f.triggers if t.type == "data"), ""))
    if trig is None:
        raise NotFound(f"flow {f.id} has no trigger {form_id}", field="Form.ID")
    if trig.type != "data":
        raise BadRequest(f"trigger {form_id} is a {trig.type} trigger, not data", field="Form.ID")
    new_id = await c.hub.trigger(f, trig.id, values, by=who(request))
    return JSONResponse({"run_id": new_id}, status_code=202)


async def _answer(request: Request, f: Flow, run_id: str, node: str, values: dict[str, Any]) -> Response:
    """Answer a data task here, or send the request on to the host that executes its run."""
    c = ctx(request)
    if run_id not in c.hub.runs:
        found = await locate(c, run_id, caller(request), here_only=forwarded(request))
        view = found.view()
        if view is None or view["flow"] != f.id:
            raise NotFound(found.missing(f"no run {run_id} of flow {f.id}"))
        if found.peer is not None:
            return await forward(request, found.peer)
        _held(found)
    await c.hub.answer(run_id, node, values, who(request))
    return JSONResponse({"run_id": run_id, "ok": True})


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
        "lock_host": c.cluster.locks is not None,
    }
    lock = c.cluster.addresses[0] if c.cluster.addresses else c.address
    return JSONResponse(
        {"hosts": [me, *({**p.view(), "lock_host": p.address == lock} for p in c.cluster.peers)]}
    )


async def rerun(request: Request) -> Response:
    found = await _locate(request)
    if found.peer is not None:
        return await forward(request, found.peer)
    old, from_node = _held(found), request.query_params.get("from", "")
    if not old.status.ended:
        raise Conflict(f"run {old.run_id} has not ended: cancel it first")
    new_id = await ctx(request).hub.rerun(old, from_node, who(request))
    return JSONResponse({"run_id": new_id, "rerun_of": old.run_id, "from": from_node}, status_code=202)


async def _switch(request: Request, *, on: bool) -> dict[str, Any]:
    """Stop (or resume) dispatch of one flow or all, on this host and, unless a peer sent it on,
    on every other host (the peers, or on the postgres store the hosts with a live lease);
    `cancel: true` also cancels the active runs it covers."""
    c, data, by = ctx(request), body(request), who(request)
    scope = data.get("flow") or "*"
    if scope != "*":
        _flow(c, scope)
    reason = data.get("reason") or "stopped from the API"
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
    await c.store.flush()
    out: dict[str, Any] = {"stopped": dict(c.hub.switch.stopped), "cancelled": cancelled}
    if not forwarded(request):
        path = "/stop" if on else "/go"
        got, missing = await c.cluster.gather(
            lambda p: p.client.ask("POST", path, *caller(request), data), await c.cluster.reachable()
        )
        out["hosts"] = sorted([c.hub.host.id, *(p.id for p, _ in got)])
        out["unreachable"] = c.cluster.unreachable(missing)
        out["cancelled"] += [x for _, doc in got for x in (doc or {}).get("cancelled", [])]
    return out


async def stop(request: Request) -> Response:
    return JSONResponse(await _switch(request, on=True))


async def go(request: Request) -> Response:
    return JSONResponse(await _switch(request, on=False))


async def audit(request: Request) -> Response:
    """The audit trail of the whole cluster (a peer asking gets this host's), newest first (`limit`,
    default 100), optionally only the entries about one `flow` or by one `user`."""
    c = ctx(request)
    limit = int_param(request, "limit", 100, 1, 10_000)
    flow, user = request.query_params.get("flow", ""), request.query_params.get("user", "")
    theirs, partial = await _peer_audit(request)
    entries = [*await c.hub.audit.entries(), *theirs]
    entries = [e for e in entries if flow in ("", e["flow"]) and user in ("", e["by"])]
    entries.sort(key=lambda e: (-e["at"], e["host"], -e["seq"]))
    return JSONResponse({"entries": entries[:limit], "partial": partial})


async def _peer_audit(request: Request) -> tuple[list[dict[str, Any]], list[str]]:
    """The peers' entries for the same query, and the hosts that did not answer (none are asked
    for a request a peer sent on)."""
    if forwarded(request):
        return [], []
    c = ctx(request)
    path = f"/audit?{request.url.query}"
    got, missing = await c.cluster.gather(lambda p: p.client.ask("GET", path, *caller(request)))
    return [e for _, doc in got for e in doc["entries"]], c.cluster.unreachable(missing)


async def retention(request: Request) -> Response:
    """Apply the retention policy to every flow of this host now; what was deleted."""
    swept = await ctx(request).hub.retention.sweep(by=who(request))
    return JSONResponse({"runs": swept.runs, "workspaces": swept.workspaces, "failed": swept.failed})


async def stopped(request: Request) -> Response:
    return JSONResponse({"stopped": dict(ctx(request).hub.switch.stopped)})
