"""The cluster as this host sees it: peers learned at start and kept by a heartbeat, and the lock host."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from floe.cluster.client import PeerClient, PeerError
from floe.cluster.locks import Locks
from floe.model.dispatch import HostView
from floe.store.base import RunStore

log = logging.getLogger(__name__)
T = TypeVar("T")


def same_address(a: str, b: str) -> bool:
    norm = [x.rstrip("/").replace("://localhost", "://127.0.0.1") for x in (a, b)]
    return norm[0] == norm[1]


@dataclass(eq=False)
class Peer:
    address: str
    client: PeerClient
    id: str = ""
    tags: frozenset[str] = frozenset()
    online: bool = False
    active: int = 0
    running: int = 0  # of its active runs, those not waiting on a data gate
    max_runs: int = 0  # the most it takes at once (0: any number)
    error: str = "not contacted yet"
    last_seen: float = 0.0

    def view(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "address": self.address,
            "tags": sorted(self.tags),
            "online": self.online,
            "active_runs": self.active,
            "error": "" if self.online else self.error,
            "last_seen": self.last_seen,
        }


def _load(p: Peer, doc: dict[str, Any]) -> None:
    """A peer's load as its hello or wake-up gives it (a host of an older floe sends `active` alone)."""
    numbers = {k: v for k in ("active", "running", "max_runs") if isinstance(v := doc.get(k, 0), int)}
    p.active = numbers.get("active", 0)
    p.running, p.max_runs = numbers.get("running", p.active), numbers.get("max_runs", 0)


