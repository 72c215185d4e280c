"""Moving a host's SQLite history (runs, events and logs, counters, audit trail, state) into PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from floe.store.crypto import SEALED, Cipher, event_aad, run_aad
from floe.store.errors import StoreError
from floe.store.local_schema import DB_NAME
from floe.store.postgres import AUDIT_LOCK, Conn, PgStore
from floe.store.rows import decode, encode

AUDIT = "_audit"  # the audit trail's stream among the events (floe/hub/controls.py)
CHUNK = 1000  # rows per statement batch


@dataclass(frozen=True, slots=True)
class Moved:
    """What one migration added (rows already in the database are not counted)."""

    runs: int = 0
    events: int = 0
    kv: int = 0
    audit: int = 0


def _opened(cipher: Cipher | None, text: str, aad: str) -> str:
    if not text.startswith(SEALED):
        return text
    if cipher is None:
        raise StoreError(f"{aad}: the record is encrypted, and no keys file was found beside the store")
    return cipher.open(text, aad)


def _read(
    root: Path, cipher: Cipher | None
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[str, str]]]:
    """Every run, event and key of the local store under `root` (read-only; plaintext)."""
    path = root / DB_NAME
    if not path.exists():
        raise StoreError(f"no local store at {path}")
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        runs = [
            (run_id, flow, phase, created, _opened(cipher, doc, run_aad(run_id)))
            for run_id, flow, phase, created, doc in db.execute(
                "SELECT run_id, flow, phase, created, doc FROM runs ORDER BY created"
            )
        ]
        events = [
            (run_id, seq, node, tag, _opened(cipher, doc, event_aad(run_id, seq)))
            for run_id, seq, node, tag, doc in db.execute(
                "SELECT run_id, seq, node, tag, doc FROM events ORDER BY run_id, seq"
            )
        ]
        kv = list(db.execute("SELECT key, value FROM kv"))
    except sqlite3.Error as e:
        raise StoreError(f"{path}: {e}") from None
    finally:
        db.close()
    return runs, events, kv


async def migrate_local(root: Path, target: PgStore, cipher: Cipher | None = None) -> Moved:
    """Copy the local store under `root` into the open `target`, in one transaction. Idempotent:
    rows already there are kept as they are (a run the cluster has since changed is not set back),
    a run counter only goes up, and audit entries already copied are recognised and skipped (the
    rest are appended after the database's own, renumbered: every host's trail starts at 1)."""
    runs, events, kv = await asyncio.to_thread(_read, root, cipher)
    audit = [e for e in events if e[0] == AUDIT]
    events = [e for e in events if e[0] != AUDIT]
    async with target.pool.connection() as db, db.transaction():
        moved_runs = await _insert(
            db,
            "INSERT INTO runs(run_id, flow, phase, created, doc) VALUES(%s, %s, %s, %s, %s)"
            " ON CONFLICT DO NOTHING RETURNING 1",
            runs,
        )
        moved_events = await _insert(
            db,
            "INSERT INTO events(run_id, seq, node, tag, doc) VALUES(%s, %s, %s, %s, %s)"
            " ON CONFLICT DO NOTHING RETURNING 1",
            events,
        )
        counters = [(k, v) for k, v in kv if k.startswith("counter/")]
        others = [(k, v) for k, v in kv if not k.startswith("counter/") and k != "audit-seq"]
        moved_kv = await _insert(
            db, "INSERT INTO kv(key, value) VALUES(%s, %s) ON CONFLICT DO NOTHING RETURNING 1", others
        )
        moved_kv += await _insert(
            db,
            "INSERT INTO kv(key, value) VALUES(%s, %s) ON CONFLICT(key) DO UPDATE SET value = excluded.value"
            " WHERE kv.value::bigint < excluded.value::bigint RETURNING 1",
            counters,
        )
        moved_audit = await _append_audit(db, audit)
    return Moved(moved_runs, moved_events, moved_kv, moved_audit)


async def _insert(db: Conn, sql: str, rows: list[tuple[Any, ...]]) -> int:
    done = 0
    async with db.cursor() as cur:
        for i in range(0, len(rows), CHUNK):
            await cur.executemany(sql.encode(), rows[i : i + CHUNK], returning=True)
            while True:
                done += len(await cur.fetchall())
                if not cur.nextset():
                    break
    return done


async def _append_audit(db: Conn, entries: list[tuple[Any, ...]]) -> int:
    """Audit entries not in the database yet (same host, seq and time), after its last one."""
    await db.execute("LOCK TABLE kv IN SHARE ROW EXCLUSIVE MODE")  # no host appends meanwhile
    await db.execute("SELECT pg_advisory_xact_lock(%s)", (AUDIT_LOCK,))  # nor numbers audit entries
    cur = await db.execute("SELECT doc FROM events WHERE run_id = %s ORDER BY seq", (AUDIT,))
    have = {_mark(decode(doc)) for (doc,) in await cur.fetchall()}
    cur = await db.execute("SELECT coalesce(max(seq), 0) FROM events WHERE run_id = %s", (AUDIT,))
    row = await cur.fetchone()
    seq = int(row[0]) if row else 0
    added = 0
    for _, _, node, tag, doc in entries:
        event = decode(doc)
        if _mark(event) in have:
            continue
        seq += 1
        origin = event.get("seq")
        event["seq"] = seq
        event["opts"] = {**event.get("opts", {}), "seq": seq, "origin_seq": origin}
        await db.execute(
            "INSERT INTO events(run_id, seq, node, tag, doc) VALUES(%s, %s, %s, %s, %s)",
            (AUDIT, seq, node, tag, encode(event)),
        )
        added += 1
    await db.execute(
        "INSERT INTO kv(key, value) VALUES('audit-seq', %s) ON CONFLICT(key) DO UPDATE"
        " SET value = excluded.value WHERE kv.value::bigint < excluded.value::bigint",
        (str(seq),),
    )
    return added


def _mark(event: dict[str, Any]) -> tuple[Any, ...]:
    """What identifies an audit entry across a renumbering: its host, its first seq and its time."""
    opts = event.get("opts") or {}
    return (opts.get("host"), opts.get("origin_seq", opts.get("seq")), opts.get("at"))
