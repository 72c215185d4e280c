"""The composition root: builds one host's parts, hands each what it needs, and runs them."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import uvicorn

from floe.cluster.peers import Cluster
from floe.config import HostConfig
from floe.config.sources import SourceFlowFiles
from floe.hub.credentials import store_password
from floe.hub.hub import HostInfo, Hub
from floe.hub.messages import Message, Wake
from floe.hub.reload import Reloader
from floe.hub.stopfile import watch_stop_file
from floe.server.app import build_app
from floe.server.auth import Sessions
from floe.server.context import Context
from floe.server.wsconn import BoundedWebSocket
from floe.store.base import RunStore
from floe.store.crypto import KEYS_FILE, load_cipher
from floe.store.lock import store_lock
from floe.store.open import open_store
from floe.triggers.parts import TriggerParts
from floe.triggers.service import Triggers
from floe.triggers.status import TriggerStatus

if TYPE_CHECKING:
    from floe.cluster.pg import Takeover
    from floe.cluster.pg_events import EventFeed
    from floe.cluster.pg_link import PgLink
    from floe.model.run import Run, Start

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
    max_runs: int | None = None  # the most runs this host takes at once (None: common.max-runs)


class HostError(Exception):
    """The host cannot start: its address cannot be served."""


def _listen(host: str, port: int) -> socket.socket:
    """The host's listening socket, bound before it touches any run. Its connections send at once
    (TCP_NODELAY, inherited by each accepted socket on Linux): asyncio sets it only on sockets made
    with the protocol number, which `create_server` leaves 0, and without it an answer on a
    kept-alive connection waited for the peer's delayed ACK (about 40 ms)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        listener = socket.create_server((host, port), family=family, backlog=2048)
    except OSError as e:
        raise HostError(f"cannot serve on {host}:{port}: {e.strerror or e}") from None
    listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return listener


def _stopping(signum: int, frame: object) -> None:
    """uvicorn re-raises the stop signal once it has stopped serving; without this handler that
    would end the process before the hub cancels its runs and the store is flushed."""


class Host:
    """One host's parts, each built once and handed what it uses: the store, the cluster (woken
    into the hub's queue), the hub, the triggers and their status, the reloader and the app."""

    def __init__(
        self,
        config: HostConfig,
        settings: Settings,
        store: RunStore,
        secrets: Mapping[str, str] | None = None,
    ) -> None:
        c = config.common
        host, _, port = settings.bind.rpartition(":")
        self.address = f"{'https' if settings.cert else 'http'}://{host or '127.0.0.1'}:{port}"
        self.settings, self.store = settings, store
        self.max_runs = c.max_runs if settings.max_runs is None else settings.max_runs  # the flag wins
        self.link: PgLink | None = None  # the lease of a host on the postgres store (open_host)
        self.feed: EventFeed | None = None  # other hosts' events on the postgres store (open_host)
        queue: asyncio.Queue[Message] = asyncio.Queue()
        self.cluster = Cluster(
            settings.host_id,
            self.address,
            c.hosts,
            c.base_url,
            settings.admin_token,
            store,
            on_change=lambda: queue.put_nowait(Wake()),
        )
        reader = SourceFlowFiles(Path(c.store_root) / "flow_cache", c.git_key)
        hub = self.hub = Hub(
            HostInfo(settings.host_id, settings.tags, self.max_runs),
            config,
            store,
            flow_files=reader,
            cluster=self.cluster,
            secrets=secrets,
            queue=queue,
        )
        self.triggers = Triggers(
            TriggerParts(store, lambda: hub.config, hub.trigger, hub.clock), TriggerStatus()
        )
        self.reloader = Reloader(lambda: hub.config, hub.use_config, reader, (self.triggers.config_changed,))
        sessions = Sessions(store, lambda: hub.config.common.users)
        self.server = uvicorn.Server(
            uvicorn.Config(
                build_app(
                    Context(
                        hub,
                        store,
                        self.cluster,
                        lambda: hub.config,
                        sessions,
                        settings.admin_token,
                        self.address,
                        self.triggers,
                        self.reloader,
                    )
                ),
                log_level="warning",
                access_log=False,
                lifespan="off",
                http="httptools",
                ws=BoundedWebSocket,
                ws_max_size=1 << 20,
                ws_per_message_deflate=False,  # deflating each frame cost more than it saves on a LAN
                ssl_certfile=settings.cert or None,
                ssl_keyfile=settings.key or None,
            )
        )

    def stop(self) -> None:
        """Stop serving (call on the host's loop): `run` then stops the hub and returns."""
        self.server.should_exit = True

    async def run(self, listener: socket.socket, *, owns_process: bool = True) -> None:
        """Serve on `listener` until `stop()` or SIGINT/SIGTERM, then stop every task of the host.
        `owns_process`: the host is the process's (the CLI): it handles SIGINT, SIGTERM and SIGHUP
        and freezes what start-up made; an in-process host of a test is stopped by `stop()`."""
        hub, settings = self.hub, self.settings
        async with asyncio.TaskGroup() as tg:
            background = [tg.create_task(hub.run())]
            await hub.ready.wait()
            if owns_process:
                gc.freeze()  # what start-up made lives as long as the host: the collector need not scan it
            background += [
                tg.create_task(self.triggers.run()),
                tg.create_task(self.cluster.run()),
                tg.create_task(hub.retention.run()),
                tg.create_task(watch_stop_file(hub, Path(hub.config.common.store_root) / "STOP")),
            ]
            if self.link is not None:
                background.append(tg.create_task(self.link.run()))
                background.append(tg.create_task(self.link.listen(hub.wake_up)))
            if self.feed is not None:
                background.append(tg.create_task(self.feed.run()))
            log.info("host %s serving on %s", settings.host_id, settings.bind)
            with _process_signals(self.reloader) if owns_process else contextlib.nullcontext():
                await self.server.serve(sockets=[listener])  # returns on stop() or SIGINT/SIGTERM
            for task in background:
                task.cancel()  # runs' tasks are killed and awaited, then the store is flushed
            log.info("host %s stopping", settings.host_id)


