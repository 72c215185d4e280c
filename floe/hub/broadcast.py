"""Fan-out of events to live subscribers (websockets), each behind its own bounded queue."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)
LAGGING = 1_000  # events queued for one subscriber that count as falling behind

Filter = Callable[[dict[str, Any]], bool]


@dataclass(eq=False)
class Subscription:
    """One client's queue; `dropped` is set when it fell too far behind and was cut off."""

    accepts: Filter
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(maxsize=10_000))
    dropped: asyncio.Event = field(default_factory=asyncio.Event)


class Broadcaster:
    """Delivers each event to every subscriber whose filter accepts it; never blocks the hub."""

    def __init__(self) -> None:
        self._subs: set[Subscription] = set()

    def __len__(self) -> int:
        return len(self._subs)

    def subscribe(self, accepts: Filter, maxsize: int = 10_000) -> Subscription:
        sub = Subscription(accepts, asyncio.Queue(maxsize=maxsize))
        self._subs.add(sub)
        return sub

    def lagging(self) -> bool:
        """Whether some subscriber has fallen LAGGING events behind."""
        return any(sub.queue.qsize() >= LAGGING for sub in self._subs)

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    def publish(self, event: dict[str, Any]) -> None:
        for sub in list(self._subs):
            if not sub.accepts(event):
                continue
            try:
                sub.queue.put_nowait(event)
            except asyncio.QueueFull:
                log.warning("dropping a websocket subscriber that fell %d events behind", sub.queue.qsize())
                self._subs.discard(sub)
                sub.dropped.set()
