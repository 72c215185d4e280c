"""Runs one host: store, hub and HTTP server in one TaskGroup on one event loop."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from floe.config import HostConfig
from floe.hub.hub import HostInfo, Hub
from floe.server.app import build_app
from floe.server.auth import Sessions
from floe.server.context import Context
from floe.store.open import open_store
from floe.triggers.timer import run_timers

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Settings:
    """The command line of a host."""

    host_id: str = "h1"
    tags: frozenset[str] = frozenset()
    admin_token: str = ""
    bind: str = "127.0.0.1:8080"
    cert: str = ""  # TLS certificate and key files: serve https when set
    key: str = ""


async def serve(config: HostConfig, settings: Settings) -> None:
    """Serve until SIGINT/SIGTERM (uvicorn returns), then stop the hub and close the store."""
    store = open_store(config.common.store_type, Path(config.common.store_root) / "store")
    await store.open()
    try:
        hub = Hub(HostInfo(settings.host_id, settings.tags), config, store)
        host, _, port = settings.bind.rpartition(":")
        scheme = "https" if settings.cert else "http"
        context = Context(
            hub, Sessions(store), settings.admin_token, f"{scheme}://{host or '127.0.0.1'}:{port}"
        )
        server = uvicorn.Server(
            uvicorn.Config(
                build_app(context),
                host=host or "127.0.0.1",
                port=int(port),
                log_level="warning",
                lifespan="off",
                ws_max_size=1 << 20,
                ssl_certfile=settings.cert or None,
                ssl_keyfile=settings.key or None,
            )
        )
        async with asyncio.TaskGroup() as tg:
            hub_task = tg.create_task(hub.run())
            await hub.ready.wait()
            timers = tg.create_task(run_timers(hub))
            log.info("host %s serving on %s", settings.host_id, settings.bind)
            await server.serve()
            timers.cancel()
            hub_task.cancel()
    finally:
        await store.close()
