"""The local store's write-behind: one thread commits the batches of writes to SQLite."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from floe.store.batch import Batch
from floe.store.crypto import event_aad, run_aad
from floe.store.errors import StoreError
from floe.store.local_schema import ADD_EVENT, DELETE_EVENTS, DELETE_RUN, PUT_KV, PUT_RUN
from floe.store.local_sealing import Sealing
from floe.store.rows import EventRow, RunRow
from floe.store.threads import resolve
from floe.store.write_buffer import WriteBuffer

log = logging.getLogger("floe.store.local")  # the local store's one log

_REMIND_EVERY = 30.0  # seconds between repeated error logs while writes keep failing
LINGER = 0.01  # seconds the writer lets writes gather into one transaction, unless a flush waits


class Writer:
    """Takes writes from any thread without IO and commits them on its own thread, over `db`.

    `retry_max`: the cap of the retry backoff."""

    def __init__(self, path: Path, sealing: Sealing, retry_max: float) -> None:
        self.path, self._sealing, self._retry_max = path, sealing, retry_max
        self._lock = threading.Lock()  # stays: the writer thread takes the batches the loop fills
        self._wake = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._buf = WriteBuffer()
        self._open = False  # takes writes: from start() until stop()
        self._idle = False  # the thread waits for a first write (and is then woken by it)
        self._thread: threading.Thread | None = None
        self._db: sqlite3.Connection | None = None

    def start(self, db: sqlite3.Connection) -> None:
        """Commit over `db` (closed when the thread ends) from now on."""
        self._db, self._open = db, True
        self._thread = threading.Thread(target=self._write_loop, name="floe-store-writer", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        """Take no more writes; the thread makes a last attempt at what it holds, then ends."""
        with self._lock:
            self._open = False
            self._wake.notify()
        self._stop.set()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)

    # ---- writes (any thread, no IO) --------------------------------------------------------------

    def put_run(self, row: RunRow) -> None:
        with self._lock:
            self._enqueue().runs[row.run_id] = row

    def append_event(self, row: EventRow) -> None:
        with self._lock:
            self._enqueue().events.setdefault(row.run_id, []).append(row)

    def put_kv(self, key: str, text: str) -> None:
        with self._lock:
            self._enqueue().kv[key] = text

    def delete_run(self, run_id: str) -> None:
        with self._lock:
            batch = self._enqueue()
            batch.runs.pop(run_id, None)
            batch.events.pop(run_id, None)
            batch.deletes.add(run_id)

    def _enqueue(self) -> Batch:
        """Under the lock: a ticket for one more write, and the batch it goes into."""
        if not self._open:
            raise StoreError(f"store {self.path} is not open")
        batch = self._buf.enqueue()
        if self._idle:
            self._idle = False
            self._wake.notify()
        return batch

    @contextmanager
    def buffered(self) -> Iterator[list[Batch]]:
        """The uncommitted batches, oldest first, held under the lock while the block reads them."""
        with self._lock:
            if not self._open:
                raise StoreError(f"store {self.path} is not open")
            yield self._buf.batches()

    async def flush(self, timeout: float | None) -> None:
        """Wait until every write enqueued so far is committed. Every `timeout` seconds: StoreError
        if writes are failing (they stay buffered and keep being retried), else (just slow) wait on."""
        loop = asyncio.get_running_loop()
        with self._lock:
            fut = self._buf.waiter(loop)
            if fut is None:
                return
            self._wake.notify()
        while True:
            done, _ = await asyncio.wait({fut}, timeout=timeout)
            if done:
                return fut.result()
            with self._lock:
                since, err = self._buf.failing_since, self._buf.error
            if since is not None:
                failing_for = time.monotonic() - since
                raise StoreError(f"store writes failing for {failing_for:.1f}s: {err}") from err

    @property
    def pending(self) -> int:
        """Records enqueued and not yet committed."""
        with self._lock:
            return len(self._buf)

    @property
    def error(self) -> BaseException | None:
        """The error of the last write attempt while writes are failing, else None."""
        return self._buf.error

    # ---- the writer thread -----------------------------------------------------------------------

    def _write_loop(self) -> None:
        delay, reminded = 0.0, 0.0
        while True:
            with self._lock:
                while self._buf.inflight is None and not self._buf.pending and self._open:
                    self._idle = True
                    self._wake.wait()
                if self._buf.inflight is None and self._open and not self._buf.waiters:
                    self._wake.wait(LINGER)  # more writes gather meanwhile; a flush or stop cuts it short
                batch = self._buf.take()
                if batch is None:
                    break
            try:
                self._write(batch)
            except Exception as exc:
                now = time.monotonic()
                with self._lock:
                    first = self._buf.failed(exc, now)
                    stopping = not self._open
                if stopping:
                    log.error(
                        "store %s: giving up on %d unwritten records at close: %s",
                        self.path,
                        self.pending,
                        exc,
                    )
                    break
                if first or now - reminded >= _REMIND_EVERY:
                    reminded = now
                    log.error(
                        "store %s: write of %d records failed, keeping them and retrying: %s",
                        self.path,
                        self.pending,
                        exc,
                        exc_info=first,
                    )
                delay = min(max(delay * 2, 0.05), self._retry_max)
                self._stop.wait(delay)
                continue
            with self._lock:
                ready, recovered = self._buf.done(batch)
            if recovered:
                log.warning("store %s: writes recovered", self.path)
            delay = 0.0
            resolve(ready, None)
        with self._lock:
            waiters = self._buf.abandon()
        resolve(waiters, f"store {self.path} closed with unwritten records")
        if self._db is not None:
            self._db.close()

    def _write(self, batch: Batch) -> None:
        db = self._db
        assert db is not None
        sealed = self._sealing.sealed
        db.execute("BEGIN IMMEDIATE")
        try:
            if batch.deletes:
                db.executemany(DELETE_RUN, ((run_id,) for run_id in batch.deletes))
                db.executemany(DELETE_EVENTS, ((run_id,) for run_id in batch.deletes))
            if batch.runs:
                db.executemany(
                    PUT_RUN,
                    (
                        (r.run_id, r.flow, r.phase, r.created, sealed(r.doc, run_aad(r.run_id)))
                        for r in batch.runs.values()
                    ),
                )
            if batch.events:
                db.executemany(
                    ADD_EVENT,
                    (
                        (e.run_id, e.seq, e.node, e.tag, sealed(e.doc, event_aad(e.run_id, e.seq)))
                        for es in batch.events.values()
                        for e in es
                    ),
                )
            if batch.kv:
                db.executemany(PUT_KV, batch.kv.items())
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                try:
                    db.execute("ROLLBACK")
                except sqlite3.Error:
                    log.debug("rollback failed", exc_info=True)
            raise