@contextlib.contextmanager
def _process_signals(reloader: Reloader) -> Iterator[None]:
    """SIGHUP reloads the config; uvicorn re-raises SIGINT/SIGTERM once it has stopped serving, to
    `_stopping`, so that the hub cancels its runs and the store is flushed before the process ends."""
    remove_sighup = reloader.install_sighup()
    previous = {sig: signal.signal(sig, _stopping) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        remove_sighup()
        for sig, handler in previous.items():  # a second signal stops the host at once
            signal.signal(sig, handler)


async def serve(config: HostConfig, settings: Settings, secrets: Mapping[str, str] | None = None) -> None:
    """Serve until SIGINT/SIGTERM (uvicorn returns), then stop the hub and close the store.

    Error handling: StoreError when another host holds the store root's lock, HostError when the
    address cannot be bound; both before any run is recovered or any task process touched."""
    async with open_host(config, settings, secrets) as (host, listener):
        await host.run(listener)


@contextlib.asynccontextmanager
async def open_host(
    config: HostConfig, settings: Settings, secrets: Mapping[str, str] | None = None
) -> AsyncIterator[tuple[Host, socket.socket]]:
    """The host built on its opened store, with its listening socket; closed on exit. Raises as
    `serve` does."""
    c = config.common
    host, _, port = settings.bind.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if not port.isdigit():
        raise HostError(f"bad address {settings.bind!r}: want HOST:PORT")
    with contextlib.ExitStack() as held:
        if c.store_type != "memory":  # a memory store is the process's own
            held.enter_context(store_lock(Path(c.store_root)))
        listener = held.enter_context(_listen(host, int(port)))
        # run documents and events are encrypted at rest; the keys file is made on first start
        # (the postgres store relies on the database's own encryption at rest)
        plain = c.store_type in ("memory", "postgres")
        cipher = None if plain else load_cipher(Path(c.store_root) / KEYS_FILE)
        store = open_store(
            c.store_type,
            Path(c.store_root) / "store",
            bucket=c.s3_bucket,
            prefix=c.s3_prefix,
            endpoint=c.s3_endpoint,
            region=c.s3_region,
            cipher=cipher,
            url=c.store_url,
            password=store_password(os.environ, secrets or {}),
            flush_timeout=c.store_timeout,
            s3_timeout=c.s3_timeout,
        )
        await store.open()
        try:
            built = Host(config, settings, store, secrets)
            if c.store_type == "postgres":
                built.link, built.feed = await _join(store, settings, built)
            try:
                await built.cluster.start()
                yield built, listener
            finally:
                await built.cluster.close()
                if built.link is not None:
                    await built.link.leave()
        finally:
            await store.close()


async def _take_over(store: RunStore, found: Takeover, me: str, built: Host, tags: frozenset[str]) -> None:
    """Resolve the lost hosts' runs in the store (a gate-waiting run moved here is handed to the hub
    at once), and make their stored pends claimable (one may not have been yet): the hub does
    that, retried while the database fails (the takeover is committed already)."""
    from floe.hub.takeover import claimable_again, resolve_lost
    from floe.model.messages import TakenOver

    def repend(run: Run) -> None:
        built.hub.post(TakenOver(run))  # the hub makes it claimable (retried); one made here is held here

    def moved(run: Run, starts: tuple[Start, ...]) -> None:
        built.hub.post(TakenOver(run, starts))

    await resolve_lost(store, found, me, time.time(), moved, repend, tags)
    await claimable_again(store, found, repend)


async def _left_placed(store: RunStore, link: PgLink, built: Host) -> None:
    """A host restarted before its lease ran out frees what it left placed on itself that is not
    active here (an active run resolves in its recovery): a run it claimed and never started is
    made claimable again, one that ended (its release lost) is only freed."""
    from floe.hub.takeover import left_placed
    from floe.model.messages import TakenOver

    free, again = await left_placed(store, await link.placed_here())
    for run_id in free:
        await link.release(run_id)
    for run in again:
        built.hub.post(TakenOver(run))


async def _join(store: RunStore, settings: Settings, built: Host) -> tuple[PgLink, EventFeed]:
    """The host's lease on the postgres store, taken, and the hub placing runs through it; its
    takeovers resolve the lost hosts' runs in the store (a gate-waiting run moved here is handed to
    the hub at once). The store tells the events it stores as this host's, and the feed publishes
    other hosts' here. psycopg is imported only by these hosts."""
    from floe.cluster.pg_events import EventFeed
    from floe.cluster.pg_link import PgLink
    from floe.store.postgres import PgStore

    assert isinstance(store, PgStore)
    me = settings.host_id
    link = PgLink(
        store.pool,
        store.connect,
        me,
        sorted(settings.tags),
        built.address,
        max_runs=built.max_runs,
        lease=built.hub.config.common.lease,
        on_lost=lambda found: _take_over(store, found, me, built, settings.tags),
        on_taken_over=built.hub.lease_lost,
        on_lease=lambda started: store.fence(me, started),
    )
    await link.join()
    await link.forget_unstored()  # admissions a crash of this host's last process left behind
    await _left_placed(store, link, built)
    built.hub.use_link(link)
    built.cluster.use_leases(link.addresses)  # requests about other hosts' runs go to them
    store.events_host = me
    return link, EventFeed(store, me, built.hub.broadcast.publish)
