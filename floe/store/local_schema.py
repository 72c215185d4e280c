"""The local store's SQLite file: its schema, the statements that write it, and opening it."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from pathlib import Path

from floe.store.errors import StoreError

log = logging.getLogger("floe.store.local")  # the local store's one log

SCHEMA_VERSION = 1
DB_NAME = "floe.db"
SCHEMA = """
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
PUT_RUN = (
    "INSERT INTO runs(run_id, flow, phase, created, doc) VALUES(?, ?, ?, ?, ?) ON CONFLICT(run_id) DO UPDATE"
    " SET flow = excluded.flow, phase = excluded.phase, created = excluded.created, doc = excluded.doc"
)
ADD_EVENT = "INSERT OR IGNORE INTO events(run_id, seq, node, tag, doc) VALUES(?, ?, ?, ?, ?)"
DELETE_RUN = "DELETE FROM runs WHERE run_id = ?"
DELETE_EVENTS = "DELETE FROM events WHERE run_id = ?"
PUT_KV = "INSERT INTO kv(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value"
_WAL_KEEP = 32 * 1024 * 1024  # bytes of WAL kept after a checkpoint; a huge batch's excess is truncated


def open_db(root: Path, busy_ms: int) -> sqlite3.Connection:
    """The writer's connection to the store under `root` (made if there is none), in WAL mode with
    the schema in place; StoreError for a damaged file or another schema version."""
    path = root / DB_NAME
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        _create(root)
    elif path.stat().st_size == 0:  # never made by floe (see _create): damage, not a new store
        raise StoreError(
            f"{path} is empty (0 bytes) where this host's store should be: it was truncated "
            "or replaced, and the runs and the run counter it held are gone. Restore it from a "
            f"backup; or move it (and any {DB_NAME}-wal beside it) away to start with an empty "
            "store, whose run ids start at 1 again"
        )
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        db.execute(f"PRAGMA busy_timeout = {busy_ms}")
        mode = db.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"{path}: cannot use WAL journal mode (got {mode})")
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute(f"PRAGMA journal_size_limit = {_WAL_KEEP}")
        db.execute("BEGIN IMMEDIATE")
        for statement in _statements(SCHEMA):
            db.execute(statement)
        db.execute(
            "INSERT OR IGNORE INTO meta(key, value) VALUES('schema_version', ?)", (str(SCHEMA_VERSION),)
        )
        check_version(db, path)
        db.execute("COMMIT")
    except sqlite3.DatabaseError as e:
        db.close()
        if getattr(e, "sqlite_errorname", "") in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
            raise StoreError(
                f"{path} is not a floe store ({e}): restore it from a backup, or move it "
                "away to start with an empty store"
            ) from None
        raise StoreError(f"cannot open the store {path}: {e}") from None
    except BaseException:
        db.close()
        raise
    return db


def check_version(db: sqlite3.Connection, path: Path) -> None:
    """StoreError unless the store's schema is the one this floe reads."""
    found = db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    if found is None or found[0] != str(SCHEMA_VERSION):
        raise StoreError(f"{path}: schema version {found and found[0]}, this floe reads {SCHEMA_VERSION}")


def _create(root: Path) -> None:
    """A new store, made beside its place and renamed into it: a crash never leaves an empty
    file where a store should be, so an empty one is always damage."""
    path = root / DB_NAME
    new = path.with_name(DB_NAME + ".new")
    for leftover in (new, new.with_name(new.name + "-journal")):
        leftover.unlink(missing_ok=True)
    for suffix in ("-wal", "-shm"):  # of a database moved away: never to be read into this one
        orphan = path.with_name(DB_NAME + suffix)
        if orphan.exists():
            kept = orphan.with_name(f"{orphan.name}.orphan-{int(time.time())}")
            orphan.rename(kept)
            log.warning("store %s: moved %s, left without its database, to %s", path, orphan, kept)
    os.close(os.open(new, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    db = sqlite3.connect(new, isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        for statement in _statements(SCHEMA):
            db.execute(statement)
        db.execute("INSERT INTO meta(key, value) VALUES('schema_version', ?)", (str(SCHEMA_VERSION),))
        db.execute("COMMIT")
    finally:
        db.close()
    os.replace(new, path)
    with contextlib.suppress(OSError):  # make the new directory entry durable
        fd = os.open(root, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _statements(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]
