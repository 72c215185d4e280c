"""Events across hosts on a real PostgreSQL: what one host's store commits reaches the listeners of
the other hosts, every event once and in order, and not the host that made it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from floe.cluster.pg_events import EventFeed
from floe.store.postgres import PgStore

RUNS, EVENTS = 300, 20  # run ids long enough that one batch needs several notifications


def event(run_id: str, seq: int) -> dict[str, Any]:
    return {
        "run_id": run_id, "flow": "f", "source_node": "n", "tag": "sys.node.update", "good": True,
        "opts": {"lines": [f"line {seq}"]}, "seq": seq, "at": 1.0,
    }  # fmt: skip


@asynccontextmanager
async def host(url: str, name: str) -> AsyncIterator[tuple[PgStore, list[dict[str, Any]], asyncio.Event]]:
    """A host's store (telling its batches as `name`'s) and what its listener published."""
    store = PgStore(url)
    store.events_host = name
    await store.open()
    got: list[dict[str, Any]] = []
    changed = asyncio.Event()

    def publish(e: dict[str, Any]) -> None:
        got.append(e)
        changed.set()

    feed = EventFeed(store, name, publish)
    task = asyncio.ensure_future(feed.run())
    try:
        await asyncio.wait_for(feed.listening.wait(), 20)
        yield store, got, changed
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await store.close()


async def until(changed: asyncio.Event, cond: Any) -> None:
    async def wait() -> None:
        while not cond():
            changed.clear()
            await changed.wait()

    await asyncio.wait_for(wait(), 30)


async def test_every_event_reaches_every_other_host_once_in_order(pg_url: str) -> None:
    async with AsyncExitStack() as hosts:
        (h1, own, own_changed), (_, h2_got, h2_changed), (h3, h3_got, h3_changed) = [
            await hosts.enter_async_context(host(pg_url, name)) for name in ("h1", "h2", "h3")
        ]
        ids = [f"h1-{'r' * 80}-{i}" for i in range(RUNS)]
        for seq in range(1, EVENTS + 1):
            for run_id in ids:
                h1.append_event(event(run_id, seq))
            if seq % 5 == 0:
                await h1.flush()  # several batches, each of every run
        h3.append_event(event("h3-1", 1))  # told after h1's: a listener that has it has all h1's
        await h3.flush()
        want = {(r, s) for r in ids for s in range(1, EVENTS + 1)}
        for got, changed in ((h2_got, h2_changed), (h3_got, h3_changed)):
            await until(changed, lambda got=got: sum(e["run_id"] != "h3-1" for e in got) >= len(want))
            mine = [(e["run_id"], e["seq"]) for e in got if e["run_id"] != "h3-1"]
            assert len(mine) == len(want) and set(mine) == want  # each once
            for r in ids:
                assert [s for rr, s in mine if rr == r] == list(range(1, EVENTS + 1))
        await until(h2_changed, lambda: any(e["run_id"] == "h3-1" for e in h2_got))
        await until(own_changed, lambda: bool(own))
        assert [e["run_id"] for e in own] == ["h3-1"]  # h1 heard h3's event, none of its own
        assert not any(e["run_id"] == "h3-1" for e in h3_got)
