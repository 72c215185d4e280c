"""A host's link to the PostgreSQL cluster tables: its lease (taken at start, renewed while it runs),
the takeover of hosts whose lease expired, the placement of runs (pends added, claimed, released)
and the database's wake-ups."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

import psycopg
from psycopg_pool import AsyncConnectionPool

from floe.cluster import pg, pg_admit
from floe.model.flow import Flow
from floe.model.policy import Rejection
from floe.store.errors import StoreError

log = logging.getLogger(__name__)
LEASE = 10.0  # seconds a host's lease lasts without a renewal
ANSWER_WITHIN = 10.0  # seconds a trigger's admission waits for the database before a 503
T = TypeVar("T")


class PgLink:
    """The lease of host `host` in the cluster tables of the store's database, on `pool`'s
    connections (and one of its own from `connect` for the wake-ups)."""

    def __init__(
        self,
        pool: AsyncConnectionPool[pg.Conn],
        connect: Callable[[], Awaitable[pg.Conn]],
        host: str,
        tags: Sequence[str],
        address: str,
        *,
        max_runs: int = 0,
        lease: float = LEASE,
        on_lost: Callable[[pg.Takeover], Awaitable[object]] | None = None,
        on_taken_over: Callable[[], Awaitable[object]] | None = None,
        on_lease: Callable[[datetime], object] | None = None,
    ) -> None:
        self.pool, self.host, self.tags, self.address = pool, host, tuple(tags), address
        self.max_runs, self.lease = max_runs, lease
        self.on_lost = on_lost  # resolves the runs of hosts this one took over
        self.on_taken_over = on_taken_over  # this host's lease was taken over: drop its resolved runs
        self.on_lease = on_lease  # told when each lease row was taken (the store fences its writes by it)
        self.connect = connect  # a connection of its own, for LISTEN
        self.claim_limit = 16  # the most pends one claim takes (a full claim claims again at once)
        self.answer_within = ANSWER_WITHIN  # seconds an admission waits for the database
        self.unanswered: dict[str, asyncio.Future[Rejection | None]] = {}  # admissions given up on

    async def join(self) -> None:
        """Take the lease (beside the other hosts' leases on this database)."""
        try:
            async with self.pool.connection() as db:
                started = await pg.heartbeat(
                    db, self.host, self.tags, self.max_runs, self.address, self.lease
                )
        except psycopg.Error as e:
            raise StoreError(f"cannot take this host's lease: {e}") from None
        if self.on_lease is not None:
            self.on_lease(started)

    async def run(self) -> None:
        """Until cancelled, every third of the lease: take over the hosts whose lease expired
        (handing what was found to `on_lost`), then renew the lease. A renewal that finds the lease
        gone (another host took this one over while it was hung or cut off, and resolved its runs)
        first lets `on_taken_over` drop those runs, then takes a new lease. A failed pass is logged
        and retried (the database being away is an outage of the store, reported by it)."""
        while True:
            try:
                async with self.pool.connection() as db:
                    found = await pg.take_over(db, self.host)
                    if found and self.on_lost is not None:
                        log.warning("host %s: took over %s", self.host, ", ".join(found.hosts))
                        await self.on_lost(found)
                    renewed = await pg.renew(db, self.host, self.lease)
                if not renewed:
                    log.warning("host %s: its lease was taken over by another host meanwhile", self.host)
                    if self.on_taken_over is not None:
                        await self.on_taken_over()
                    await self.join()
            except (psycopg.Error, OSError, StoreError) as e:
                log.warning("host %s: lease renewal or takeover failed: %s", self.host, e)
            await asyncio.sleep(self.lease / 3)

    async def add_pend(
        self,
        run_id: str,
        flow: str,
        host_tags: Sequence[str],
        resource_tags: Sequence[str],
        created: float,
        pinned: tuple[str, str] = ("", ""),
    ) -> None:
        """Make a stored pend claimable by every host, or (`pinned`: a host and the run whose
        workspace it holds) by that host only (StoreError when the database fails)."""
        pend = pg.Pend(run_id, flow, tuple(host_tags), tuple(resource_tags), created, self.host, *pinned)
        await self._do(lambda db: pg.add_pend(db, pend))

    async def admit(
        self, run_id: str, flow: Flow, trigger: str, values: Mapping[str, Any]
    ) -> Rejection | None:
        """Admit the run by its flow's policies counted across the cluster (None), or say which
        policy refuses it; StoreError when the database fails or has not answered within
        `answer_within` seconds (that admission is left to finish on its own: `forget` waits
        for it)."""

        async def run() -> Rejection | None:
            async with self.pool.connection() as db:
                return await pg_admit.admit_run(db, self.host, run_id, flow, trigger, values)

        task = asyncio.ensure_future(run())
        done, _ = await asyncio.wait({task}, timeout=self.answer_within)
        why = f"no answer in {self.answer_within:.0f}s"
        if done:
            try:
                return task.result()
            except (psycopg.Error, OSError) as e:
                why = str(e)
        else:
            task.add_done_callback(lambda t: t.cancelled() or t.exception())  # its error is not news
            self.unanswered[run_id] = task
        raise StoreError(f"the cluster's database cannot admit the trigger now: {why}")

    async def forget(self, run_id: str) -> None:
        """Drop the admission of a run that was not made (once its admission, if still going on,
        has finished)."""
        if (going := self.unanswered.pop(run_id, None)) is not None:
            await asyncio.wait({going})  # its outcome is not looked at: it is undone
        await self._do(lambda db: pg_admit.forget(db, run_id))

    async def forget_unstored(self) -> None:
        """At start: drop this host's admissions whose run its last process never stored."""
        await self._do(lambda db: pg_admit.forget_unstored(db, self.host))

    async def claim(self) -> tuple[list[str], dict[str, str]]:
        """The pends this host takes now, and why each pend left in the cluster still waits (read
        in the claim's transaction: once it committed, what it took comes back)."""
        return await self._do(lambda db: pg.claim_and_reasons(db, self.host, self.claim_limit))

    async def place_state(self, run_id: str, gate: bool, node: str) -> None:
        await self._do(lambda db: (pg.waiting_on_gate if gate else pg.running)(db, run_id, node))

    async def release(self, run_id: str) -> None:
        await self._do(lambda db: pg.release(db, run_id))

    async def withdraw(self, run_id: str) -> str:
        """No host claims the pend from now on; "" or the host that claimed it already."""
        return await self._do(lambda db: pg.withdraw(db, run_id))

    async def unpend(self, run_id: str) -> None:
        await self._do(lambda db: pg.unpend(db, run_id))

    async def addresses(self) -> dict[str, str]:
        """The address of each live host of the cluster, by host id (this one's too)."""
        return await self._do(pg.addresses)

    async def placed_here(self) -> list[str]:
        return await self._do(lambda db: pg.placed_here(db, self.host))

    async def placed_on(self, run_id: str) -> str:
        return await self._do(lambda db: pg.placed_on(db, run_id))

    async def _do(self, call: Callable[[pg.Conn], Awaitable[T]]) -> T:
        try:
            async with self.pool.connection() as db:
                return await call(db)
        except (psycopg.Error, OSError) as e:
            raise StoreError(f"cluster tables: {e}") from None

    async def listen(self, note: Callable[[str], None]) -> None:
        """Until cancelled, hand `note` each wake-up of the database as it comes, on a connection of
        its own; after a lost connection it reconnects and notes `listening` (wake-ups may have
        been missed meanwhile)."""
        while True:
            try:
                async with await self.connect() as db:
                    await pg.listen(db)
                    note("listening")
                    async for payload in pg.wake_ups(db):
                        note(payload)
            except (psycopg.Error, OSError) as e:
                log.warning("host %s: the database's wake-ups stopped: %s", self.host, e)
            await asyncio.sleep(1.0)

    async def leave(self) -> None:
        """A clean stop: give the lease back at once."""
        with contextlib.suppress(psycopg.Error, OSError):
            async with self.pool.connection() as db:
                await pg.leave(db, self.host)
