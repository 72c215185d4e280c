"""Fan-out of events to live subscribers (websockets), each behind its own bounded queue."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

Filter = Callable[[dict[str, Any]], bool]


@dataclass(eq=False)
class Subscription:
    """One client's queue of at most `maxsize` events; `dropped` is set when it filled (the client
    fell that far behind) and the subscription was cut off. Publishing to it is a deque append."""

    accepts: Filter
    maxsize: int = 10_000
    pending: deque[dict[str, Any]] = field(default_factory=deque)
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: asyncio.Event = field(default_factory=asyncio.Event)

    async def get(self) -> dict[str, Any]:
        """The next event, once there is one."""
        while not self.pending:
            self.ready.clear()
            await self.ready.wait()
        return self.pending.popleft()


class Broadcaster:
    """Delivers each event to every subscriber whose filter accepts it; never blocks the hub, and
    never waits for a subscriber: one whose queue is full is dropped (its `dropped` is set)."""

    def __init__(self) -> None:
        self._subs: set[Subscription] = set()

    def __len__(self) -> int:
        return len(self._subs)

    def subscribe(self, accepts: Filter, maxsize: int = 10_000) -> Subscription:
        sub = Subscription(accepts, maxsize)
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    def publish(self, event: dict[str, Any]) -> None:
        for sub in list(self._subs):
            if not sub.accepts(event):
                continue
            if len(sub.pending) >= sub.maxsize:
                log.info("dropped a subscriber: its queue of %d events is full", sub.maxsize)
                self._subs.discard(sub)
                sub.dropped.set()
                continue
            sub.pending.append(event)
            if not sub.ready.is_set():
                sub.ready.set()
