"""`POST {base}/flows/{flow}/triggers/{trigger}/run`: fire a timer or poll-git trigger now (operator)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from floe.config.errors import FlowFileError
from floe.config.sources import SourceError
from floe.model.policy import Rejected
from floe.server.api import body, ctx, who
from floe.server.errors import ApiError
from floe.triggers.run_now import CannotRunNow, run_now


async def endpoint(request: Request) -> Response:
    c = ctx(request)
    flow_id, trigger_id = request.path_params["flow"], request.path_params["trigger"]
    flow = c.hub.config.flow(flow_id, None)
    if flow is None:
        raise ApiError(404, f"no flow {flow_id}")
    trig = flow.trigger(trigger_id)
    if trig is None:
        raise ApiError(404, f"flow {flow.id} has no trigger {trigger_id}", field="trigger")
    ref = (await body(request)).get("ref") or ""
    if not isinstance(ref, str):
        raise ApiError(400, "ref must be a branch, tag or full ref name", field="ref")
    try:
        run_id = await run_now(c.hub, flow, trig, ref, by=who(request))
    except CannotRunNow as e:
        raise ApiError(400, str(e), field=e.field) from e
    except SourceError as e:
        raise ApiError(422, str(e)) from e
    except FlowFileError as e:
        raise ApiError(422, str(e)) from e
    except Rejected as e:
        raise ApiError(e.rejection.status, str(e), policy=e.rejection.policy) from e
    return JSONResponse({"run_id": run_id, "trigger": trig.id}, status_code=202)
