"""The webhook route: `POST {base}/push/webhook/{flow}/{trigger}`, verified by the trigger's secret
(or the API's own credentials) and turned into a run by the hub."""

from __future__ import annotations

import logging
import urllib.parse
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from floe.model.errors import FloeError, Forbidden, NotFound, Unauthorized
from floe.model.flow import Flow, Node
from floe.model.gate import RANK
from floe.server import jsonbody
from floe.server.auth import authenticate
from floe.server.context import Context, ctx
from floe.triggers.deliveries import delivery_id
from floe.triggers.status import TriggerKey
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
    """True for `{base}/push/webhook/...`: the edge lets larger bodies of any type through to
    `endpoint`, which checks a signature or the API's own credentials itself."""
    return path.startswith(f"{base.rstrip('/')}{PATH}/")


def _answer(status: int, **doc: Any) -> JSONResponse:
    return JSONResponse(doc, status_code=status)


def _payload(body: bytes, content_type: str) -> Any:
    """The JSON payload: the body, or its `payload` field when GitHub sends it form-encoded."""
    if content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as e:
            raise BadPayload("a form-encoded push must be UTF-8 text") from e
        fields = urllib.parse.parse_qs(text, strict_parsing=False)
        if "payload" not in fields:
            raise BadPayload("a form-encoded push needs a payload field")
        return jsonbody.parse(fields["payload"][0])
    return jsonbody.parse(body or b"null")


def _find(c: Context, flow_id: str, trigger_id: str) -> tuple[Flow, Node] | None:
    flow = c.config().flow(flow_id)
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
    c = ctx(request)
    flow_id, trigger_id = request.path_params["flow"], request.path_params["trigger"]
    admin = await authenticate(request, c.admin_token, c.sessions)
    if admin is not None and RANK[admin.role] < RANK["operator"]:
        raise Forbidden(f"{admin.user} ({admin.role}) may not trigger runs: it needs operator")
    found = _find(c, flow_id, trigger_id)
    if found is None:
        if admin is None:
            raise Unauthorized("missing or invalid credentials")
        raise NotFound(f"flow {flow_id} has no webhook trigger {trigger_id}")
    flow, trig = found
    key = TriggerKey(flow.id, flow.ver, trig.id, flow.id)
    status = c.triggers.status
    body = await request.body()  # at most guard.LARGE_BODY bytes
    headers = {k.lower(): v for k, v in request.headers.items()}
    secret = trig.opts.get("secret")
    if admin is None:
        if not isinstance(secret, str) or not secret:
            raise Unauthorized("missing or invalid credentials")
        problem = verify(headers, body, secret)
        if problem is not None:
            client = request.client.host if request.client else "?"
            log.warning("webhook %s/%s from %s: %s", flow.id, trig.id, client, problem)
            status.failed(key, f"rejected a request from {client}: {problem}", c.hub.clock())
            raise Unauthorized(problem)
    reason = event_kind(headers)
    if reason is not None:
        return _answer(202, started=False, reason=reason)
    push = parse_push(_payload(body, headers.get("content-type", "")))  # BadPayload, BadRequest: 400
    if isinstance(push, str):
        return _answer(202, started=False, reason=push)
    if not wanted(push.branch, branch_filter(trig.opts)):
        return _answer(202, started=False, reason=f"branch {push.branch} does not match branches")
    delivery = delivery_id(headers)
    if not delivery:
        return (await _start(c, flow, trig, key, push))[0]
    deliveries = c.triggers.deliveries
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
    status = c.triggers.status
    now = c.hub.clock()
    url = trig.opts.get("url")
    try:
        run_id = await c.hub.trigger(flow, trig.id, push.values(url if isinstance(url, str) else ""))
    except FloeError as e:  # a flow-file that cannot be had, a policy's refusal: the status keeps it
        status.failed(key, str(e), now)
        raise
    log.info("webhook %s/%s: %s at %s started %s", flow.id, trig.id, push.branch, push.hash[:12], run_id)
    status.fired(key, now, run_id)
    return _answer(202, started=True, run_id=run_id), run_id