@dataclass
class Cluster:
    """Peers from `common.hosts` other than this host; the first entry of `hosts` is the lock host.
    `on_change` wakes the hub's dispatch: after each heartbeat round and when a peer comes online."""

    host_id: str
    address: str
    addresses: tuple[str, ...]
    base_url: str
    token: str
    store: RunStore
    on_change: Callable[[], None]
    heartbeat: float = 1.0
    peers: list[Peer] = field(default_factory=list)
    # on the postgres store: the live hosts' addresses by id, from their leases (use_leases)
    leases: Callable[[], Awaitable[dict[str, str]]] | None = None

    def __post_init__(self) -> None:
        others = [a for a in self.addresses if not same_address(a, self.address)]
        self.http = httpx.AsyncClient(limits=httpx.Limits(max_connections=200)) if others else None
        self.peers = [
            Peer(a, PeerClient(self.http, a, self.base_url, self.token)) for a in others if self.http
        ]
        self.lock_local = not self.addresses or same_address(self.addresses[0], self.address)
        self.locks = Locks(self.store) if self.lock_local else None
        self.lock_client = (
            PeerClient(self.http, self.addresses[0], self.base_url, self.token)
            if self.http and not self.lock_local
            else None
        )
        self.beaten = asyncio.Event()  # set after the first heartbeat round
        self.leased: dict[str, Peer] = {}  # hosts found in the leases, by id
        self._greeting: set[asyncio.Task[None]] = set()  # greetings of peers that said hello first

    async def start(self) -> None:
        if self.locks is not None:
            await self.locks.load()

    async def close(self) -> None:
        if self.http is not None:
            await self.http.aclose()

    # ---- membership --------------------------------------------------------------------------
    async def run(self) -> None:
        """Heartbeat every peer until cancelled, waking the hub after each round."""
        beats = 0
        while True:
            await self.beat()
            beats += 1
            if self.locks is not None and beats % 10 == 1:
                await self.reconcile_locks()
            await asyncio.sleep(self.heartbeat)

    async def reconcile_locks(self) -> None:
        """On the lock host: free reservations whose runs their (reachable) host no longer runs."""
        assert self.locks is not None
        older = time.time() - 10 * self.heartbeat
        got, _ = await self.gather(lambda p: p.client.active())
        for peer, runs in got:
            for run_id in self.locks.reconcile(peer.id, {r["run_id"] for r in runs}, older):
                log.warning("freed the resources of run %s: %s no longer runs it", run_id, peer.id)

    async def beat(self) -> None:
        await asyncio.gather(*(self._hello(p) for p in self.peers))
        self.beaten.set()
        self.on_change()  # a host may have come up; also the backstop for a missed wake

    def heard_from(self, address: str) -> None:
        """A peer said hello: if we had it offline, greet it now rather than at the next beat."""
        peer = next((p for p in self.peers if address and same_address(p.address, address)), None)
        if peer is not None and not peer.online:
            task = asyncio.ensure_future(self._greet(peer))
            self._greeting.add(task)
            task.add_done_callback(self._greeting.discard)

    async def _greet(self, p: Peer) -> None:
        await self._hello(p)
        if p.online:
            self.on_change()

    async def _hello(self, p: Peer) -> None:
        try:
            doc = await p.client.hello(timeout=max(0.5, self.heartbeat), me=self.address)
        except PeerError as e:
            if p.online:
                log.warning("peer %s (%s) went offline: %s", p.id or "?", p.address, e)
            p.online, p.error = False, str(e)
            return
        if doc.get("id") == self.host_id:
            log.error("peer %s answers with this host's own id %s: host ids must be unique", p.address, p.id)
        if not p.online:
            log.info("peer %s (%s) is online with tags %s", doc.get("id"), p.address, doc.get("tags"))
        p.id, p.tags = str(doc.get("id", "")), frozenset(doc.get("tags") or ())
        p.online, p.error, p.last_seen = True, "", time.time()
        _load(p, doc)

    def loaded(self, host_id: str, doc: dict[str, Any]) -> None:
        """Peer `host_id` told how busy it is now (its wake-up after a run ended)."""
        if (p := self.peer(host_id)) is not None:
            _load(p, doc)

    def peer(self, host_id: str) -> Peer | None:
        return next((p for p in self.peers if p.id == host_id and host_id), None)

    def use_leases(self, leases: Callable[[], Awaitable[dict[str, str]]]) -> None:
        """On the postgres store the hosts are those with a live lease, at the addresses they name:
        requests about their runs are sent on to them (`reach`, `reachable`)."""
        self.leases = leases

    async def reach(self, host_id: str) -> Peer | None:
        """Host `host_id` as it can be asked now: an online peer of `hosts`, or (on the postgres
        store) a host whose lease is live, at its lease's address; None when neither.
        StoreError when the leases cannot be read."""
        peer = self.peer(host_id)
        if peer is not None and peer.online:
            return peer
        if self.leases is None or host_id == self.host_id:
            return None
        return self._leased(host_id, (await self.leases()).get(host_id, ""))

    async def reachable(self) -> list[Peer]:
        """Every other host that can be asked now: the online peers, or the live leases' hosts."""
        if self.leases is None:
            return self.online()
        found = await self.leases()
        return [p for h, a in sorted(found.items()) if h != self.host_id and (p := self._leased(h, a))]

    def _leased(self, host_id: str, address: str) -> Peer | None:
        if not address:
            return None
        peer = self.leased.get(host_id)
        if peer is None or peer.address != address:
            if self.http is None:
                self.http = httpx.AsyncClient(limits=httpx.Limits(max_connections=200))
            client = PeerClient(self.http, address, self.base_url, self.token)
            peer = self.leased[host_id] = Peer(address, client, host_id, online=True, error="")
        return peer

    def views(self) -> list[HostView]:
        return [HostView(p.id, p.tags, p.online, p.active, p.running, p.max_runs) for p in self.peers if p.id]

    def unreachable(self, missing: Iterable[Peer] = ()) -> list[str]:
        """Names of the peers that are offline or did not answer (`missing`)."""
        return sorted({p.id or p.address for p in (*missing, *(p for p in self.peers if not p.online))})

    def online(self) -> list[Peer]:
        return [p for p in self.peers if p.online and p.id]

    async def gather(
        self, call: Callable[[Peer], Awaitable[T]], peers: Iterable[Peer] | None = None, timeout: float = 2.0
    ) -> tuple[list[tuple[Peer, T]], list[Peer]]:
        """Ask peers in parallel; those that fail or exceed `timeout` are returned as missing."""
        asked = list(self.online() if peers is None else peers)

        async def one(p: Peer) -> T:
            async with asyncio.timeout(timeout):
                return await call(p)

        results = await asyncio.gather(*(one(p) for p in asked), return_exceptions=True)
        got = [(p, r) for p, r in zip(asked, results, strict=True) if not isinstance(r, BaseException)]
        missing = [p for p, r in zip(asked, results, strict=True) if isinstance(r, BaseException)]
        for p, r in zip(asked, results, strict=True):
            if isinstance(r, BaseException) and not isinstance(r, PeerError | TimeoutError):
                log.warning("asking peer %s failed: %r", p.address, r)
        return got, missing

    # ---- resource reservations ---------------------------------------------------------------
    async def acquire(self, run_id: str, tags: Iterable[str]) -> str:
        """Reserve the tags for a run on this host: "" when reserved, else why not."""
        if not tags:
            return ""
        if self.locks is not None:
            return self.locks.acquire(run_id, self.host_id, tags)
        assert self.lock_client is not None
        try:
            ok, why = await self.lock_client.acquire(run_id, self.host_id, sorted(set(tags)))
        except PeerError as e:
            return f"lock host {self.addresses[0]} unreachable ({e})"
        return "" if ok else why

    async def release(self, run_id: str) -> None:
        """Release a run's reservation, retrying until the lock host has it (it may be down)."""
        if self.locks is not None:
            self.locks.release(run_id)
            return
        assert self.lock_client is not None
        delay = 0.5
        while True:
            try:
                await self.lock_client.release(run_id)
                return
            except PeerError as e:
                log.warning("<%s> cannot release its resources yet: %s", run_id, e)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
