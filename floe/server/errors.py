"""JSON error answers: `{"error": ...}` with a 4xx status, never a trace."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from floe.hub.hub import NotDurable
from floe.store.errors import DamagedRecord, StoreError

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An expected failure of a request, answered as `{"error": message, **extra}`."""

    def __init__(
        self, status: int, message: str, *, headers: Mapping[str, str] | None = None, **extra: Any
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.extra = status, message, extra
        self.headers = dict(headers or {})  # e.g. Retry-After on a 429


def error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


async def on_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    resp = error(exc.status, exc.message, **exc.extra)
    resp.headers.update(exc.headers)
    return resp


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    resp = error(exc.status_code, exc.detail or "error")
    resp.headers.update(exc.headers or {})  # e.g. Allow on a 405
    return resp


async def on_not_durable(request: Request, exc: Exception) -> Response:
    """Done, but not yet stored: 503 naming the run it made, if any (an id never handed out again)."""
    assert isinstance(exc, NotDurable)
    return error(503, str(exc), **({"run_id": exc.run_id} if exc.run_id else {}))


async def on_store_error(request: Request, exc: Exception) -> Response:
    """A run whose stored record cannot be read: 500 naming it (the rest of the store reads);
    any other store failure (not open, writes failing): 503."""
    assert isinstance(exc, StoreError)
    log.error("%s %s: %s", request.method, request.url.path, exc)
    if isinstance(exc, DamagedRecord):
        return error(500, str(exc), run_id=exc.run_id, unreadable=True)
    return error(503, str(exc))


async def on_crash(request: Request, exc: Exception) -> Response:
    log.exception("%s %s failed", request.method, request.url.path)
    return error(500, "internal error")
