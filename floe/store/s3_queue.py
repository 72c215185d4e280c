"""The S3 store's upload queue: archived run ids not yet in S3, kept durably in the local store's kv."""

from __future__ import annotations

import asyncio
import time
import zlib
from dataclasses import dataclass

from floe.store.base import RunStore
from floe.store.errors import StoreError

PENDING_SHARDS = 32  # the upload queue lives in the local kv as this many sets of run ids
PENDING_KEY = "s3/pending/"  # + two digits: one shard


@dataclass(slots=True, eq=False)
class _Waiter:
    """A `wait` call: waits for the `left` queue entries of generation <= `upto` to leave."""

    upto: int
    left: int
    fut: asyncio.Future[None]


class UploadQueue:
    """Run ids in upload order (oldest first), each with the generation of its last archive put.

    Only the event loop reads and writes it (the S3 store hands writes from other threads to the
    loop), so it needs no lock. A run new to its shard is saved at once, before the run document is
    written; runs that left are saved later, at most once a second (`save`)."""

    def __init__(self, local: RunStore) -> None:
        self._local = local
        self._pending: dict[str, int] = {}  # run id -> generation of its last archive put
        self._shards: dict[int, set[str]] = {}
        self._inflight: set[str] = set()
        self._gen = 0
        self._waiters: list[_Waiter] = []
        self._dirty: set[int] = set()  # shards whose uploaded runs are not yet saved as gone
        self._saved = 0.0  # when dirty shards were last saved (monotonic)
        self._settled = asyncio.Event()  # set each time an upload ends

    def __len__(self) -> int:
        return len(self._pending)

    async def load(self) -> None:
        shards = await asyncio.gather(*(self._local.get_kv(_shard_key(i)) for i in range(PENDING_SHARDS)))
        for i, ids in enumerate(shards):
            for run_id in ids if isinstance(ids, list) else ():
                if isinstance(run_id, str) and run_id:
                    self._gen += 1
                    self._pending[run_id] = self._gen
                    self._shards.setdefault(i, set()).add(run_id)

    def add(self, run_id: str) -> int:
        """Queue the run (again: to the back, a new generation); its generation."""
        self._gen += 1
        old = self._pending.pop(run_id, None)
        if old is not None:
            self._gone(old)
        self._pending[run_id] = self._gen
        shard = _shard(run_id)
        ids = self._shards.setdefault(shard, set())
        if run_id not in ids:
            ids.add(run_id)
            self._local.put_kv(_shard_key(shard), sorted(ids))
            self._dirty.discard(shard)
        return self._gen

    def drop(self, run_id: str, gen: int | None = None) -> bool:
        """Drop the run from the queue unless it was queued again since `gen` (any, if None).

        After a crash before its shard is saved, the run is uploaded again: the same objects."""
        found = self._pending.get(run_id)
        if found is None or (gen is not None and found != gen):
            return False
        del self._pending[run_id]
        self._gone(found)
        shard = _shard(run_id)
        self._shards.get(shard, set()).discard(run_id)
        self._dirty.add(shard)
        return True

    def take(self, n: int) -> list[tuple[str, int]]:
        """Up to `n` queued runs not being uploaded, oldest first; they are in flight until `done`."""
        batch: list[tuple[str, int]] = []
        for run_id, gen in self._pending.items():  # the few in flight are at the front
            if run_id not in self._inflight:
                batch.append((run_id, gen))
                if len(batch) == n:
                    break
        self._inflight.update(r for r, _ in batch)
        return batch

    def done(self, run_id: str, gen: int, uploaded: bool) -> None:
        """An upload ended: the run leaves the queue, or (failed) goes to its back."""
        self._inflight.discard(run_id)
        self._settled.set()
        if uploaded:
            self.drop(run_id, gen)
        elif self._pending.get(run_id) == gen:
            self._pending[run_id] = self._pending.pop(run_id)

    async def settled(self, run_id: str) -> None:
        """Return once no upload of the run is under way."""
        while run_id in self._inflight:
            self._settled.clear()
            await self._settled.wait()

    async def wait(self, timeout: float | None) -> int:
        """Wait until every run queued before this call has left; how many are left (0: all)."""
        if not self._pending:
            return 0
        waiter = _Waiter(self._gen, len(self._pending), asyncio.get_running_loop().create_future())
        self._waiters.append(waiter)
        try:
            await asyncio.wait({waiter.fut}, timeout=timeout)
        finally:
            if waiter in self._waiters:
                self._waiters.remove(waiter)
        if waiter.fut.done():
            waiter.fut.result()  # the error `close` gave it
            return 0
        return waiter.left

    def close(self, why: str) -> None:
        """Fail every waiter with StoreError(`why`, naming how many of its runs are left)."""
        waiters, self._waiters = self._waiters, []
        for w in waiters:
            if not w.fut.done():
                w.fut.set_exception(StoreError(f"{why} with {w.left} runs not uploaded"))

    def _gone(self, gen: int) -> None:
        """The queue entry of generation `gen` left; complete the waits it completes."""
        for w in self._waiters:
            if gen <= w.upto:
                w.left -= 1
                if w.left == 0 and not w.fut.done():
                    w.fut.set_result(None)
        self._waiters = [w for w in self._waiters if w.left > 0]

    def save(self, force: bool = False) -> None:
        """Save the shards that lost uploaded runs: when forced, when the queue is empty, or each second."""
        now = time.monotonic()
        if not self._dirty or not (force or not self._pending or now - self._saved >= 1.0):
            return
        for shard in sorted(self._dirty):
            self._local.put_kv(_shard_key(shard), sorted(self._shards.get(shard, ())))
        self._dirty.clear()
        self._saved = now


def _shard(run_id: str) -> int:
    return zlib.crc32(run_id.encode()) % PENDING_SHARDS  # stable across processes, unlike hash()


def _shard_key(shard: int) -> str:
    return f"{PENDING_KEY}{shard:02d}"
