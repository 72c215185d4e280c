"""The HTTP edge of the error tree (floe/model/errors.py): one status per kind of error, `{"error":
message, **extra}` as the answer, never a trace."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from floe.hub.hub import NotDurable
from floe.model import errors as e
from floe.model.policy import Rejected

log = logging.getLogger(__name__)

STATUS: dict[type[Exception], int] = {
    e.BadRequest: 400,
    e.Unauthorized: 401,
    e.Forbidden: 403,
    e.NotFound: 404,
    e.Conflict: 409,
    e.TooLarge: 413,
    e.NotJson: 415,
    e.Unprocessable: 422,
    e.TooMany: 429,
    e.Damaged: 500,
    e.Unreachable: 502,
    e.Unavailable: 503,
}


def status_of(exc: e.FloeError) -> int:
    """The status of an error: its policy's for a Rejected, else its nearest kind's."""
    if isinstance(exc, Rejected):
        return exc.rejection.status
    return next(STATUS[k] for k in type(exc).__mro__ if k in STATUS)


def error(status: int, message: str, **extra: object) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


async def on_floe_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, e.FloeError)
    status = status_of(exc)
    if status >= 500:
        log.error("%s %s: %s", request.method, request.url.path, exc)
    resp = error(status, str(exc), **exc.extra)
    if isinstance(exc, e.TooMany):
        resp.headers["Retry-After"] = str(exc.retry_after)
    return resp


async def on_not_durable(request: Request, exc: Exception) -> Response:
    """Done, but not yet stored: 503 naming the run it made, if any (an id never handed out again)."""
    assert isinstance(exc, NotDurable)
    return error(503, str(exc), **({"run_id": exc.run_id} if exc.run_id else {}))


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    resp = error(exc.status_code, exc.detail or "error")
    resp.headers.update(exc.headers or {})  # e.g. Allow on a 405
    return resp


async def on_crash(request: Request, exc: Exception) -> Response:
    log.exception("%s %s failed", request.method, request.url.path)
    return error(500, "internal error")


HANDLERS = {
    e.FloeError: on_floe_error,
    NotDurable: on_not_durable,
    HTTPException: on_http_error,
    Exception: on_crash,
}
