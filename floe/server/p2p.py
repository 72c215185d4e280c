"""Host-to-host routes under `{base}/p2p/` (admin token only): this host's own view, never gathered."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from floe.cluster.locks import Locks
from floe.cluster.signing import SIGNATURE_KEY, signed
from floe.hub.messages import Wake
from floe.model.codec import flow_content, run_doc, run_from_doc
from floe.model.form import FormError
from floe.model.ids import valid_id, valid_run_id
from floe.model.run import Run
from floe.server.api import before_param, body, ctx, int_param, rerun_here, stop_switch
from floe.server.cluster_view import local_runs
from floe.server.errors import ApiError
from floe.server.views import run_detail


def parse_run(doc: dict[str, Any]) -> Run:
    """A pend handed over by a peer, checked as strictly as our own: bad input is a 400, never a
    run that wedges the hub."""
    checks = [
        (valid_run_id(doc.get("run_id")), "run_id must look like h1-7"),
        (doc.get("status") == "pending", "status must be pending"),
        (isinstance(doc.get("snapshot"), dict), "snapshot must be a flow document"),
        (isinstance(doc.get("values", {}), dict), "values must be an object"),
        (isinstance(doc.get("nodes", []), list), "nodes must be a list"),
        (
            isinstance(doc.get("created"), int | float) and not isinstance(doc.get("created"), bool),
            "created must be a number",
        ),
    ]
    for ok, message in checks:
        if not ok:
            raise ApiError(400, f"not a pend: {message}")
    try:
        run = run_from_doc(doc)
        json.dumps(run_doc(run))  # it must survive our own store
    except Exception as e:  # any fault of a foreign document is the sender's
        raise ApiError(400, f"not a pend: {e!r}") from e
    bad = [
        f"{what} {value!r}"
        for what, value in (
            ("snapshot.id", run.flow.id),
            ("trigger", run.trigger),
            *(("node id", n.id) for n in (*run.flow.triggers, *run.flow.tasks)),
            *(("node id", n) for n in run.nodes),
        )
        if not valid_id(value)
    ]
    if bad:
        raise ApiError(400, f"not a pend: {bad[0]} is not a valid id")
    return run


def _admin_only(request: Request) -> None:
    who = request.scope.get("state", {}).get("principal")
    if who is None or who.user != "admin" or who.role != "admin":
        raise ApiError(403, "host-to-host routes need the admin token")


async def hello(request: Request) -> Response:
    _admin_only(request)
    hub = ctx(request).hub
    hub.cluster.heard_from(request.query_params.get("from", ""))
    return JSONResponse(
        {
            "id": hub.host.id,
            "tags": sorted(hub.host.tags),
            "active": sum(1 for r in hub.runs.values() if r.phase == "active"),
        }
    )


def _trusted(request: Request, doc: dict[str, Any], run: Run) -> None:
    """A pend's flow snapshot must be one of this host's config (by content) or signed by a cluster
    host: the admin token alone does not let a caller run a flow of its own making (403)."""
    c = ctx(request)
    if signed(c.admin_token, doc["snapshot"], doc.get(SIGNATURE_KEY)):
        return
    content = flow_content(run.flow)
    if any(f.id == run.flow.id and flow_content(f) == content for f in c.hub.config.flows):
        return
    raise ApiError(
        403, "the pend's flow snapshot is neither in this host's config nor signed by a cluster host"
    )


async def offer(request: Request) -> Response:
    _admin_only(request)
    doc = await body(request)
    run = parse_run(doc)
    _trusted(request, doc, run)
    why = await ctx(request).hub.accept(run)
    if why:
        raise ApiError(409, why)
    return JSONResponse({"run_id": run.run_id, "exec_host": ctx(request).hub.host.id})


async def runs(request: Request) -> Response:
    _admin_only(request)
    limit = int_param(request, "limit", 50, 1, 500)
    return JSONResponse(
        await local_runs(ctx(request).hub, request.path_params["flow"], limit, before_param(request))
    )


async def run(request: Request) -> Response:
    _admin_only(request)
    r = await ctx(request).hub.find(request.path_params["run"])
    if r is None:
        raise ApiError(404, f"no run {request.path_params['run']} here")
    return JSONResponse(run_detail(r))


async def node_log(request: Request) -> Response:
    _admin_only(request)
    c = ctx(request)
    r = await c.hub.find(request.path_params["run"])
    if r is None or r.flow.node(request.path_params["node"]) is None:
        raise ApiError(404, "no such run or node here")
    lines = await c.hub.store.node_log(r.run_id, request.path_params["node"])
    return JSONResponse({"log": "".join(line + "\n" for line in lines)})


async def answer(request: Request) -> Response:
    _admin_only(request)
    data = await body(request)
    node, values, by = data.get("node"), data.get("values"), str(data.get("by") or "?")
    if not isinstance(node, str) or not isinstance(values, dict):
        raise ApiError(400, "node (string) and values (object) are required")
    try:
        await ctx(request).hub.answer(request.path_params["run"], node, values, by)
    except FormError as e:
        raise ApiError(400, str(e), field=e.field) from e
    except LookupError as e:
        raise ApiError(404, str(e).strip("'\"")) from e
    return JSONResponse({"ok": True})


async def cancel(request: Request) -> Response:
    _admin_only(request)
    try:
        by = str((await body(request)).get("by") or "?")
        await ctx(request).hub.cancel(request.path_params["run"], by=by)
    except LookupError as e:
        raise ApiError(404, str(e).strip("'\"")) from e
    return JSONResponse({"cancelling": True}, status_code=202)


async def ended(request: Request) -> Response:
    _admin_only(request)
    data = await body(request)
    status, at = data.get("status"), data.get("ended")
    if status not in ("good", "bad", "cancelled") or not isinstance(at, int | float) or isinstance(at, bool):
        raise ApiError(400, "status (good, bad or cancelled) and ended (a time) are required")
    ctx(request).hub.ended_elsewhere(request.path_params["run"], status, float(at))
    return JSONResponse({"ok": True})


async def wake(request: Request) -> Response:
    _admin_only(request)
    ctx(request).hub.post(Wake())
    return JSONResponse({"ok": True})


def _locks(request: Request) -> Locks:
    """The lock table, for an admin caller of the lock host (409 on any other host)."""
    _admin_only(request)
    locks = ctx(request).hub.cluster.locks
    if locks is None:
        raise ApiError(409, "this host is not the lock host")
    return locks


async def lock(request: Request) -> Response:
    locks = _locks(request)
    data = await body(request)
    run_id, host, tags = data.get("run_id"), data.get("host"), data.get("tags")
    if not valid_run_id(run_id) or not valid_id(host) or not isinstance(tags, list):
        raise ApiError(400, "run_id, host (ids) and tags are required")
    why = locks.acquire(run_id, host, [str(t) for t in tags])
    await ctx(request).hub.store.flush()
    if why:
        raise ApiError(409, why)
    return JSONResponse({"ok": True})


async def unlock(request: Request) -> Response:
    locks = _locks(request)
    locks.release(request.path_params["run"])
    await ctx(request).hub.store.flush()
    return JSONResponse({"ok": True})


async def active(request: Request) -> Response:
    _admin_only(request)
    hub = ctx(request).hub
    return JSONResponse(
        {"runs": [{"run_id": r.run_id, "flow": r.flow.id} for r in hub.runs.values() if r.phase == "active"]}
    )


async def rerun(request: Request) -> Response:
    _admin_only(request)
    c = ctx(request)
    old = await c.hub.find(request.path_params["run"])
    if old is None:
        raise ApiError(404, f"no run {request.path_params['run']} here")
    by = str((await body(request)).get("by") or "?")
    return JSONResponse(await rerun_here(c, old, request.query_params.get("from", ""), by), status_code=202)


async def stop(request: Request) -> Response:
    """A peer forwards its stop switch, with the user who threw it."""
    _admin_only(request)
    data = await body(request)
    return JSONResponse(
        await stop_switch(request, data, on=True, by=str(data.get("by") or "?"), forward=False)
    )


async def go(request: Request) -> Response:
    _admin_only(request)
    data = await body(request)
    return JSONResponse(
        await stop_switch(request, data, on=False, by=str(data.get("by") or "?"), forward=False)
    )


async def audit(request: Request) -> Response:
    _admin_only(request)
    return JSONResponse({"entries": await ctx(request).hub.audit.entries()})


def routes() -> list[BaseRoute]:
    return [
        Route("/hello", hello),
        Route("/runs", offer, methods=["POST"]),
        Route("/flows/{flow}/runs", runs),
        Route("/runs/{run}", run),
        Route("/runs/{run}/nodes/{node}/log", node_log),
        Route("/runs/{run}/answer", answer, methods=["POST"]),
        Route("/runs/{run}/cancel", cancel, methods=["POST"]),
        Route("/runs/{run}/ended", ended, methods=["POST"]),
        Route("/wake", wake, methods=["POST"]),
        Route("/active", active),
        Route("/runs/{run}/rerun", rerun, methods=["POST"]),
        Route("/stop", stop, methods=["POST"]),
        Route("/audit", audit),
        Route("/go", go, methods=["POST"]),
        Route("/locks", lock, methods=["POST"]),
        Route("/locks/{run}", unlock, methods=["DELETE"]),
    ]
