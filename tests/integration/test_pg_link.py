"""A host's link to the cluster tables on a real PostgreSQL: what a committed claim took is never
lost to a connection lost before its answer came back."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import psycopg

from floe.cluster.pg_link import PgLink
from floe.store.postgres import PgStore

Conn = psycopg.AsyncConnection[tuple[Any, ...]]


async def _waiting(url: str, query: str) -> list[int]:
    """The backends waiting for a lock while running a statement that starts with `query`."""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as db:
        cur = await db.execute(
            "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE %s",
            (f"{query}%",),
        )
        return [pid for (pid,) in await cur.fetchall()]


async def _until(cond: Callable[[], Awaitable[object]], what: str, timeout: float = 20.0) -> None:
    """Until `cond()` holds (the database's state is polled: it sends no event for it)."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                if await cond():
                    return
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def test_a_claim_whose_connection_is_lost_once_it_committed_still_returns_what_it_took(
    pg_url: str,
) -> None:
    """The claim of h9-1 commits, then its connection is cut while the pends' reasons are read:
    the run is placed on h1 in the database, so the claim must return it (it raised, and the run
    stayed placed on h1 and never started)."""
    store = PgStore(pg_url)
    await store.open()
    try:
        link = PgLink(store.pool, store.connect, "h1", [], "http://127.0.0.1:1")
        await link.join()
        await link.add_pend("h9-1", "f", [], ["db"], 1.0)
        async with (
            await psycopg.AsyncConnection.connect(pg_url) as tag,
            await psycopg.AsyncConnection.connect(pg_url) as lock,
        ):
            await tag.execute(
                "INSERT INTO placements(run_id, host_id, flow, state) VALUES('x', 'h8', 'f', 'running')"
            )
            await tag.execute("INSERT INTO reservations(tag, run_id) VALUES('db', 'x')")  # claims wait
            claim = asyncio.create_task(link.claim())
            await _until(lambda: _waiting(pg_url, "INSERT INTO reservations"), "the claim to wait")
            locking = asyncio.create_task(lock.execute("LOCK TABLE pends IN ACCESS EXCLUSIVE MODE"))
            await _until(lambda: _waiting(pg_url, "LOCK TABLE pends"), "the lock to queue behind it")
            await tag.rollback()  # the claim takes h9-1 and commits; then the lock is granted
            await locking

            async def done_or_cut() -> bool:
                if claim.done():
                    return True
                for pid in await _waiting(pg_url, "SELECT run_id, reason FROM pends"):
                    await lock.execute("SELECT pg_terminate_backend(%s)", (pid,))
                    return True
                return False

            await _until(done_or_cut, "the claim to end, or its read of the reasons to be cut")
            await lock.rollback()
            taken, _ = await claim
        assert taken == ["h9-1"]
        assert await link.placed_on("h9-1") == "h1"
    finally:
        await store.close()
