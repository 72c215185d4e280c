"""A small least-recently-used cache bounded by item count and by bytes."""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

V = TypeVar("V")


class Lru(Generic[V]):
    """Values by key; the least recently used go first beyond `max_items` or `max_bytes`."""

    def __init__(self, max_items: int, max_bytes: int) -> None:
        self._items: OrderedDict[str, tuple[V, int]] = OrderedDict()
        self._max_items, self._max_bytes, self._bytes = max_items, max_bytes, 0

    def get(self, key: str) -> V | None:
        found = self._items.get(key)
        if found is None:
            return None
        self._items.move_to_end(key)
        return found[0]

    def drop(self, key: str) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self._bytes -= old[1]

    def put(self, key: str, value: V, size: int) -> None:
        if size > self._max_bytes or self._max_items <= 0:
            return
        self.drop(key)
        self._items[key] = (value, size)
        self._bytes += size
        while len(self._items) > self._max_items or self._bytes > self._max_bytes:
            _, (_, dropped) = self._items.popitem(last=False)
            self._bytes -= dropped
