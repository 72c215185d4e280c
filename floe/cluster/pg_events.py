"""Events across hosts on PostgreSQL: a host listens on the channel its peers' stores tell their
batches on, reads the events they name and feeds them into its own broadcast, so a websocket on
any host follows every run of the cluster."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import psycopg

from floe.store.base import Doc
from floe.store.errors import StoreError
from floe.store.pg_notify import CHANNEL, parse
from floe.store.postgres import PgStore

log = logging.getLogger(__name__)
RETRY = 1.0  # seconds before listening again after the connection was lost


class EventFeed:
    """Publishes (with `publish`) the events that hosts other than `host` store in `store`'s
    database, in the order they were committed; `listening` is set while it listens."""

    def __init__(self, store: PgStore, host: str, publish: Callable[[Doc], None]) -> None:
        self.store, self.host, self.publish = store, host, publish
        self.listening = asyncio.Event()

    async def run(self) -> None:
        """Until cancelled; a lost connection is logged and listened on again (events stored while
        it was away are not sent: the streams are live ones, the stored runs answer the rest)."""
        while True:
            try:
                await self._listen()
            except (psycopg.Error, OSError, StoreError) as e:
                log.warning("host %s: events of other hosts not followed: %s", self.host, e)
            self.listening.clear()
            await asyncio.sleep(RETRY)

    async def _listen(self) -> None:
        async with await self.store.connect() as db:
            await db.execute(f"LISTEN {CHANNEL}".encode())
            self.listening.set()
            async for note in db.notifies():
                for told in parse(note.payload):
                    if told.host == self.host:
                        continue  # this host published its own events as it made them
                    for e in await self.store.events(told.run_id, told.first - 1):
                        if e["seq"] <= told.last:
                            self.publish(e)
