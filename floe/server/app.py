"""Builds the Starlette app: API routes under the base URL, the websocket, auth and error handlers."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

from floe.server import api, ws
from floe.server.auth import AuthMiddleware
from floe.server.context import Context
from floe.server.errors import ApiError, on_api_error, on_crash, on_http_error


def api_routes() -> list[BaseRoute]:
    return [
        Route("/login", api.login, methods=["POST"]),
        Route("/logout", api.logout, methods=["POST"]),
        Route("/flows", api.flows),
        Route("/flows/{flow}", api.flow),
        Route("/flows/{flow}/runs", api.runs),
        Route("/flows/{flow}/runs/{run}", api.run),
        Route("/flows/{flow}/runs/{run}/nodes/{node}/log", api.node_log),
        Route("/flows/{flow}/runs/{run}/cancel", api.cancel, methods=["POST"]),
        Route("/push/data", api.push_data, methods=["POST"]),
        Route("/hosts", api.hosts),
        WebSocketRoute("/ws", ws.stream),
    ]


def build_app(context: Context) -> Starlette:
    base = context.hub.config.common.base_url.rstrip("/") or "/build/api"
    open_paths = {"/healthz", f"{base}/login", "/app/login", "/favicon.ico"}

    def public(path: str) -> bool:
        return path in open_paths or path.startswith("/static/")

    routes: list[BaseRoute] = [
        Route("/healthz", api.healthz),
        WebSocketRoute("/ws", ws.stream),
        Mount(base, routes=api_routes()),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(AuthMiddleware, admin_token=context.admin_token, sessions=context.sessions, public=public)
        ],
        exception_handlers={ApiError: on_api_error, HTTPException: on_http_error, Exception: on_crash},
    )
    app.state.floe = context
    return app
