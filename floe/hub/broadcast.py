"""Fan-out of events to live subscribers (websockets), each behind its own bounded queue."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

Filter = Callable[[dict[str, Any]], bool]
Sent = tuple[dict[str, Any], str]  # an event and its JSON, encoded once for every subscriber


def to_json(event: dict[str, Any]) -> str:
    """An event as the websocket sends it (compact, non-ASCII kept)."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


def weight(event: dict[str, Any]) -> int:
    """What an event counts for in a queue's bound: the output lines it carries, or 1."""
    lines = event["opts"].get("lines")
    return len(lines) if isinstance(lines, list) and lines else 1


@dataclass(eq=False)
class Subscription:
    """One client's queue of events (each with its JSON) worth at most `maxsize`: an event of
    output lines counts one per line, any other one (see `weight`); `dropped` is set when it
    filled (the client fell that far behind) and the subscription was cut off (logged then, as
    the `name`d subscriber closed). Publishing to it is a deque append."""

    accepts: Filter
    maxsize: int = 10_000
    name: str = "subscriber"
    about: str = ""  # what it follows, for that log line
    pending: deque[tuple[dict[str, Any], str, int]] = field(default_factory=deque)
    size: int = 0  # the pending events' weight
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    dropped: asyncio.Event = field(default_factory=asyncio.Event)

    async def get(self) -> Sent:
        """The next event and its JSON, once there is one."""
        while not self.pending:
            self.ready.clear()
            await self.ready.wait()
        event, text, n = self.pending.popleft()
        self.size -= n
        return event, text

    def put(self, sent: tuple[dict[str, Any], str, int]) -> bool:
        """Queue an event (with its JSON and weight); False, with `dropped` set and logged, when it
        does not fit: the subscriber fell a whole queue behind."""
        if self.size + sent[2] > self.maxsize:
            full = "closed a %s that stopped reading: its queue of %d events is full (%s)"
            log.warning(full, self.name, self.maxsize, self.about)
            self.dropped.set()
            return False
        self.pending.append(sent)
        self.size += sent[2]
        if not self.ready.is_set():
            self.ready.set()
        return True


class Broadcaster:
    """Delivers each event to every subscriber whose filter accepts it, encoded once for them all;
    never blocks the hub, and never waits for a subscriber: one whose queue is full is dropped (its
    `dropped` is set)."""

    def __init__(self) -> None:
        self._subs: set[Subscription] = set()

    def __len__(self) -> int:
        return len(self._subs)

    def subscribe(
        self, accepts: Filter, maxsize: int = 10_000, name: str = "subscriber", about: str = ""
    ) -> Subscription:
        sub = Subscription(accepts, maxsize, name, about)
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    def publish(self, event: dict[str, Any]) -> None:
        sent: tuple[dict[str, Any], str, int] | None = None
        for sub in list(self._subs):
            if not sub.accepts(event):
                continue
            if sent is None:
                sent = (event, to_json(event), weight(event))
            if not sub.put(sent):
                self._subs.discard(sub)
