"""The OpenAPI 3.1 document of the HTTP API, generated from the route table (routes.py) and the
schemas (schemas.py); host-to-host routes are left out. Served at `GET {base}/openapi.json`."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from floe.server.roles import PUBLIC
from floe.server.schemas import ANY_OBJ, INT, SCHEMAS, STR, S, ref

if TYPE_CHECKING:
    from floe.server.routes import Op

ERRORS = {
    400: "bad request (`field` names the bad input)",
    401: "not authenticated",
    403: "the user's role may not do this, or a browser sent it from another origin",
    404: "not found",
    409: "conflict with the run's state",
    413: "body larger than common.max-body (webhooks, host-to-host: 25 MiB)",
    415: "a body that is not Content-Type: application/json",
    422: "the payload cannot start a run",
    429: "too many requests: wait Retry-After seconds, or a policy's rate limit",
    502: "the host that executes the run (or has its file) cannot be reached",
    503: "the store cannot be read or written now",
}
MEDIA: dict[str, S] = {
    "text": {"description": "text", "content": {"text/plain": {"schema": STR}}},
    "binary": {
        "description": "the file, as an attachment",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    },
    "any": {"description": "JSON", "content": {"application/json": {"schema": ANY_OBJ}}},
    "events": {"description": "switching protocols; then Event messages (schema Event)"},
}


def _json(schema: str, description: str) -> S:
    return {"description": description, "content": {"application/json": {"schema": ref(schema)}}}


def _errors(codes: Iterable[int]) -> dict[str, S]:
    out = {str(c): _json("Error", ERRORS[c]) for c in codes}
    if "429" in out:
        out["429"]["headers"] = {"Retry-After": {"schema": INT, "description": "seconds to wait"}}
    return out


def _answer(status: int, name: str) -> S:
    return MEDIA[name] if name in MEDIA else _json(name, f"{status}: {name}")


def operation(op: Op) -> S:
    """The OpenAPI operation of one declared route."""
    public = op.role == PUBLIC
    responses = {str(s): _answer(s, name) for s, name in op.answers.items()}
    responses.update(_errors([c for c in op.errors if str(c) not in responses]))
    if not public:
        responses.update(_errors([401]))
    out: S = {"summary": op.summary, "responses": responses}
    if op.notes:
        out["description"] = op.notes
    names = re.findall(r"\{(\w+)(?::\w+)?\}", op.path)
    params = [{"name": n, "in": "path", "required": True, "schema": STR} for n in names]
    params += [
        {
            "name": q.name,
            "in": "query",
            "required": False,
            "schema": dict(q.schema),
            "description": q.description,
        }
        for q in op.query
    ]
    if params:
        out["parameters"] = params
        responses.setdefault("400", _json("Error", "an id in the path breaks the id rule"))
    if op.body:
        schema = {"application/json": {"schema": ref(op.body)}}
        out["requestBody"] = {"required": not op.optional_body, "content": schema}
    elif op.raw_body:
        out["requestBody"] = {"content": {"application/json": {"schema": ANY_OBJ}}}
    if op.method not in ("GET", "WS"):  # what the HTTP edge refuses before any handler (guard.py)
        read = _errors([400]) if "requestBody" in out else {}
        out["responses"] = {**_errors([403, 413, 415]), **read, **responses}
    if public:
        out["security"] = []
    return out


def document(ops: Iterable[Op], base: str) -> S:
    """The document of the routes `ops` for an API mounted at `base` (e.g. /build/api)."""
    paths: dict[str, S] = {}
    for op in ops:
        if op.internal:
            continue
        path = re.sub(r"\{(\w+):\w+\}", r"{\1}", op.path)  # `{path:path}` is `{path}` in OpenAPI
        method = "get" if op.method == "WS" else op.method.lower()
        for prefix in {"root": [""], "base": [base], "both": ["", base]}[op.where]:
            paths.setdefault(prefix + path, {})[method] = operation(op)
    return {
        "openapi": "3.1.0",
        "info": {"title": "floe", "version": "1", "description": "The HTTP API of a floe host."},
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "token": {"type": "apiKey", "in": "header", "name": "X-Floe-Auth"},
                "session": {"type": "apiKey", "in": "cookie", "name": "floe-sesh"},
            },
        },
        "security": [{"token": []}, {"session": []}],
    }


async def endpoint(request: Request) -> Response:
    doc: dict[str, Any] = request.app.state.openapi
    return JSONResponse(doc)
