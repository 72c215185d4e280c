"""Runs one host: store, hub and HTTP server in one TaskGroup on one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from floe.cluster.peers import Cluster
from floe.config import HostConfig
from floe.hub.hub import HostInfo, Hub
from floe.hub.messages import Wake
from floe.hub.stopfile import watch_stop_file
from floe.server.app import build_app
from floe.server.auth import Sessions
from floe.server.context import Context
from floe.server.reload import install_sighup
from floe.server.wsconn import BoundedWebSocket
from floe.store.crypto import KEYS_FILE, load_cipher
from floe.store.lock import store_lock
from floe.store.open import open_store
from floe.triggers.service import run_triggers

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


class HostError(Exception):
    """The host cannot start: its address cannot be served."""


def _listen(host: str, port: int) -> socket.socket:
    """The host's listening socket, bound before it touches any run."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=2048)
    except OSError as e:
        raise HostError(f"cannot serve on {host}:{port}: {e.strerror or e}") from None


def _stopping(signum: int, frame: object) -> None:
    """uvicorn re-raises the stop signal once it has stopped serving; without this handler that
    would end the process before the hub cancels its runs and the store is flushed."""


async def serve(config: HostConfig, settings: Settings, secrets: Mapping[str, str] | None = None) -> None:
    """Serve until SIGINT/SIGTERM (uvicorn returns), then stop the hub and close the store.

    Error handling: StoreError when another host holds the store root's lock, HostError when the
    address cannot be bound; both before any run is recovered or any task process touched."""
    c = config.common
    host, _, port = settings.bind.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit():
        raise HostError(f"bad address {settings.bind!r}: want HOST:PORT")
    with contextlib.ExitStack() as held:
        if c.store_type != "memory":  # a memory store is the process's own
            held.enter_context(store_lock(Path(c.store_root)))
        listener = held.enter_context(_listen(host, int(port)))
        await _serve(config, settings, secrets, listener)


async def _serve(
    config: HostConfig, settings: Settings, secrets: Mapping[str, str] | None, listener: socket.socket
) -> None:
    c = config.common
    # run documents and events are encrypted at rest; the keys file is made on first start
    cipher = None if c.store_type == "memory" else load_cipher(Path(c.store_root) / KEYS_FILE)
    store = open_store(
        c.store_type,
        Path(c.store_root) / "store",
        bucket=c.s3_bucket,
        prefix=c.s3_prefix,
        endpoint=c.s3_endpoint,
        region=c.s3_region,
        cipher=cipher,
    )
    await store.open()
    host, _, port = settings.bind.rpartition(":")
    address = f"{'https' if settings.cert else 'http'}://{host or '127.0.0.1'}:{port}"
    cluster = Cluster(
        settings.host_id, address, config.common.hosts, config.common.base_url, settings.admin_token, store
    )
    try:
        await cluster.start()
        hub = Hub(HostInfo(settings.host_id, settings.tags), config, store, cluster=cluster, secrets=secrets)
        cluster.on_change = lambda: hub.post(Wake())
        server = uvicorn.Server(
            uvicorn.Config(
                build_app(
                    Context(
                        hub, Sessions(store, lambda: hub.config.common.users), settings.admin_token, address
                    )
                ),
                log_level="warning",
                lifespan="off",
                ws=BoundedWebSocket,
                ws_max_size=1 << 20,
                ssl_certfile=settings.cert or None,
                ssl_keyfile=settings.key or None,
            )
        )
        async with asyncio.TaskGroup() as tg:
            background = [tg.create_task(hub.run())]
            await hub.ready.wait()
            gc.freeze()  # what start-up made lives as long as the host: the collector need not scan it
            background += [
                tg.create_task(run_triggers(hub)),
                tg.create_task(cluster.run()),
                tg.create_task(hub.retention.run()),
                tg.create_task(watch_stop_file(hub, Path(config.common.store_root) / "STOP")),
            ]
            log.info("host %s serving on %s", settings.host_id, settings.bind)
            remove_sighup = install_sighup(hub)
            previous = {sig: signal.signal(sig, _stopping) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                await server.serve(
                    sockets=[listener]
                )  # returns on SIGINT/SIGTERM, then re-raises it: to `_stopping`
            finally:
                remove_sighup()
                for sig, handler in previous.items():  # a second signal stops the host at once
                    signal.signal(sig, handler)
            for task in background:
                task.cancel()  # runs' tasks are killed and awaited, then the store is flushed
            log.info("host %s stopping", settings.host_id)
    finally:
        await cluster.close()
        await store.close()
