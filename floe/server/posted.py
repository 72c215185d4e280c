"""`POST {base}/runs`: a flow document posted with its values, checked by the flow loader, run as
any other flow, its document kept with the run. Off unless `common.posted-flows` names a role."""

from __future__ import annotations

from dataclasses import replace

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from floe.config.errors import ConfigError
from floe.config.load import load_flow_document
from floe.model.errors import BadRequest, Conflict, Forbidden
from floe.model.flow import Flow, Node, NodeClass
from floe.model.gate import RANK
from floe.server.bodies import body
from floe.server.context import ctx, role, who

TRIGGER = "posted"  # the one trigger of a posted flow
MAX_DOCUMENT = 256 * 1024  # characters of YAML


def posted_flow(text: str, by: str) -> Flow:
    """The flow of a posted document, with one data trigger that keeps the document."""
    try:
        flow = load_flow_document(text, "<posted flow>")
    except ConfigError as e:
        raise BadRequest("the posted flow is not valid: " + "; ".join(str(p) for p in e.errors)) from e
    if not flow.id:
        raise BadRequest("the posted flow needs an id", field="flow")
    trigger = Node(TRIGGER, f"Posted by {by}", NodeClass.TRIGGER, "data", opts={"document": text})
    return replace(flow, triggers=(trigger,), source="<posted flow>")


async def endpoint(request: Request) -> Response:
    c = ctx(request)
    allowed = c.config().common.posted_flows
    if not allowed:
        raise Forbidden("this host does not run posted flows (common.posted-flows is off)")
    if RANK.get(role(request), -1) < RANK[allowed]:
        raise Forbidden(f"posting a flow needs the {allowed} role", role=allowed)
    data = body(request)  # checked against the PostFlow schema
    text, values = data["flow"], data.get("values", {})
    if not text.strip():
        raise BadRequest("flow must be the flow document's YAML text", field="flow")
    if len(text) > MAX_DOCUMENT:
        raise BadRequest(f"flow is over {MAX_DOCUMENT} characters", field="flow")
    flow = posted_flow(text, who(request))
    if c.config().flow(flow.id) is not None:
        raise Conflict(f"a configured flow has id {flow.id}: give the posted flow another", field="flow")
    run_id = await c.hub.trigger(flow, TRIGGER, values, by=who(request))  # NotDurable: 503
    return JSONResponse({"run_id": run_id, "flow": flow.id}, status_code=202)
