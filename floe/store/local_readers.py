"""The local store's read connections: a pool that queries take from in worker threads."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from floe.store.errors import StoreError

T = TypeVar("T")


class Readers:
    """Read-only connections to the SQLite file at `path`, each used by one thread at a time."""

    def __init__(self, path: Path, busy_ms: int) -> None:
        self.path, self._busy_ms = path, busy_ms
        self._idle: list[sqlite3.Connection] = []
        self._closed = False
        self._lock = threading.Lock()  # stays: queries take and give back connections in to_thread threads

    async def read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        """`query` run in a worker thread, on one snapshot of the file."""
        return await asyncio.to_thread(self._with_reader, query)

    def close(self) -> None:
        """Close the idle connections; the ones in use are closed when their query ends."""
        with self._lock:
            idle, self._idle = self._idle, []
            self._closed = True
        for db in idle:
            db.close()

    def _with_reader(self, query: Callable[[sqlite3.Connection], T]) -> T:
        with self._lock:
            if self._closed:
                raise StoreError(f"store {self.path} is closed")
            db = self._idle.pop() if self._idle else None
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
            with self._lock:
                keep = not self._closed
                if keep:
                    self._idle.append(db)
            if not keep:
                db.close()
