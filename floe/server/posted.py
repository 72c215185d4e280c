"""`POST {base}/runs`: a flow document posted with its values, checked by the flow loader, run as
any other flow, its document kept with the run. Off unless `common.posted-flows` names a role."""

from __future__ import annotations

from dataclasses import replace

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from floe.config.errors import ConfigError
from floe.config.load import load_flow_document
from floe.model.flow import Flow, Node, NodeClass
from floe.model.gate import RANK
from floe.server.api import body, ctx, who
from floe.server.errors import ApiError

TRIGGER = "posted"  # the one trigger of a posted flow
MAX_DOCUMENT = 256 * 1024  # characters of YAML


def posted_flow(text: str, by: str) -> Flow:
    """The flow of a posted document, with one data trigger that keeps the document."""
    try:
        flow = load_flow_document(text, "<posted flow>")
    except ConfigError as e:
        raise ApiError(400, "the posted flow is not valid: " + "; ".join(str(p) for p in e.errors)) from e
    if not flow.id:
        raise ApiError(400, "the posted flow needs an id", field="flow")
    trigger = Node(TRIGGER, f"Posted by {by}", NodeClass.TRIGGER, "data", opts={"document": text})
    return replace(flow, triggers=(trigger,), source="<posted flow>")


async def endpoint(request: Request) -> Response:
    c = ctx(request)
    allowed = c.hub.config.common.posted_flows
    principal = request.scope.get("state", {}).get("principal")
    role = str(getattr(principal, "role", ""))
    if not allowed:
        raise ApiError(403, "this host does not run posted flows (common.posted-flows is off)")
    if RANK.get(role, -1) < RANK[allowed]:
        raise ApiError(403, f"posting a flow needs the {allowed} role", role=allowed)
    data = await body(request)
    text, values = data.get("flow"), data.get("values", {})
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, "flow must be the flow document's YAML text", field="flow")
    if len(text) > MAX_DOCUMENT:
        raise ApiError(400, f"flow is over {MAX_DOCUMENT} characters", field="flow")
    if not isinstance(values, dict):
        raise ApiError(400, "values must be an object", field="values")
    flow = posted_flow(text, who(request))
    if c.hub.config.flow(flow.id) is not None:
        raise ApiError(409, f"a configured flow has id {flow.id}: give the posted flow another", field="flow")
    run_id = await c.hub.trigger(flow, TRIGGER, values, by=who(request))  # NotDurable: 503
    return JSONResponse({"run_id": run_id, "flow": flow.id}, status_code=202)
