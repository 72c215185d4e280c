"""The webhook route: `POST {base}/push/webhook/{flow}/{trigger}`, verified by the trigger's secret
(or the API's own credentials) and turned into a run by the hub."""

from __future__ import annotations

import logging
import urllib.parse
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from floe.config.errors import FlowFileError
from floe.model.flow import Flow, Node
from floe.model.gate import RANK
from floe.model.policy import Rejected
from floe.server import jsonbody
from floe.server.auth import authenticate
from floe.server.context import Context
from floe.triggers.deliveries import deliveries_for, delivery_id
from floe.triggers.status import TriggerKey, status_for
from floe.triggers.webhook import (
    PATH,
    BadPayload,
    Push,
    branch_filter,
    event_kind,
    parse_push,
    verify,
    wanted,
)

log = logging.getLogger(__name__)


def is_webhook_path(path: str, base: str) -> bool:
    """True for `{base}/push/webhook/...`: the auth middleware lets these through to `endpoint`,
    which checks a signature or the API's own credentials itself."""
    return path.startswith(f"{base.rstrip('/')}{PATH}/")


def routes(base: str = "") -> list[BaseRoute]:
    """`POST {base}/push/webhook/{flow}/{trigger}`; `base` "" for a route inside the API's Mount."""
    return [Route(f"{base.rstrip('/')}{PATH}/{{flow}}/{{trigger}}", endpoint, methods=["POST"])]


def _answer(status: int, **doc: Any) -> JSONResponse:
    return JSONResponse(doc, status_code=status)


def _payload(body: bytes, content_type: str) -> Any:
    """The JSON payload: the body, or its `payload` field when GitHub sends it form-encoded."""
    if content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
        fields = urllib.parse.parse_qs(body.decode("utf-8"), strict_parsing=False)
        if "payload" not in fields:
            raise BadPayload("a form-encoded push needs a payload field")
        return jsonbody.parse(fields["payload"][0])
    return jsonbody.parse(body or b"null")


def _find(c: Context, flow_id: str, trigger_id: str) -> tuple[Flow, Node] | None:
    flow = c.hub.config.flow(flow_id)
    trig = flow.trigger(trigger_id) if flow is not None else None
    if flow is None or trig is None or trig.type != "webhook":
        return None
    return flow, trig


async def endpoint(request: Request) -> Response:
    """A push notification for webhook trigger `{trigger}` of flow `{flow}` (its highest version).

    401 without a valid signature (a trigger with a `secret`) or without the API's credentials (a
    trigger without one, or with either); 202 `{"started": false, "reason"}` for events that start
    nothing (ping, another event, a tag, a deleted or filtered branch); 202 `{"started": true,
    "run_id"}` for a push; 200 `{"started": false, "duplicate": true, "run_id"}` for a delivery id
    (`X-GitHub-Delivery`, `X-Gitea-Delivery`, `X-Gitlab-Event-UUID`) that already started a run;
    400 for a body that is not a push payload; 422 for a bad flow-file."""
    c: Context = request.app.state.floe
    flow_id, trigger_id = request.path_params["flow"], request.path_params["trigger"]
    admin = await authenticate(request, c.admin_token, c.sessions)
    if admin is not None and RANK[admin.role] < RANK["operator"]:
        return _answer(403, error=f"{admin.user} ({admin.role}) may not trigger runs: it needs operator")
    found = _find(c, flow_id, trigger_id)
    if found is None:
        if admin is None:
            return _answer(401, error="missing or invalid credentials")
        return _answer(404, error=f"flow {flow_id} has no webhook trigger {trigger_id}")
    flow, trig = found
    key = TriggerKey(flow.id, flow.ver, trig.id, flow.id)
    status = status_for(c.hub)
    body = await request.body()  # at most guard.LARGE_BODY bytes
    headers = {k.lower(): v for k, v in request.headers.items()}
    secret = trig.opts.get("secret")
    if admin is None:
        if not isinstance(secret, str) or not secret:
            return _answer(401, error="missing or invalid credentials")
        problem = verify(headers, body, secret)
        if problem is not None:
            client = request.client.host if request.client else "?"
            log.warning("webhook %s/%s from %s: %s", flow.id, trig.id, client, problem)
            status.failed(key, f"rejected a request from {client}: {problem}", c.hub.clock())
            return _answer(401, error=problem)
    reason = event_kind(headers)
    if reason is not None:
        return _answer(202, started=False, reason=reason)
    try:
        push = parse_push(_payload(body, headers.get("content-type", "")))
    except (ValueError, UnicodeDecodeError) as e:  # BadPayload is a ValueError; bad JSON an ApiError
        return _answer(400, error=str(e))
    if isinstance(push, str):
        return _answer(202, started=False, reason=push)
    if not wanted(push.branch, branch_filter(trig.opts)):
        return _answer(202, started=False, reason=f"branch {push.branch} does not match branches")
    delivery = delivery_id(headers)
    if not delivery:
        return (await _start(c, flow, trig, key, push))[0]
    deliveries = deliveries_for(c.hub)
    async with deliveries.lock(key):
        earlier = await deliveries.run_of(key, delivery)
        if earlier is not None:
            log.info("webhook %s/%s: delivery %s again: it started %s", flow.id, trig.id, delivery, earlier)
            return _answer(200, started=False, duplicate=True, run_id=earlier)
        answer, run_id = await _start(c, flow, trig, key, push)
        if run_id:
            await deliveries.remember(key, delivery, run_id)
        return answer


async def _start(c: Context, flow: Flow, trig: Node, key: TriggerKey, push: Push) -> tuple[Response, str]:
    """Start the run of `push`: the answer, and the run id ("" when none started)."""
    status = status_for(c.hub)
    now = c.hub.clock()
    url = trig.opts.get("url")
    try:
        run_id = await c.hub.trigger(flow, trig.id, push.values(url if isinstance(url, str) else ""))
    except FlowFileError as e:
        status.failed(key, str(e), now)
        return _answer(422, error=str(e)), ""
    except Rejected as e:
        status.failed(key, str(e), now)
        return _answer(e.rejection.status, error=str(e), policy=e.rejection.policy, started=False), ""
    log.info("webhook %s/%s: %s at %s started %s", flow.id, trig.id, push.branch, push.hash[:12], run_id)
    status.fired(key, now, run_id)
    return _answer(202, started=True, run_id=run_id), run_id
