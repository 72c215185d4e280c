"""PostgreSQL RunStore: a cluster's shared database, written behind in batched transactions (psycopg 3)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import psycopg
from psycopg_pool import AsyncConnectionPool

from floe.store.base import Doc
from floe.store.batch import Batch, buffered_runs
from floe.store.errors import DamagedRecord, StoreError
from floe.store.pg_journal import Journal, rows
from floe.store.pg_notify import CHANNEL, payloads
from floe.store.pg_schema import migrate
from floe.store.rows import (
    NODE_UPDATE,
    EventRow,
    decode,
    encode,
    event_row,
    log_lines,
    run_row,
    stored_doc,
)
from floe.store.threads import resolve
from floe.store.write_buffer import WriteBuffer

log = logging.getLogger(__name__)
T = TypeVar("T")
Conn = psycopg.AsyncConnection[tuple[Any, ...]]

_PUT_RUN = (
    "INSERT INTO runs(run_id, flow, phase, created, doc) VALUES(%s, %s, %s, %s, %s) ON CONFLICT(run_id)"
    " DO UPDATE SET flow = excluded.flow, phase = excluded.phase, created = excluded.created,"
    " doc = excluded.doc"
    # a run's phase never goes back (hosts share the row): the reason a pend's host writes after
    # the claiming host activated the run, or a write of a run ended meanwhile, is not kept
    " WHERE NOT (runs.phase = 'archive' AND excluded.phase <> 'archive')"
    " AND NOT (runs.phase = 'active' AND excluded.phase = 'pending')"
)
_ADD_EVENT = (
    "INSERT INTO events(run_id, seq, node, tag, doc) VALUES(%s, %s, %s, %s, %s) ON CONFLICT DO NOTHING"
)
_PUT_KV = "INSERT INTO kv(key, value) VALUES(%s, %s) ON CONFLICT(key) DO UPDATE SET value = excluded.value"
# The audit trail (floe/model/host.py) is one stream of the cluster: every host appends to it, so the
# database numbers its entries (a batch at a time, under an advisory lock), and an entry already
# stored (a journaled batch replayed) is known by its mark, kept in the node column: host/seq/at.
AUDIT = "_audit"
AUDIT_LOCK = 0x666C6F61
_ADD_AUDIT = (
    "INSERT INTO events(run_id, seq, node, tag, doc) SELECT %s, coalesce(max(seq), 0) + 1, %s, %s, %s"
    " FROM events WHERE run_id = %s HAVING NOT EXISTS (SELECT 1 FROM events WHERE run_id = %s AND node = %s)"
)
_REMIND_EVERY = 30.0  # seconds between repeated error logs while writes keep failing
# a session of ours idle inside a transaction this long (its host hung, SIGSTOP) is ended by the
# server, so the row locks it holds (its lease row, a claim's) never hold up the other hosts
_IDLE_IN_TRANSACTION = "-c idle_in_transaction_session_timeout=5000"


def safe_url(url: str) -> str:
    """The URL as logs and errors name it: host, port and database, never a password."""
    parts = urlsplit(url)
    return f"postgresql://{parts.hostname}:{parts.port or 5432}{parts.path}"


class PgStore:
    """Runs, events and key/value state in PostgreSQL at `url`; writes never block the caller.

    One writer task commits each batch in one transaction (through the pool). `password` (never
    logged) is given to libpq beside the URL; without it libpq reads PGPASSWORD or ~/.pgpass.
    `flush_timeout`: a `flush()` that has waited that long while writes are failing raises
    `StoreError` (the records stay buffered and are retried); `None` waits for ever.
    `query_timeout`: a read the database has not answered in that long (a hung server or a
    partition) is a `StoreError`; a batch it has not answered within `flush_timeout` makes
    flushes raise `StoreError` while it is kept and waited for.
    `events_host`: when set, each batch tells the cluster the events it stored, as this host's
    (NOTIFY on `floe_events` in the batch's transaction, so at its commit; floe/store/pg_notify.py).
    `journal`: a file on the host where, while the database fails, every write it has not taken
    is kept (fsynced at each failed attempt) and from which `open()` replays what a killed host left."""

    def __init__(
        self,
        url: str,
        *,
        password: str | None = None,
        flush_timeout: float | None = 30.0,
        retry_max: float = 2.0,
        pool_size: int = 4,
        connect_timeout: float = 5.0,
        query_timeout: float = 10.0,
        journal: Path | None = None,
    ) -> None:
        self.url = url
        self.where = safe_url(url)
        self.events_host = ""
        self._fence: tuple[str, datetime] | None = None
        self._journal = Journal(journal) if journal is not None else None
        self._flush_timeout = flush_timeout
        self._retry_max = retry_max
        self._query_timeout = query_timeout  # a hung server: a read or a batch gives up after it
        self._connect_timeout = connect_timeout
        kwargs: dict[str, Any] = {
            "autocommit": True,
            "connect_timeout": max(1, int(connect_timeout)),
            "options": _IDLE_IN_TRANSACTION,
        }
        if password is not None:
            kwargs["password"] = password
        self.pool: AsyncConnectionPool[Conn] = AsyncConnectionPool(
            url,
            kwargs=kwargs,
            min_size=1,
            max_size=pool_size,
            timeout=connect_timeout,
            open=False,
            check=AsyncConnectionPool.check_connection,  # a connection the server dropped is replaced
        )
        self._kwargs = kwargs
        # The lock guards the write buffer (`_buf`: batches, tickets, waiters, the error while
        # failing), `_writing_since` and the move to "closing". The writer is a task on the event
        # loop, but writes, as the RunStore contract has them, may come from any thread (`_notify`
        # wakes the writer from there): a thread's put must not interleave with the writer taking
        # the batch or with a read overlaying it, so a threading lock, held briefly and never
        # across an await.
        self._lock = threading.Lock()
        self._buf = WriteBuffer()
        self._writing_since: float | None = None  # when the batch in flight was sent
        self._state = "new"  # new | open | closing | closed
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread = 0
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()
        self._writer: asyncio.Task[None] | None = None

    # ---- lifecycle -------------------------------------------------------------------------------

    async def open(self) -> None:
        if self._state == "open":
            return
        if self._state != "new":
            raise StoreError(f"store {self.where} is closed")
        try:
            await self.pool.open(wait=True, timeout=self._connect_timeout)  # its own default is 30 s
            async with self.pool.connection() as db:
                await migrate(db, self.where)
            await self._replay()
        except psycopg.Error as e:
            await self.pool.close()
            raise StoreError(f"cannot open the store {self.where}: {e}") from None
        except BaseException:
            await self.pool.close()
            raise
        self._loop, self._loop_thread = asyncio.get_running_loop(), threading.get_ident()
        self._state = "open"
        self._writer = asyncio.create_task(self._write_loop(), name="floe-pg-writer")

    async def _replay(self) -> None:
        """Commit what the journal kept (a host killed while the database was away), in order."""
        if self._journal is None:
            return
        kept = self._journal.read()
        for line in kept:
            runs, events, kv, deletes = rows(line)
            batch = Batch({r.run_id: r for r in runs}, {}, kv, deletes)
            for e in events:
                batch.events.setdefault(e.run_id, []).append(e)
            await self._write(batch)
        if kept:
            log.warning("store %s: replayed %d journaled batches", self.where, len(kept))
        self._journal.clear()

    def _keep(self, batch: Batch) -> None:
        """Under the lock, after `batch` failed: move the newer writes into it and journal them
        (those held back while it hung are journaled already)."""
        held, self._buf.held_back = self._buf.held_back, Batch()
        newer, self._buf.pending = self._buf.pending, Batch()
        batch.absorb(held)
        if self._journal is None:
            batch.absorb(newer)
            return
        for b in [newer] if batch.journaled else [batch, newer]:
            self._append(b)
        batch.absorb(newer)
        batch.journaled = True

    def _keep_hung(self, batch: Batch) -> None:
        """Under the lock, while the database leaves `batch` unanswered (hung: no error, no answer):
        journal it (once) and the writes enqueued since, held back to be written after it."""
        if self._journal is None:
            return
        if not batch.journaled:
            self._append(batch)
            batch.journaled = True
        newer, self._buf.pending = self._buf.pending, Batch()
        self._append(newer)
        self._buf.held_back.absorb(newer)
        self._buf.held_back.journaled = True

    def _append(self, b: Batch) -> None:
        """Journal the writes of `b` (fsynced), if it holds any."""
        if b and self._journal is not None:
            events = [e for es in b.events.values() for e in es]
            self._journal.append(list(b.runs.values()), events, b.kv, b.deletes)

    async def close(self) -> None:
        """Flush, stop the writer and the pool; raises `StoreError` if records were lost."""
        if self._state != "open":
            return
        try:
            with contextlib.suppress(StoreError):
                await self.flush()
        finally:
            with self._lock:
                self._state = "closing"
            self._wake.set()
            self._closing.set()
            if self._writer is not None:
                await self._writer
            self._state = "closed"
            await self.pool.close()
        if lost := self.pending_writes:
            raise StoreError(f"store {self.where} closed with {lost} unwritten records: {self._buf.error}")

    def fence(self, host: str, started: datetime) -> None:
        """From now on, write each batch only while `host` holds the lease row it took at `started`
        (checked in the batch's transaction, the row locked against a takeover meanwhile). A batch
        that finds the lease gone or taken anew (another host took this one over while it was hung
        or cut off, and resolved its active runs) keeps its writes of pending runs, keys and the
        audit trail, and drops those of active and archived runs: the stale state of a host that
        was away never lands over the survivor's resolution."""
        self._fence = (host, started)

    # ---- writes (no IO) --------------------------------------------------------------------------

    def put_run(self, doc: Doc) -> None:
        row = run_row(doc)
        with self._lock:
            self._enqueue().runs[row.run_id] = row
        self._notify()

    def append_event(self, event: Doc) -> None:
        row = event_row(event, _audit_mark(event) if event.get("run_id") == AUDIT else None)
        with self._lock:
            self._enqueue().events.setdefault(row.run_id, []).append(row)
        self._notify()

    def put_kv(self, key: str, value: Any) -> None:
        text = encode(value)
        with self._lock:
            self._enqueue().kv[key] = text
        self._notify()

    async def delete_run(self, run_id: str) -> None:
        with self._lock:
            batch = self._enqueue()
            batch.runs.pop(run_id, None)
            batch.events.pop(run_id, None)
            batch.deletes.add(run_id)
        self._notify()
        await self.flush()

    def _enqueue(self) -> Batch:
        if self._state != "open":
            raise StoreError(f"store {self.where} is not open")
        return self._buf.enqueue()

    def _notify(self) -> None:
        """Wake the writer, from the loop's thread or any other."""
        if threading.get_ident() == self._loop_thread:
            self._wake.set()
        elif self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: close() reports the loss
                self._loop.call_soon_threadsafe(self._wake.set)

    async def flush(self) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            fut = self._buf.waiter(loop)
        if fut is None:
            return
        self._notify()
        while True:
            done, _ = await asyncio.wait({fut}, timeout=self._flush_timeout)
            if done:
                return fut.result()
            with self._lock:
                since, err, sent = self._buf.failing_since, self._buf.error, self._writing_since
            if since is not None:
                raise StoreError(
                    f"store {self.where}: writes failing for {time.monotonic() - since:.1f}s: {err}"
                ) from err
            if sent is not None and self._flush_timeout is not None:  # a hung server: never cancelled,
                waited = time.monotonic() - sent  # as a batch cancelled midway could land after a newer one
                if waited >= self._flush_timeout:
                    raise StoreError(f"store {self.where}: writes failing: no answer for {waited:.1f}s")

    @property
    def pending_writes(self) -> int:
        with self._lock:
            return len(self._buf)

    @property
    def write_error(self) -> BaseException | None:
        return self._buf.error

    async def connect(self) -> Conn:
        """A connection of its own, outside the pool, as the pool's are made (for LISTEN)."""
        return await psycopg.AsyncConnection.connect(self.url, **self._kwargs)

    # ---- the writer task -------------------------------------------------------------------------

    async def _write_loop(self) -> None:
        delay, reminded = 0.0, 0.0
        while True:
            with self._lock:
                batch = self._buf.take()
                if batch is None:
                    if self._state != "open":
                        break
                    self._wake.clear()
            if batch is None:
                await self._wake.wait()
                continue
            try:
                self._writing_since = time.monotonic()
                await self._write_watched(batch)
            except (psycopg.Error, OSError, TimeoutError) as exc:
                now = time.monotonic()
                with self._lock:
                    self._writing_since = None
                    first = self._buf.failed(exc, now)
                    stopping = self._state != "open"
                    self._keep(batch)
                if stopping:
                    lost = self.pending_writes
                    journaled = f" (kept in {self._journal.path} for the next start)" if self._journal else ""
                    msg = "store %s: giving up on %d unwritten records at close%s: %s"
                    log.error(msg, self.where, lost, journaled, exc)
                    break
                if first or now - reminded >= _REMIND_EVERY:
                    reminded = now
                    kept = self.pending_writes
                    log.error(
                        "store %s: write of %d records failed, keeping them and retrying: %s",
                        self.where,
                        kept,
                        exc,
                    )
                delay = min(max(delay * 2, 0.05), self._retry_max)
                with contextlib.suppress(TimeoutError):  # close() cuts the wait short
                    await asyncio.wait_for(self._closing.wait(), delay)
                continue
            with self._lock:
                if batch.journaled and not self._buf.held_back and self._journal is not None:
                    self._journal.clear()  # the journal held this batch's writes only
                self._writing_since = None
                ready, recovered = self._buf.done(batch)
            if recovered:
                log.warning("store %s: writes recovered", self.where)
            delay = 0.0
            resolve(ready, None)
        with self._lock:
            waiters = self._buf.abandon()
        resolve(waiters, f"store {self.where} closed with unwritten records")

    async def _write_watched(self, batch: Batch) -> None:
        """Write `batch`; every retry interval the database leaves it unanswered, keep what is
        buffered in the journal (a host killed while the server hangs keeps it). The write itself
        is never cancelled: it could land after a newer one."""
        task = asyncio.ensure_future(self._write(batch))
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=self._retry_max)
                if done:
                    return task.result()
                with self._lock:
                    self._keep_hung(batch)
        except asyncio.CancelledError:
            task.cancel()
            raise

    async def _fenced(self, cur: psycopg.AsyncCursor[tuple[Any, ...]], batch: Batch) -> Batch:
        """`batch` as it may land (see `fence`), in the transaction of `cur`."""
        if self._fence is None:
            return batch
        host, started = self._fence
        await cur.execute("SELECT started FROM hosts WHERE host_id = %s FOR KEY SHARE", (host,))
        row = await cur.fetchone()
        if row is not None and row[0] == started:
            return batch
        runs = {r: row for r, row in batch.runs.items() if row.phase == "pending"}
        others = [r for r in batch.events if r not in runs]
        await cur.execute("SELECT run_id FROM runs WHERE run_id = ANY(%s) AND phase <> 'pending'", (others,))
        placed = {r for (r,) in await cur.fetchall()} | (batch.runs.keys() - runs.keys())
        events = {r: es for r, es in batch.events.items() if r not in placed}
        kept = Batch(runs, events, batch.kv, batch.deletes, batch.upto)
        if placed:
            log.warning(
                "store %s: host %s was taken over while away: %d writes of its runs %s not written",
                self.where,
                host,
                len(batch) - len(kept),
                ", ".join(sorted(placed)),
            )
        return kept

    async def _write(self, batch: Batch) -> None:
        async with self.pool.connection() as db, db.transaction(), db.cursor() as cur:
            batch = await self._fenced(cur, batch)
            if batch.deletes:
                gone = [(run_id,) for run_id in batch.deletes]
                await cur.executemany("DELETE FROM runs WHERE run_id = %s", gone)
                await cur.executemany("DELETE FROM events WHERE run_id = %s", gone)
            if batch.runs:
                await cur.executemany(
                    _PUT_RUN, [(r.run_id, r.flow, r.phase, r.created, r.doc) for r in batch.runs.values()]
                )
            events = {r: es for r, es in batch.events.items() if r != AUDIT}
            if events:
                await cur.executemany(
                    _ADD_EVENT,
                    [(e.run_id, e.seq, e.node, e.tag, e.doc) for es in events.values() for e in es],
                )
                if self.events_host:
                    seqs = {r: [e.seq for e in es] for r, es in events.items()}
                    told = payloads(self.events_host, [(r, min(s), max(s)) for r, s in seqs.items()])
                    await cur.executemany("SELECT pg_notify(%s, %s)", [(CHANNEL, p) for p in told])
            if batch.kv:
                await cur.executemany(_PUT_KV, list(batch.kv.items()))
            if audit := batch.events.get(AUDIT):  # last: the lock is held only until the commit
                await cur.execute("SELECT pg_advisory_xact_lock(%s)", (AUDIT_LOCK,))
                await cur.executemany(
                    _ADD_AUDIT, [(AUDIT, e.node, e.tag, e.doc, AUDIT, AUDIT, e.node) for e in audit]
                )

    # ---- reads: buffered writes overlaid on the database -----------------------------------------

    def _buffered(self) -> list[Batch]:
        """Under the lock: the uncommitted batches, oldest first."""
        if self._state != "open":
            raise StoreError(f"store {self.where} is not open")
        return self._buf.batches()

    async def _query(self, query: Callable[[Conn], Awaitable[T]]) -> T:
        """Run `query` on a pooled connection; StoreError when it fails or the database has not
        answered within the query timeout. A cancelled query waits for the server to answer its
        cancel, which a hung server never does: so an unanswered query is left to finish (or fail)
        on its own, holding its connection, and the caller is answered at once."""

        async def run() -> T:
            async with self.pool.connection() as db:
                return await query(db)

        task = asyncio.ensure_future(run())
        done, _ = await asyncio.wait({task}, timeout=self._query_timeout)
        if not done:
            task.add_done_callback(_forget)
            raise StoreError(f"store {self.where}: no answer in {self._query_timeout:.0f}s")
        try:
            return task.result()
        except psycopg.Error as e:
            raise StoreError(f"store {self.where}: {e}") from None

    async def _rows(self, sql: str, args: tuple[Any, ...] | list[Any]) -> list[tuple[Any, ...]]:
        async def run(db: Conn) -> list[tuple[Any, ...]]:
            cur = await db.execute(sql.encode(), args)
            return await cur.fetchall()

        return await self._query(run)

    async def get_run(self, run_id: str) -> Doc | None:
        with self._lock:
            for b in reversed(self._buffered()):
                if run_id in b.runs:
                    return stored_doc(run_id, b.runs[run_id].doc)
                if run_id in b.deletes:
                    return None
        found = await self._rows("SELECT doc FROM runs WHERE run_id = %s", (run_id,))
        return stored_doc(run_id, found[0][0]) if found else None

    async def list_runs(
        self, *, phase: str, flow: str | None = None, limit: int | None = None, before: float | None = None
    ) -> list[Doc]:
        if limit is not None and limit <= 0:
            return []
        with self._lock:
            overlay, deleted = buffered_runs(self._buffered())
        sql = "SELECT run_id, created, doc FROM runs WHERE phase = %s"
        args: list[Any] = [phase]
        if flow is not None:
            sql += " AND flow = %s"
            args.append(flow)
        if before is not None:
            sql += " AND created < %s"
            args.append(before)
        sql += " ORDER BY created DESC"
        if limit is not None:
            sql += " LIMIT %s"
            args.append(limit + len(overlay) + len(deleted))
        rows: list[tuple[float, str, str]] = [
            (created, run_id, doc)
            for run_id, created, doc in await self._rows(sql, args)
            if run_id not in overlay and run_id not in deleted
        ]
        rows += [
            (r.created, r.run_id, r.doc)
            for r in overlay.values()
            if r.phase == phase
            and (flow is None or r.flow == flow)
            and (before is None or r.created < before)
        ]
        rows.sort(key=lambda r: r[0], reverse=True)
        return [stored_doc(run_id, doc) for _, run_id, doc in rows[:limit]]

    def _buffered_events(self, run_id: str) -> list[EventRow]:
        """The run's uncommitted events, the first of each seq only."""
        with self._lock:
            rows = [e for b in self._buffered() for e in b.events.get(run_id, ())]
        first: dict[int, EventRow] = {}
        for e in rows:
            first.setdefault(e.seq, e)
        return list(first.values())

    async def events(self, run_id: str, after_seq: int = 0) -> list[Doc]:
        if run_id == AUDIT:
            return await self._audit(after_seq)
        buffered = [e for e in self._buffered_events(run_id) if e.seq > after_seq]
        stored = await self._rows(
            "SELECT seq, doc FROM events WHERE run_id = %s AND seq > %s ORDER BY seq", (run_id, after_seq)
        )
        merged: dict[int, str] = dict(stored)
        for e in buffered:
            merged.setdefault(e.seq, e.doc)
        return [stored_doc(run_id, merged[seq]) for seq in sorted(merged)]

    async def _audit(self, after_seq: int) -> list[Doc]:
        """The audit trail after the database's seq `after_seq`, then the entries not stored yet."""
        buffered = self._buffered_events(AUDIT)
        stored = await self._rows(
            "SELECT node, doc FROM events WHERE run_id = %s AND seq > %s ORDER BY seq", (AUDIT, after_seq)
        )
        marks = {node for node, _ in stored}
        docs = [doc for _, doc in stored] + [e.doc for e in buffered if e.node not in marks]
        return [stored_doc(AUDIT, doc) for doc in docs]

    async def node_log(self, run_id: str, node_id: str) -> list[str]:
        buffered = [e for e in self._buffered_events(run_id) if e.node == node_id and e.tag == NODE_UPDATE]

        # one statement, one snapshot: the node's lines, and which buffered seqs are stored already
        # (a buffered event whose seq is stored, whatever its node, is a duplicate)
        rows = await self._rows(
            "SELECT seq, node = %s AND tag = %s, doc FROM events WHERE run_id = %s"
            " AND ((node = %s AND tag = %s) OR seq = ANY(%s)) ORDER BY seq",
            (node_id, NODE_UPDATE, run_id, node_id, NODE_UPDATE, [e.seq for e in buffered]),
        )
        stored = [(seq, doc) for seq, mine, doc in rows if mine]
        taken = {seq for seq, _, _ in rows}
        merged: dict[int, str] = dict(stored)
        for e in buffered:
            if e.seq not in taken:
                merged.setdefault(e.seq, e.doc)
        try:
            return [line for seq in sorted(merged) for line in log_lines(merged[seq])]
        except (ValueError, AttributeError) as e:
            raise DamagedRecord(run_id, f"an event is not a JSON object: {e}") from None

    async def get_kv(self, key: str) -> Any | None:
        with self._lock:
            text = next((b.kv[key] for b in reversed(self._buffered()) if key in b.kv), None)
        if text is None:
            found = await self._rows("SELECT value FROM kv WHERE key = %s", (key,))
            text = found[0][0] if found else None
        return None if text is None else decode(text)


def _audit_mark(event: Doc) -> str:
    """What tells one audit entry from every other one in the cluster: its host, its seq there, its time."""
    opts = event.get("opts") or {}
    return f"{opts.get('host', '')}/{opts.get('seq', event.get('seq'))}/{opts.get('at', event.get('at'))}"


def _forget(task: asyncio.Future[Any]) -> None:
    """Collect the outcome of a query nobody waits for any more."""
    if not task.cancelled() and task.exception() is not None:
        log.debug("store query answered late: %s", task.exception())
