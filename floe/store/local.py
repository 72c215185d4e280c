"""Embedded RunStore: SQLite (WAL) written behind by one writer thread in batched transactions."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from floe.store.base import Doc
from floe.store.codec import NODE_UPDATE, EventRow, RunRow, decode, encode, event_row, log_line, run_row
from floe.store.crypto import SEALED, Cipher, event_aad, run_aad
from floe.store.errors import UNREADABLE, DamagedRecord, StoreError
from floe.store.threads import resolve

log = logging.getLogger(__name__)
T = TypeVar("T")

SCHEMA_VERSION = 1
DB_NAME = "floe.db"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS runs(
    run_id TEXT PRIMARY KEY, flow TEXT NOT NULL, phase TEXT NOT NULL, created REAL NOT NULL,
    doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS runs_phase_flow_created ON runs(phase, flow, created);
CREATE INDEX IF NOT EXISTS runs_phase_created ON runs(phase, created);
CREATE TABLE IF NOT EXISTS events(
    run_id TEXT NOT NULL, seq INTEGER NOT NULL, node TEXT NOT NULL, tag TEXT NOT NULL,
    doc TEXT NOT NULL, PRIMARY KEY(run_id, seq)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_node ON events(run_id, node, seq);
CREATE TABLE IF NOT EXISTS kv(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
"""
_PUT_RUN = (
    "INSERT INTO runs(run_id, flow, phase, created, doc) VALUES(?, ?, ?, ?, ?) ON CONFLICT(run_id) DO UPDATE"
    " SET flow = excluded.flow, phase = excluded.phase, created = excluded.created, doc = excluded.doc"
)
_ADD_EVENT = "INSERT OR IGNORE INTO events(run_id, seq, node, tag, doc) VALUES(?, ?, ?, ?, ?)"
_DELETE_RUN = "DELETE FROM runs WHERE run_id = ?"
_DELETE_EVENTS = "DELETE FROM events WHERE run_id = ?"
_PUT_KV = "INSERT INTO kv(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value"
_WAL_KEEP = 32 * 1024 * 1024  # bytes of WAL kept after a checkpoint; a huge batch's excess is truncated
_REMIND_EVERY = 30.0  # seconds between repeated error logs while writes keep failing
KEY_CHECK = "floe key check"  # sealed in `meta` with each active key: a wrong keys file is found at open
LINGER = 0.01  # seconds the writer lets writes gather into one transaction, unless a flush waits


@dataclass(slots=True)
class _Batch:
    """Writes not yet committed; repeated puts of one run or key coalesce (last wins). Deleted
    runs are deleted before the batch's puts, which all came after their deletes."""

    runs: dict[str, RunRow] = field(default_factory=dict)
    events: dict[str, list[EventRow]] = field(default_factory=dict)
    kv: dict[str, str] = field(default_factory=dict)
    deletes: set[str] = field(default_factory=set)
    upto: int = 0  # ticket of the last write enqueued into it

    def __len__(self) -> int:
        """Records held, after coalescing."""
        return len(self.runs) + sum(map(len, self.events.values())) + len(self.kv) + len(self.deletes)

    def __bool__(self) -> bool:
        return bool(self.runs or self.events or self.kv or self.deletes)


