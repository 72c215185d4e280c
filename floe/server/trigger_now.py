"""`POST {base}/flows/{flow}/triggers/{trigger}/run`: fire a timer or poll-git trigger now (operator)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from floe.model.errors import NotFound
from floe.server.bodies import body
from floe.server.context import ctx, who


async def endpoint(request: Request) -> Response:
    """202 `{"run_id", "trigger"}`; CannotRunNow (400), SourceError and FlowFileError (422) and a
    policy's refusal are answered at the edge."""
    c = ctx(request)
    flow_id, trigger_id = request.path_params["flow"], request.path_params["trigger"]
    flow = c.config().flow(flow_id, None)
    if flow is None:
        raise NotFound(f"no flow {flow_id}")
    trig = flow.trigger(trigger_id)
    if trig is None:
        raise NotFound(f"flow {flow.id} has no trigger {trigger_id}", field="trigger")
    ref = body(request).get("ref") or ""  # checked against the RunNowRequest schema
    run_id = await c.triggers.run_now(flow, trig, ref, by=who(request))
    return JSONResponse({"run_id": run_id, "trigger": trig.id}, status_code=202)
