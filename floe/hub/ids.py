"""Run ids: this host's counter, handed out from blocks of ids reserved in the store ahead of use."""

from __future__ import annotations

import asyncio

from floe.store.base import RunStore

BLOCK = 100  # ids reserved at a time: after a crash, ids go on from the end of the last block


class RunIds:
    """Ids `<host>-<n>`. An id is handed out only once the store holds a reservation covering it,
    so an id that any answer named (a 503 included, whose run a crash then lost) is never handed
    out again. While the host runs, the stored counter is the end of the reserved block; a clean
    stop stores the last id handed out, so ids go on without a gap after a normal restart."""

    def __init__(self, store: RunStore, host: str, block: int = BLOCK) -> None:
        self.store, self.host, self.block = store, host, block
        self.key = f"counter/{host}"
        self.last = 0  # the number of the last id handed out
        self.reserved = 0  # ids up to this number are reserved in the store
        self.promised = 0  # ids promised to requests on their way to the hub's queue
        self._lock = asyncio.Lock()

    async def load(self) -> None:
        self.last = self.reserved = int(await self.store.get_kv(self.key) or 0)

    async def promise(self) -> None:
        """Make sure one more id can be taken, reserving another block in the store first when
        the reserved ones are promised already; StoreError when the store cannot write that."""
        async with self._lock:
            if self.last + self.promised >= self.reserved:
                mark = self.last + self.promised + self.block
                self.store.put_kv(self.key, mark)
                await self.store.flush()
                self.reserved = mark
            self.promised += 1

    def arrived(self) -> None:
        """A request that was promised an id reached the hub (it takes the id, or is refused)."""
        self.promised -= 1

    def took(self, number: int) -> None:
        """The hub handed out id `number` (its request arrived, and was promised it)."""
        assert number <= self.reserved, "an id taken without a promise"
        self.last = number

    def stopping(self) -> None:
        """A clean stop: store the last id handed out instead of the block's end."""
        self.store.put_kv(self.key, self.last)