class LocalStore:
    """SQLite at `<root>/floe.db`. Writes never block the caller: one writer thread commits batches.

    `flush_timeout`: a `flush()` that has waited that long while writes are failing raises
    `StoreError` (the records stay buffered and keep being retried); `None` waits for ever.
    `busy_timeout`: how long a write waits for a lock held by another process.
    `retry_max`: the cap of the retry backoff.
    `cipher`: when given, run documents and events are encrypted on disk (the indexed columns stay
    plain); documents written without one still read. Without one, an encrypted record is a
    StoreError.
    """

    def __init__(
        self,
        root: Path,
        *,
        flush_timeout: float | None = 30.0,
        busy_timeout: float = 5.0,
        retry_max: float = 2.0,
        cipher: Cipher | None = None,
    ) -> None:
        self.root = Path(root)
        self._cipher = cipher
        self.path = self.root / DB_NAME
        self._flush_timeout = flush_timeout
        self._busy_ms = int(busy_timeout * 1000)
        self._retry_max = retry_max
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._pending = _Batch()
        self._inflight: _Batch | None = None
        self._ticket = 0
        self._committed = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._error: BaseException | None = None
        self._failing_since: float | None = None
        self._state = "new"  # new | open | closing | closed
        self._idle = False  # the writer waits for a first write (and is then woken by it)
        self._thread: threading.Thread | None = None
        self._writer: sqlite3.Connection | None = None
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()

    # ---- lifecycle -------------------------------------------------------------------------------

    async def open(self) -> None:
        if self._state == "open":
            return
        if self._state != "new":
            raise StoreError(f"store {self.path} is closed")
        self._writer = await asyncio.to_thread(self._init_db)
        self._state = "open"
        self._thread = threading.Thread(target=self._write_loop, name="floe-store-writer", daemon=True)
        self._thread.start()

    async def close(self) -> None:
        """Flush, stop the writer and close the connections; raises `StoreError` if records were lost."""
        if self._state != "open":
            return
        try:
            with contextlib.suppress(StoreError):  # the writer makes a last attempt below
                await self.flush()
        finally:
            with self._lock:
                self._state = "closing"
                self._wake.notify()
            self._stop.set()
            if self._thread is not None:
                await asyncio.to_thread(self._thread.join)
            with self._readers_lock:
                readers, self._readers = self._readers, []
                self._state = "closed"
            for db in readers:
                db.close()
        if lost := self.pending_writes:
            raise StoreError(f"store {self.path} closed with {lost} unwritten records: {self._error}")

    def _init_db(self) -> sqlite3.Connection:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not self.path.exists():
            self._create()
        elif self.path.stat().st_size == 0:  # never made by floe (see _create): damage, not a new store
            raise StoreError(
                f"{self.path} is empty (0 bytes) where this host's store should be: it was truncated "
                "or replaced, and the runs and the run counter it held are gone. Restore it from a "
                f"backup; or move it (and any {DB_NAME}-wal beside it) away to start with an empty "
                "store, whose run ids start at 1 again"
            )
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            db.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
            mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"{self.path}: cannot use WAL journal mode (got {mode})")
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute(f"PRAGMA journal_size_limit = {_WAL_KEEP}")
            db.execute("BEGIN IMMEDIATE")
            for statement in _statements(_SCHEMA):
                db.execute(statement)
            db.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', ?)", (str(SCHEMA_VERSION),)
            )
            found = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
            db.execute("COMMIT")
            if found != str(SCHEMA_VERSION):
                raise StoreError(f"{self.path}: schema version {found}, this floe reads {SCHEMA_VERSION}")
            if self._cipher is not None:
                self._check_keys(db, self._cipher)
        except sqlite3.DatabaseError as e:
            db.close()
            if getattr(e, "sqlite_errorname", "") in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
                raise StoreError(
                    f"{self.path} is not a floe store ({e}): restore it from a backup, or move it "
                    "away to start with an empty store"
                ) from None
            raise StoreError(f"cannot open the store {self.path}: {e}") from None
        except BaseException:
            db.close()
            raise
        return db

    def _create(self) -> None:
        """A new store, made beside its place and renamed into it: a crash never leaves an empty
        file where a store should be, so an empty one is always damage."""
        new = self.path.with_name(DB_NAME + ".new")
        for leftover in (new, new.with_name(new.name + "-journal")):
            leftover.unlink(missing_ok=True)
        for suffix in ("-wal", "-shm"):  # of a database moved away: never to be read into this one
            orphan = self.path.with_name(DB_NAME + suffix)
            if orphan.exists():
                kept = orphan.with_name(f"{orphan.name}.orphan-{int(time.time())}")
                orphan.rename(kept)
                log.warning("store %s: moved %s, left without its database, to %s", self.path, orphan, kept)
        os.close(os.open(new, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        db = sqlite3.connect(new, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")
            for statement in _statements(_SCHEMA):
                db.execute(statement)
            db.execute("INSERT INTO meta(key, value) VALUES('schema_version', ?)", (str(SCHEMA_VERSION),))
            db.execute("COMMIT")
        finally:
            db.close()
        os.replace(new, self.path)
        with contextlib.suppress(OSError):  # make the new directory entry durable
            fd = os.open(self.root, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def _check_keys(self, db: sqlite3.Connection, cipher: Cipher) -> None:
        """Refuse keys that do not open this store: each key's check value (sealed at the first
        open with it, and by `reencrypt`) must open, and the keys file must hold one of the keys
        checked; a key with no check yet must open a record sealed with it, if the 20 newest
        rows hold any (up to 3 are tried), before its check is written."""
        checks = dict(db.execute("SELECT key, value FROM meta WHERE key LIKE 'keycheck/%'").fetchall())
        known = [key.partition("/")[2] for key in checks]
        if known and not set(known) & set(cipher.key_ids):
            raise StoreError(
                f"{cipher.source} holds none of the keys ({', '.join(sorted(known))}) the records of "
                f"{self.path} were sealed with (it was replaced or made anew): put back the keys "
                "file from its backup"
            )
        for key, value in checks.items():
            key_id = key.partition("/")[2]
            if key_id in cipher.key_ids:
                try:
                    cipher.open(value, key)
                except StoreError:
                    raise StoreError(self._wrong_key(cipher, key_id)) from None
        mine = f"keycheck/{cipher.active}"
        if mine in checks:
            return
        newest = db.execute("SELECT run_id, doc FROM runs ORDER BY rowid DESC LIMIT 20").fetchall()
        sealed = [(run_id, doc) for run_id, doc in newest if doc.startswith(f"{SEALED}{cipher.active}:")][:3]
        if sealed and not any(_opens(cipher, doc, run_aad(run_id)) for run_id, doc in sealed):
            raise StoreError(self._wrong_key(cipher, cipher.active))
        check = cipher.seal(KEY_CHECK, mine)
        db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES(?, ?)", (mine, check))

    def _wrong_key(self, cipher: Cipher, key_id: str) -> str:
        return (
            f"{cipher.source}: key {key_id} is not the key the records of {self.path} were sealed with "
            "(the keys file was replaced or made anew): put back the keys file from its backup"
        )

    # ---- writes (any thread, no IO) --------------------------------------------------------------

    def put_run(self, doc: Doc) -> None:
        row = run_row(doc)
        with self._lock:
            batch = self._enqueue()
            batch.runs[row.run_id] = row

    def append_event(self, event: Doc) -> None:
        row = event_row(event)
        with self._lock:
            batch = self._enqueue()
            batch.events.setdefault(row.run_id, []).append(row)

    def put_kv(self, key: str, value: Any) -> None:
        text = encode(value)
        with self._lock:
            batch = self._enqueue()
            batch.kv[key] = text

    async def delete_run(self, run_id: str) -> None:
        with self._lock:
            batch = self._enqueue()
            batch.runs.pop(run_id, None)
            batch.events.pop(run_id, None)
            batch.deletes.add(run_id)
        await self.flush()

    def _enqueue(self) -> _Batch:
        """Under the lock: a ticket for one more write, and the batch it goes into."""
        if self._state != "open":
            raise StoreError(f"store {self.path} is not open")
        self._ticket += 1
        batch = self._pending
        batch.upto = self._ticket
        if self._idle:
            self._idle = False
            self._wake.notify()
        return batch

    async def flush(self) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._committed >= self._ticket:
                return
            fut: asyncio.Future[None] = loop.create_future()
            self._waiters.append((self._ticket, fut))
            self._wake.notify()
        while True:
            # every `flush_timeout` seconds: give up if writes are failing, else (just slow) wait on
            done, _ = await asyncio.wait({fut}, timeout=self._flush_timeout)
            if done:
                return fut.result()
            with self._lock:
                since, err = self._failing_since, self._error
            if since is not None:
                failing_for = time.monotonic() - since
                raise StoreError(f"store writes failing for {failing_for:.1f}s: {err}") from err

    @property
    def pending_writes(self) -> int:
        """Records enqueued and not yet committed."""
        with self._lock:
            return len(self._pending) + (len(self._inflight) if self._inflight is not None else 0)

    @property
    def write_error(self) -> BaseException | None:
        """The error of the last write attempt while writes are failing, else None."""
        return self._error

    # ---- the writer thread -----------------------------------------------------------------------

    def _write_loop(self) -> None:
        delay, reminded = 0.0, 0.0
        while True:
            with self._lock:
                while self._inflight is None and not self._pending and self._state == "open":
                    self._idle = True
                    self._wake.wait()
                if self._inflight is None and self._state == "open" and not self._waiters:
                    self._wake.wait(LINGER)  # more writes gather meanwhile; a flush or close cuts it short
                if self._inflight is None:
                    if not self._pending:
                        break
                    self._inflight, self._pending = self._pending, _Batch()
                batch = self._inflight
            try:
                self._write(batch)
            except Exception as exc:
                now = time.monotonic()
                with self._lock:
                    first = self._error is None
                    self._error = exc
                    self._failing_since = now if self._failing_since is None else self._failing_since
                    stopping = self._state != "open"
                if stopping:
                    log.error(
                        "store %s: giving up on %d unwritten records at close: %s",
                        self.path,
                        self.pending_writes,
                        exc,
                    )
                    break
                if first or now - reminded >= _REMIND_EVERY:
                    reminded = now
                    log.error(
                        "store %s: write of %d records failed, keeping them and retrying: %s",
                        self.path,
                        self.pending_writes,
                        exc,
                        exc_info=first,
                    )
                delay = min(max(delay * 2, 0.05), self._retry_max)
                self._stop.wait(delay)
                continue
            with self._lock:
                self._inflight = None
                self._committed = batch.upto
                recovered = self._error is not None
                self._error = self._failing_since = None
                ready = [f for t, f in self._waiters if t <= batch.upto]
                self._waiters = [(t, f) for t, f in self._waiters if t > batch.upto]
            if recovered:
                log.warning("store %s: writes recovered", self.path)
            delay = 0.0
            resolve(ready, None)
        with self._lock:
            waiters, self._waiters = self._waiters, []
        resolve([f for _, f in waiters], f"store {self.path} closed with unwritten records")
        if self._writer is not None:
            self._writer.close()

    def _write(self, batch: _Batch) -> None:
        db = self._writer
        assert db is not None
        db.execute("BEGIN IMMEDIATE")
        try:
            if batch.deletes:
                db.executemany(_DELETE_RUN, ((run_id,) for run_id in batch.deletes))
                db.executemany(_DELETE_EVENTS, ((run_id,) for run_id in batch.deletes))
            if batch.runs:
                db.executemany(
                    _PUT_RUN,
                    (
                        (r.run_id, r.flow, r.phase, r.created, self._sealed(r.doc, run_aad(r.run_id)))
                        for r in batch.runs.values()
                    ),
                )
            if batch.events:
                db.executemany(
                    _ADD_EVENT,
                    (
                        (e.run_id, e.seq, e.node, e.tag, self._sealed(e.doc, event_aad(e.run_id, e.seq)))
                        for es in batch.events.values()
                        for e in es
                    ),
                )
            if batch.kv:
                db.executemany(_PUT_KV, batch.kv.items())
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                try:
                    db.execute("ROLLBACK")
                except sqlite3.Error:
                    log.debug("rollback failed", exc_info=True)
            raise

    # ---- reads: buffered writes overlaid on a read connection in a worker thread -----------------

    def _buffered(self) -> list[_Batch]:
        """Under the lock: the uncommitted batches, oldest first."""
        return [self._pending] if self._inflight is None else [self._inflight, self._pending]

    async def get_run(self, run_id: str) -> Doc | None:
        with self._lock:
            self._check_readable()
            row: RunRow | None = None
            for b in reversed(self._buffered()):
                if run_id in b.runs:
                    row = b.runs[run_id]
                    break
                if run_id in b.deletes:
                    return None
        if row is not None:
            return _doc(row.doc)
        found = await self._read(
            lambda db: [
                self._opened(doc, run_aad(run_id), run_id)
                for (doc,) in db.execute("SELECT doc FROM runs WHERE run_id = ?", (run_id,)).fetchall()
            ]
        )
        return _stored_doc(run_id, found[0]) if found else None

    async def list_runs(
        self, *, phase: str, flow: str | None = None, limit: int | None = None, before: float | None = None
    ) -> list[Doc]:
        if limit is not None and limit <= 0:
            return []
        with self._lock:
            self._check_readable()
            overlay: dict[str, RunRow] = {}
            deleted: set[str] = set()
            for b in self._buffered():
                for run_id in b.deletes:
                    overlay.pop(run_id, None)
                deleted |= b.deletes
                overlay.update(b.runs)
        sql = "SELECT run_id, flow, created, doc FROM runs WHERE phase = ?"
        args: list[Any] = [phase]
        if flow is not None:
            sql += " AND flow = ?"
            args.append(flow)
        if before is not None:
            sql += " AND created < ?"
            args.append(before)
        sql += " ORDER BY created DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit + len(overlay) + len(deleted))
        rows: list[tuple[float, Doc | str]] = await self._read(
            lambda db: [
                (created, self._opened_or_damage(run_id, row_flow, phase, created, doc))
                for run_id, row_flow, created, doc in db.execute(sql, args).fetchall()
                if run_id not in overlay and run_id not in deleted
            ]
        )
        rows += [
            (r.created, r.doc)
            for r in overlay.values()
            if r.phase == phase
            and (flow is None or r.flow == flow)
            and (before is None or r.created < before)
        ]
        rows.sort(key=lambda r: r[0], reverse=True)
        return [_listed(doc) for _, doc in rows[:limit]]

    async def events(self, run_id: str, after_seq: int = 0) -> list[Doc]:
        buffered = [e for e in self._buffered_events(run_id) if e.seq > after_seq]
        stored: list[tuple[int, str]] = await self._read(
            lambda db: self._opened_events(
                run_id,
                db.execute(
                    "SELECT seq, doc FROM events WHERE run_id = ? AND seq > ? ORDER BY seq",
                    (run_id, after_seq),
                ).fetchall(),
            )
        )
        merged = _merge_events(stored, buffered, set())
        return await asyncio.to_thread(lambda: [_stored_doc(run_id, doc) for _, doc in merged])  # off loop

    async def node_log(self, run_id: str, node_id: str) -> list[str]:
        buffered = [e for e in self._buffered_events(run_id) if e.node == node_id and e.tag == NODE_UPDATE]

        def query(db: sqlite3.Connection) -> tuple[list[tuple[int, str]], set[int]]:
            stored = db.execute(
                "SELECT seq, doc FROM events WHERE run_id = ? AND node = ? AND tag = ? ORDER BY seq",
                (run_id, node_id, NODE_UPDATE),
            ).fetchall()
            return self._opened_events(run_id, stored), _stored_seqs(db, run_id, [e.seq for e in buffered])

        stored, taken = await self._read(query)
        try:
            lines = [log_line(doc) for _, doc in _merge_events(stored, buffered, taken)]
        except (ValueError, AttributeError) as e:
            raise DamagedRecord(run_id, f"an event is not a JSON object: {e}") from None
        return [line for line in lines if line is not None]

    async def get_kv(self, key: str) -> Any | None:
        with self._lock:
            self._check_readable()
            text = next((b.kv[key] for b in reversed(self._buffered()) if key in b.kv), None)
        if text is None:
            found = await self._read(
                lambda db: db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchall()
            )
            text = found[0][0] if found else None
        return None if text is None else decode(text)

    def _buffered_events(self, run_id: str) -> list[EventRow]:
        """The run's uncommitted events, the first of each seq only (later duplicates are ignored)."""
        with self._lock:
            self._check_readable()
            rows = [e for b in self._buffered() for e in b.events.get(run_id, ())]
        first: dict[int, EventRow] = {}
        for e in rows:
            first.setdefault(e.seq, e)
        return list(first.values())

    def _sealed(self, text: str, aad: str) -> str:
        return text if self._cipher is None else self._cipher.seal(text, aad)

    def _opened(self, text: str, aad: str, run_id: str) -> str:
        """The JSON of a stored document (in a reader thread: decryption costs no event-loop time);
        DamagedRecord when it cannot be opened."""
        if self._cipher is not None:
            try:
                return self._cipher.open(text, aad)
            except StoreError as e:
                raise DamagedRecord(run_id, str(e)) from None
        if text.startswith(SEALED):
            raise DamagedRecord(
                run_id, f"{aad}: stored record is encrypted, and this store was opened without keys"
            )
        return text

    def _opened_or_damage(self, run_id: str, flow: str, phase: str, created: float, text: str) -> Doc:
        """A listed run's document, or (when it cannot be read) what the listing says instead."""
        try:
            return _stored_doc(run_id, self._opened(text, run_aad(run_id), run_id))
        except DamagedRecord as e:
            return {"run_id": run_id, "flow": flow, "phase": phase, "created": created, UNREADABLE: str(e)}

    def _opened_events(self, run_id: str, rows: list[tuple[int, str]]) -> list[tuple[int, str]]:
        return [(seq, self._opened(doc, event_aad(run_id, seq), run_id)) for seq, doc in rows]

    def _check_readable(self) -> None:
        if self._state != "open":
            raise StoreError(f"store {self.path} is not open")

    async def _read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        return await asyncio.to_thread(self._with_reader, query)

    def _with_reader(self, query: Callable[[sqlite3.Connection], T]) -> T:
        with self._readers_lock:
            if self._state == "closed":
                raise StoreError(f"store {self.path} is closed")
            db = self._readers.pop() if self._readers else None
        if db is None:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute(f"PRAGMA busy_timeout = {self._busy_ms}")
            db.execute("PRAGMA query_only = 1")
        try:
            db.execute("BEGIN")  # one snapshot for every statement of the query
            try:
                return query(db)
            finally:
                db.execute("ROLLBACK")
        finally:
            with self._readers_lock:
                keep = self._state != "closed"
                if keep:
                    self._readers.append(db)
            if not keep:
                db.close()


def reencrypt(root: Path, cipher: Cipher, *, chunk: int = 500) -> tuple[int, int]:
    """Offline (no host has the store open): rewrite every run document and event of the store under
    `root` that is not sealed with the cipher's active key (plain ones included) with that key, in
    one transaction, then VACUUM so that no old copy stays in the file. Returns (runs, events)
    rewritten. StoreError when a record cannot be opened (nothing is changed then)."""
    path = Path(root) / DB_NAME
    if not path.exists():
        raise StoreError(f"no store at {path}")
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA busy_timeout = 1000")
        db.execute("PRAGMA locking_mode = EXCLUSIVE")  # fails while any other connection is open
        try:
            db.execute("BEGIN EXCLUSIVE")
        except sqlite3.OperationalError as e:
            raise StoreError(f"{path} is in use ({e}): stop the host first") from e
        try:
            found = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if found is None or found[0] != str(SCHEMA_VERSION):
                raise StoreError(
                    f"{path}: schema version {found and found[0]}, this floe reads {SCHEMA_VERSION}"
                )
            runs = _reseal(
                db,
                cipher,
                "SELECT run_id, doc FROM runs WHERE run_id > ? ORDER BY run_id LIMIT ?",
                ("",),
                "UPDATE runs SET doc = ? WHERE run_id = ?",
                lambda key: run_aad(key[0]),
                chunk,
            )
            events = _reseal(
                db,
                cipher,
                "SELECT run_id, seq, doc FROM events WHERE (run_id, seq) > (?, ?)"
                " ORDER BY run_id, seq LIMIT ?",
                ("", -(2**63)),
                "UPDATE events SET doc = ? WHERE run_id = ? AND seq = ?",
                lambda key: event_aad(key[0], key[1]),
                chunk,
            )
            check = f"keycheck/{cipher.active}"  # every record opens with it now
            db.execute(
                "INSERT OR REPLACE INTO meta(key, value) VALUES(?, ?)", (check, cipher.seal(KEY_CHECK, check))
            )
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        db.execute("VACUUM")
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.Error as e:
        raise StoreError(f"{path}: {e}") from e
    finally:
        db.close()
    return runs, events


def _reseal(
    db: sqlite3.Connection,
    cipher: Cipher,
    select: str,
    start: tuple[Any, ...],
    update: str,
    aad: Callable[[tuple[Any, ...]], str],
    chunk: int,
) -> int:
    """Rewrite, page by page in key order, the rows of `select` not sealed with the active key."""
    done, after = 0, start
    while rows := db.execute(select, (*after, chunk)).fetchall():
        for *key, doc in rows:
            if cipher.sealed_with_active(doc):
                continue
            where = aad(tuple(key))
            db.execute(update, (cipher.seal(cipher.open(doc, where), where), *key))
            done += 1
        after = tuple(rows[-1][:-1])
    return done


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


def _stored_seqs(db: sqlite3.Connection, run_id: str, seqs: list[int], chunk: int = 500) -> set[int]:
    """Which of `seqs` the run already has stored (whatever their node or tag)."""
    found: set[int] = set()
    for i in range(0, len(seqs), chunk):
        part = seqs[i : i + chunk]
        marks = ",".join("?" * len(part))
        sql = f"SELECT seq FROM events WHERE run_id = ? AND seq IN ({marks})"
        found.update(seq for (seq,) in db.execute(sql, (run_id, *part)))
    return found


def _merge_events(
    stored: list[tuple[int, str]], buffered: list[EventRow], taken: set[int]
) -> list[tuple[int, str]]:
    """Stored events, then buffered ones (enqueued later) of seqs neither stored nor `taken`."""
    if not buffered:
        return stored
    merged = dict(stored)
    for e in buffered:
        if e.seq not in taken:
            merged.setdefault(e.seq, e.doc)
    return sorted(merged.items())


def _doc(text: str) -> Doc:
    doc: Doc = decode(text)
    return doc


def _stored_doc(run_id: str, text: str) -> Doc:
    """A stored document of run `run_id`; DamagedRecord when it is not a JSON object."""
    try:
        doc = decode(text)
    except ValueError as e:
        raise DamagedRecord(run_id, f"not JSON: {e}") from None
    if not isinstance(doc, dict):
        raise DamagedRecord(run_id, "not a JSON object")
    return doc


def _listed(doc: Doc | str) -> Doc:
    return doc if isinstance(doc, dict) else _doc(doc)


def _opens(cipher: Cipher, text: str, aad: str) -> bool:
    try:
        cipher.open(text, aad)
    except StoreError:
        return False
    return True
