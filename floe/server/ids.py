"""Every id in a route's path (flow, run, node, trigger) is checked against the one id rule first."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from floe.model.errors import BadRequest
from floe.model.ids import valid_id, valid_run_id

PATH_IDS: dict[str, Callable[[object], bool]] = {
    "flow": valid_id,
    "node": valid_id,
    "trigger": valid_id,
    "run": valid_run_id,
}


def _checked(app: ASGIApp) -> ASGIApp:
    async def check(scope: Scope, receive: Receive, send: Send) -> None:
        for name, value in scope.get("path_params", {}).items():
            valid = PATH_IDS.get(name)
            if valid is not None and not valid(value):
                raise BadRequest(f"{name} {str(value)[:80]!r} is not a valid id", field=name)
        await app(scope, receive, send)

    return check


def check_path_ids(routes: Iterable[BaseRoute]) -> None:
    """Make every route (inside mounts too) refuse a bad id in its path with a 400."""
    for route in routes:
        if isinstance(route, Mount):
            check_path_ids(route.routes)
        elif isinstance(route, Route):
            route.app = _checked(route.app)
