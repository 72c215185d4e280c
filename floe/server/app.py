"""Builds the Starlette app: API routes under the base URL, the websocket, pages, auth and errors."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

from floe.hub.hub import NotDurable
from floe.server import api, metrics, openapi, p2p, pages, posted, reload, trigger_now, webhooks, ws
from floe.server.auth import AuthMiddleware
from floe.server.context import Context
from floe.server.errors import (
    ApiError,
    on_api_error,
    on_crash,
    on_http_error,
    on_not_durable,
    on_store_error,
)
from floe.server.guard import EdgeGuard
from floe.server.ids import check_path_ids
from floe.store.errors import StoreError


def api_routes() -> list[BaseRoute]:
    return [
        Route("/login", api.login, methods=["POST"]),
        Route("/logout", api.logout, methods=["POST"]),
        Route("/me", api.me),
        Route("/flows", api.flows),
        Route("/flows/{flow}", api.flow),
        Route("/flows/{flow}/runs", api.runs),
        Route("/flows/{flow}/runs/{run}", api.run),
        Route("/flows/{flow}/runs/{run}/nodes/{node}/log", api.node_log),
        Route("/flows/{flow}/runs/{run}/artifacts/{node}/{path:path}", api.artifact),
        Route("/flows/{flow}/runs/{run}/cancel", api.cancel, methods=["POST"]),
        Route("/flows/{flow}/runs/{run}/rerun", api.rerun, methods=["POST"]),
        Route("/flows/{flow}/triggers/{trigger}/run", trigger_now.endpoint, methods=["POST"]),
        Route("/stop", api.stopped),
        Route("/stop", api.stop, methods=["POST"]),
        Route("/go", api.go, methods=["POST"]),
        Route("/audit", api.audit),
        Route("/config/reload", reload.endpoint, methods=["POST"]),
        Route("/retention/run", api.retention, methods=["POST"]),
        *webhooks.routes(),
        Route("/push/data", api.push_data, methods=["POST"]),
        Route("/runs", api.all_runs),
        Route("/runs", posted.endpoint, methods=["POST"]),
        Route("/hosts", api.hosts),
        Route("/openapi.json", openapi.endpoint),
        Route("/metrics", metrics.endpoint),
        WebSocketRoute("/ws", ws.stream),
        Mount("/p2p", routes=p2p.routes()),
    ]


def build_app(context: Context) -> Starlette:
    base = context.hub.config.common.base_url.rstrip("/") or "/build/api"
    open_paths = {"/", "/healthz", f"{base}/login", "/app/login", "/favicon.ico"}

    def public(path: str) -> bool:
        return path in open_paths or path.startswith("/static/") or webhooks.is_webhook_path(path, base)

    routes: list[BaseRoute] = [
        Route("/healthz", api.healthz),
        Route("/metrics", metrics.endpoint),
        WebSocketRoute("/ws", ws.stream),
        Mount(base, routes=api_routes()),
        *pages.page_routes(),
    ]
    check_path_ids(routes)
    app = Starlette(
        routes=routes,
        middleware=[
            Middleware(EdgeGuard, common=lambda: context.hub.config.common, base=base),
            Middleware(
                AuthMiddleware,
                admin_token=context.admin_token,
                sessions=context.sessions,
                public=public,
                base=base,
            ),
        ],
        exception_handlers={
            ApiError: on_api_error,
            NotDurable: on_not_durable,
            StoreError: on_store_error,
            HTTPException: on_http_error,
            Exception: on_crash,
        },
    )
    app.state.floe = context
    app.state.metrics = metrics.Metrics(context.hub)
    app.state.openapi = openapi.spec(base)
    return app
