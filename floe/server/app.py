"""Builds the Starlette app from the route table (routes.py): the API under the base URL, the root
routes, the pages, the edge guard, authentication with each route's role, and the error answers."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount

from floe.server import metrics, openapi, pages
from floe.server.auth import AuthMiddleware
from floe.server.context import Context
from floe.server.errors import HANDLERS
from floe.server.guard import EdgeGuard
from floe.server.ids import check_path_ids
from floe.server.roles import Roles
from floe.server.routes import OPS, public_paths, role_rules, starlette_routes

OPEN_PAGES = {"/", "/app/login", "/favicon.ico"}  # and /static/: the login page and its assets


def build_app(context: Context) -> Starlette:
    base = context.config().common.base_url.rstrip("/") or "/build/api"
    public_route = public_paths(base)

    def public(path: str) -> bool:
        return path in OPEN_PAGES or path.startswith("/static/") or public_route(path)

    routes: list[BaseRoute] = [
        *starlette_routes("root"),
        Mount(base, routes=starlette_routes("base")),
        *pages.page_routes(),
    ]
    check_path_ids(routes)
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(EdgeGuard, common=lambda: context.config().common, base=base),
            Middleware(
                AuthMiddleware,
                admin_token=context.admin_token,
                sessions=context.sessions,
                public=public,
                roles=Roles(role_rules()),
                base=base,
            ),
        ],
        exception_handlers=dict(HANDLERS),
    )
    app.state.floe = context
    app.state.metrics = metrics.Metrics(context.hub)
    app.state.openapi = openapi.document(OPS, base)
    return app
