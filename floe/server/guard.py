"""The HTTP edge's checks before any handler: a request's origin, its body's type and its size."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from floe.config.common import Common
from floe.model.errors import FloeError, Forbidden, NotJson, TooLarge
from floe.server.errors import error, status_of
from floe.server.webhooks import is_webhook_path
from floe.triggers.webhook import MAX_BODY

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
LARGE_BODY = MAX_BODY  # webhooks (GitHub's cap) and host-to-host documents (a run with its flow)
_SCHEMES = {"ws": "http", "wss": "https", "http": "http", "https": "https"}
_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> str | None:
    """`scheme://host[:port]` of `url`, lower case, ws as http, without a default port; None if
    it is no http(s) or ws(s) address (`null`, the origin of sandboxed pages, among them)."""
    try:
        parts = urlsplit(url.strip())
        scheme, host, port = _SCHEMES.get(parts.scheme.lower()), parts.hostname, parts.port
    except ValueError:
        return None
    if scheme is None or not host:
        return None
    return f"{scheme}://{host}" + (f":{port}" if port and port != _PORTS[scheme] else "")


def own_origin(scope: Scope, headers: Headers) -> str | None:
    """The origin the request was sent to: its scheme and Host header."""
    host = headers.get("host", "")
    return origin_of(f"{scope.get('scheme', 'http')}://{host}") if host else None


def _capped(receive: Receive, limit: int) -> Receive:
    """`receive` that raises TooLarge (413) once the body streamed passes `limit` bytes."""
    seen = 0

    async def capped() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise TooLarge(f"body larger than {limit} bytes")
        return message

    return capped


class EdgeGuard:
    """Refuses, before authentication and routing: a state-changing request or a websocket
    handshake whose `Origin` is neither the host's own nor a configured one (403); a request body
    that is not `application/json` (415; webhooks aside, which are signed); and a body larger
    than its route's limit (413), whether it says so in Content-Length or streams it."""

    def __init__(self, app: ASGIApp, *, common: Callable[[], Common], base: str) -> None:
        self.app, self.common, self.base = app, common, base

    def limit(self, path: str, common: Common) -> int:
        if is_webhook_path(path, self.base) or path.startswith(f"{self.base}/p2p/"):
            return max(LARGE_BODY, common.max_body)
        return common.max_body

    def problem(self, scope: Scope, headers: Headers, common: Common) -> FloeError | None:
        method = scope.get("method", "GET")
        if scope["type"] == "websocket" or method not in SAFE_METHODS:
            origin = headers.get("origin")
            allowed = {own_origin(scope, headers), *(origin_of(o) for o in common.allowed_origins)}
            if origin is not None and (origin_of(origin) or "?") not in allowed:
                return Forbidden(f"requests from {origin[:100]} are not accepted: not this host's origin")
        if scope["type"] != "http":
            return None
        length = headers.get("content-length", "")
        has_body = "transfer-encoding" in headers or (length not in ("", "0"))
        kind = headers.get("content-type", "").split(";")[0].strip().lower()
        signed = is_webhook_path(scope["path"], self.base)
        if has_body and method not in SAFE_METHODS and kind != "application/json" and not signed:
            return NotJson("a request body must be JSON, sent as Content-Type: application/json")
        limit = self.limit(scope["path"], common)
        if length.isdigit() and int(length) > limit:
            return TooLarge(f"body larger than {limit} bytes")
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers, common = Headers(scope=scope), self.common()
        refused = self.problem(scope, headers, common)
        if refused is not None and scope["type"] == "websocket":
            if (await receive())["type"] == "websocket.connect":
                await send({"type": "websocket.close", "code": 1008})  # before accept: HTTP 403
            return
        if refused is not None:
            await error(status_of(refused), str(refused))(scope, receive, send)
            return
        if scope["type"] == "http":
            receive = _capped(receive, self.limit(scope["path"], common))
        await self.app(scope, receive, send)
