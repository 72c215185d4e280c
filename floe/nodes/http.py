"""The `http` task: one request with httpx, no shell; its status, headers and body become outputs."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from floe.config.keys import HTTP_METHODS as METHODS
from floe.model.opts import OptError, expand_value, opt_seconds, opt_statuses, opt_str
from floe.nodes.base import NodeContext, NodeError, Outcome

MAX_BODY = 1024 * 1024  # bytes of the answer kept as the `body` output (and logged)
LOG_BODY_LINES = 200


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    url: str
    headers: dict[str, str]
    content: bytes | None
    expect: frozenset[int]
    timeout: float
    follow: bool


def parse(opts: Mapping[str, Any], secrets: Mapping[str, str]) -> Request:
    """The request an http task's opts describe; `${secret:NAME}` is expanded in url, headers, body."""

    def expand(text: str) -> str:
        return expand_value(text, "", {}, secrets) if "${secret:" in text else text

    method = (opt_str(opts, "method") or "GET").upper()
    if method not in METHODS:
        raise OptError(f"opt method {method!r} is not one of {', '.join(sorted(METHODS))}")
    url = expand(opt_str(opts, "url", required=True))
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OptError(f"opt url must be http:// or https://, got {opt_str(opts, 'url')!r}")
    raw_headers = opts.get("headers") or {}
    if not isinstance(raw_headers, Mapping):
        raise OptError("opt headers must be a mapping of name: value")
    headers = {str(k): expand(opt_str(raw_headers, k)) for k in raw_headers}
    content: bytes | None = None
    if "json" in opts and "body" in opts:
        raise OptError("an http task has either body or json, not both")
    if "json" in opts:
        content = expand(json.dumps(opts["json"])).encode()
        headers.setdefault("Content-Type", "application/json")
    elif "body" in opts:
        content = expand(opt_str(opts, "body")).encode()
    timeout = opt_seconds(opts, "timeout") if "timeout" in opts else 30.0
    follow = opts.get("follow-redirects", False)
    if not isinstance(follow, bool):
        raise OptError("opt follow-redirects must be true or false")
    return Request(method, url, headers, content, opt_statuses(opts, "expect"), timeout, follow)


def _body_outputs(response: httpx.Response, body: bytes) -> dict[str, Any]:
    text = body.decode(response.encoding or "utf-8", errors="replace")
    out: dict[str, Any] = {"body": text}
    if "json" in response.headers.get("content-type", ""):
        with contextlib.suppress(ValueError):
            out["json"] = json.loads(text)
    return out


async def execute(ctx: NodeContext) -> Outcome:
    """Send the request; good when the status is expected. Outputs: status, headers, body, json."""
    try:
        req = parse(ctx.opts, ctx.secrets)
    except OptError as exc:
        raise NodeError(str(exc)) from exc
    shown = opt_str(ctx.opts, "url")  # as written: a secret in the URL stays out of the log
    ctx.log(f"{req.method} {shown}")
    began = time.monotonic()
    try:
        async with (
            httpx.AsyncClient(timeout=req.timeout, follow_redirects=req.follow, trust_env=False) as client,
            client.stream(req.method, req.url, headers=req.headers, content=req.content) as response,
        ):
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk[: MAX_BODY - len(body)]
                if len(body) >= MAX_BODY:
                    ctx.log(f"answer body over {MAX_BODY} bytes: the rest is not kept")
                    break
    except httpx.TimeoutException:
        raise NodeError(f"{req.method} {shown}: no answer within {req.timeout:g}s") from None
    except httpx.HTTPError as exc:
        raise NodeError(f"{req.method} {shown}: {exc or type(exc).__name__}") from None
    took = (time.monotonic() - began) * 1000
    ctx.log(f"{response.status_code} {response.reason_phrase} in {took:.0f} ms")
    outputs = {"status": response.status_code, "headers": dict(response.headers)}
    outputs |= _body_outputs(response, bytes(body))
    lines = str(outputs["body"]).splitlines()
    for line in lines[:LOG_BODY_LINES]:
        ctx.log(line)
    if len(lines) > LOG_BODY_LINES:
        ctx.log(f"... {len(lines) - LOG_BODY_LINES} more lines in the body output")
    if response.status_code not in req.expect:
        ctx.log(f"status {response.status_code} is not an expected status")
        return Outcome(1, outputs)
    return Outcome(0, outputs)
