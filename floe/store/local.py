"""Embedded RunStore: SQLite (WAL), written behind by one writer thread, read in worker threads."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path
from typing import Any

from floe.store.base import Doc
from floe.store.batch import buffered_runs
from floe.store.crypto import Cipher, run_aad
from floe.store.errors import DamagedRecord, StoreError
from floe.store.local_keys import check_keys
from floe.store.local_readers import Readers
from floe.store.local_schema import DB_NAME, open_db
from floe.store.local_sealing import Sealing, buffered_doc, merge_events
from floe.store.local_writer import Writer
from floe.store.rows import (
    NODE_UPDATE,
    EventRow,
    RunRow,
    decode,
    encode,
    event_row,
    log_lines,
    run_row,
    stored_doc,
)


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
        self.path = self.root / DB_NAME
        self._cipher = cipher
        self._flush_timeout = flush_timeout
        self._busy_ms = int(busy_timeout * 1000)
        self._sealing = Sealing(cipher)
        self._writer = Writer(self.path, self._sealing, retry_max)
        self._readers = Readers(self.path, self._busy_ms)
        self._state = "new"  # new | open | closed: only the event loop changes it

    # ---- lifecycle -------------------------------------------------------------------------------

    async def open(self) -> None:
        if self._state == "open":
            return
        if self._state != "new":
            raise StoreError(f"store {self.path} is closed")
        self._writer.start(await asyncio.to_thread(self._open_db))
        self._state = "open"

    async def close(self) -> None:
        """Flush, stop the writer and close the connections; raises `StoreError` if records were lost."""
        if self._state != "open":
            return
        try:
            with contextlib.suppress(StoreError):  # the writer makes a last attempt below
                await self.flush()
        finally:
            await self._writer.stop()
            self._readers.close()
            self._state = "closed"
        if lost := self.pending_writes:
            raise StoreError(f"store {self.path} closed with {lost} unwritten records: {self.write_error}")

    def _open_db(self) -> sqlite3.Connection:
        db = open_db(self.root, self._busy_ms)
        if self._cipher is None:
            return db
        try:
            check_keys(db, self._cipher, self.path)
        except sqlite3.DatabaseError as e:
            db.close()
            raise StoreError(f"cannot open the store {self.path}: {e}") from None
        except BaseException:
            db.close()
            raise
        return db

    # ---- writes (any thread, no IO) --------------------------------------------------------------

    def put_run(self, doc: Doc) -> None:
        self._writer.put_run(run_row(doc))

    def append_event(self, event: Doc) -> None:
        self._writer.append_event(event_row(event))

    def put_kv(self, key: str, value: Any) -> None:
        self._writer.put_kv(key, encode(value))

    async def delete_run(self, run_id: str) -> None:
        self._writer.delete_run(run_id)
        await self.flush()

    async def flush(self) -> None:
        await self._writer.flush(self._flush_timeout)

    @property
    def pending_writes(self) -> int:
        """Records enqueued and not yet committed."""
        return self._writer.pending

    @property
    def write_error(self) -> BaseException | None:
        """The error of the last write attempt while writes are failing, else None."""
        return self._writer.error

    # ---- reads: buffered writes overlaid on a read connection in a worker thread -----------------

    async def get_run(self, run_id: str) -> Doc | None:
        with self._writer.buffered() as batches:
            row: RunRow | None = None
            for b in reversed(batches):
                if run_id in b.runs:
                    row = b.runs[run_id]
                    break
                if run_id in b.deletes:
                    return None
        if row is not None:
            return buffered_doc(row.doc)
        found = await self._readers.read(
            lambda db: [
                self._sealing.opened(doc, run_aad(run_id), run_id)
                for (doc,) in db.execute("SELECT doc FROM runs WHERE run_id = ?", (run_id,)).fetchall()
            ]
        )
        return stored_doc(run_id, found[0]) if found else None

    async def list_runs(
        self, *, phase: str, flow: str | None = None, limit: int | None = None, before: float | None = None
    ) -> list[Doc]:
        if limit is not None and limit <= 0:
            return []
        with self._writer.buffered() as batches:
            overlay, deleted = buffered_runs(batches)
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
        rows: list[tuple[float, Doc | str]] = await self._readers.read(
            lambda db: [
                (created, self._sealing.listed(run_id, row_flow, phase, created, doc))
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
        return [doc if isinstance(doc, dict) else buffered_doc(doc) for _, doc in rows[:limit]]

    async def events(self, run_id: str, after_seq: int = 0) -> list[Doc]:
        buffered = [e for e in self._buffered_events(run_id) if e.seq > after_seq]
        stored: list[tuple[int, str]] = await self._readers.read(
            lambda db: self._sealing.events(
                run_id,
                db.execute(
                    "SELECT seq, doc FROM events WHERE run_id = ? AND seq > ? ORDER BY seq",
                    (run_id, after_seq),
                ).fetchall(),
            )
        )
        merged = merge_events(stored, buffered, set())
        return await asyncio.to_thread(lambda: [stored_doc(run_id, doc) for _, doc in merged])  # off loop

    async def node_log(self, run_id: str, node_id: str) -> list[str]:
        buffered = [e for e in self._buffered_events(run_id) if e.node == node_id and e.tag == NODE_UPDATE]

        def query(db: sqlite3.Connection) -> tuple[list[tuple[int, str]], set[int]]:
            stored = db.execute(
                "SELECT seq, doc FROM events WHERE run_id = ? AND node = ? AND tag = ? ORDER BY seq",
                (run_id, node_id, NODE_UPDATE),
            ).fetchall()
            return self._sealing.events(run_id, stored), _stored_seqs(db, run_id, [e.seq for e in buffered])

        stored, taken = await self._readers.read(query)
        try:
            return [line for _, doc in merge_events(stored, buffered, taken) for line in log_lines(doc)]
        except (ValueError, AttributeError) as e:
            raise DamagedRecord(run_id, f"an event is not a JSON object: {e}") from None

    async def get_kv(self, key: str) -> Any | None:
        with self._writer.buffered() as batches:
            text = next((b.kv[key] for b in reversed(batches) if key in b.kv), None)
        if text is None:
            found = await self._readers.read(
                lambda db: db.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchall()
            )
            text = found[0][0] if found else None
        return None if text is None else decode(text)

    def _buffered_events(self, run_id: str) -> list[EventRow]:
        """The run's uncommitted events, the first of each seq only (later duplicates are ignored)."""
        with self._writer.buffered() as batches:
            rows = [e for b in batches for e in b.events.get(run_id, ())]
        first: dict[int, EventRow] = {}
        for e in rows:
            first.setdefault(e.seq, e)
        return list(first.values())


def _stored_seqs(db: sqlite3.Connection, run_id: str, seqs: list[int], chunk: int = 500) -> set[int]:
    """Which of `seqs` the run already has stored (whatever their node or tag)."""
    found: set[int] = set()
    for i in range(0, len(seqs), chunk):
        part = seqs[i : i + chunk]
        marks = ",".join("?" * len(part))
        sql = f"SELECT seq FROM events WHERE run_id = ? AND seq IN ({marks})"
        found.update(seq for (seq,) in db.execute(sql, (run_id, *part)))
    return found
