"""Request bodies checked against their route's declared schema (floe/server/schemas.py) before the
handler runs: a value of the wrong type or shape is a 400 naming its field, e.g. `Ref.ID`."""

from __future__ import annotations

import functools
from typing import Any

import jsonschema_rs
from starlette.requests import Request

from floe.model.errors import BadRequest
from floe.server import jsonbody
from floe.server.schemas import SCHEMAS


@functools.cache
def _validator(name: str) -> jsonschema_rs.Validator:
    return jsonschema_rs.validator_for(
        {"$ref": f"#/components/schemas/{name}", "components": {"schemas": SCHEMAS}}
    )


def check(name: str, value: Any) -> None:
    """Raise BadRequest unless `value` conforms to schema `name`, naming the first bad field."""
    for problem in _validator(name).iter_errors(value):
        where = [str(p) for p in problem.instance_path]
        if isinstance(problem.kind, jsonschema_rs.ValidationErrorKind.Required):
            where.append(str(problem.kind.property))
        field = ".".join(where)
        raise BadRequest(f"{field or 'body'}: {problem.message}", field=field)


async def read(request: Request, schema: str) -> None:
    """Parse and check the body of `request` against `schema`; `body(request)` then hands it out."""
    value = jsonbody.parse(await request.body() or b"{}")
    check(schema, value)
    request.state.body = value


def body(request: Request) -> dict[str, Any]:
    """The request's checked JSON body (for a route that declares one)."""
    value: dict[str, Any] = request.state.body
    return value
