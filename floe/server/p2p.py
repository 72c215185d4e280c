"""Host-to-host routes under `{base}/p2p/`: what only hosts ask each other (hello, hand-over of a
pend, a run that ended, a wake-up, the active runs, the lock table). The route table gives them
the `peer` role: the auth middleware lets only the admin token through (floe/server/roles.py)."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from floe.cluster.locks import Locks
from floe.cluster.signing import SIGNATURE_KEY, signed
from floe.hub.messages import Wake
from floe.model.codec import flow_content, run_doc, run_from_doc
from floe.model.errors import BadRequest, Conflict, Forbidden
from floe.model.ids import valid_id, valid_run_id
from floe.model.run import Run
from floe.server.bodies import body
from floe.server.context import ctx


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
            raise BadRequest(f"not a pend: {message}")
    try:
        run = run_from_doc(doc)
        json.dumps(run_doc(run))  # it must survive our own store
    except Exception as e:  # any fault of a foreign document is the sender's
        raise BadRequest(f"not a pend: {e!r}") from e
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
        raise BadRequest(f"not a pend: {bad[0]} is not a valid id")
    return run


async def hello(request: Request) -> Response:
    c = ctx(request)
    hub = c.hub
    c.cluster.heard_from(request.query_params.get("from", ""))
    return JSONResponse({"id": hub.host.id, "tags": sorted(hub.host.tags), **hub.load()})


def _trusted(request: Request, doc: dict[str, Any], run: Run) -> None:
    """A pend's flow snapshot must be one of this host's config (by content) or signed by a cluster
    host: the admin token alone does not let a caller run a flow of its own making (403)."""
    c = ctx(request)
    if signed(c.admin_token, doc["snapshot"], doc.get(SIGNATURE_KEY)):
        return
    content = flow_content(run.flow)
    if any(f.id == run.flow.id and flow_content(f) == content for f in c.config().flows):
        return
    raise Forbidden("the pend's flow snapshot is neither in this host's config nor signed by a cluster host")


async def offer(request: Request) -> Response:
    doc = body(request)
    run = parse_run(doc)
    _trusted(request, doc, run)
    why = await ctx(request).hub.accept(run)
    if why:
        raise Conflict(why)
    return JSONResponse({"run_id": run.run_id, "exec_host": ctx(request).hub.host.id})


async def ended(request: Request) -> Response:
    data = body(request)  # checked against the Ended schema
    ctx(request).hub.ended_elsewhere(request.path_params["run"], data["status"], float(data["ended"]))
    return JSONResponse({"ok": True})


async def wake(request: Request) -> Response:
    """A peer's run ended (or its pends changed): with its load now, so that a slot it freed is
    seen at once, not at the next heartbeat."""
    c, data = ctx(request), body(request)  # checked against the Wake schema
    if "id" in data:
        c.cluster.loaded(data["id"], data)
    c.hub.post(Wake())
    return JSONResponse({"ok": True})


def _locks(request: Request) -> Locks:
    """The lock table, for an admin caller of the lock host (409 on any other host)."""
    locks = ctx(request).cluster.locks
    if locks is None:
        raise Conflict("this host is not the lock host")
    return locks


async def lock(request: Request) -> Response:
    locks = _locks(request)
    data = body(request)
    run_id, host = data["run_id"], data["host"]  # and tags: checked against the LockRequest schema
    if not valid_run_id(run_id) or not valid_id(host):
        raise BadRequest("run_id and host must be ids", field="run_id")
    why = locks.acquire(run_id, host, data["tags"])
    await ctx(request).store.flush()
    if why:
        raise Conflict(why)
    return JSONResponse({"ok": True})


async def unlock(request: Request) -> Response:
    locks = _locks(request)
    locks.release(request.path_params["run"])
    await ctx(request).store.flush()
    return JSONResponse({"ok": True})


async def active(request: Request) -> Response:
    hub = ctx(request).hub
    return JSONResponse(
        {"runs": [{"run_id": r.run_id, "flow": r.flow.id} for r in hub.runs.values() if r.phase == "active"]}
    )
