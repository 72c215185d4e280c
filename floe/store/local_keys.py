"""The local store's keys: the check that a keys file opens the store, and re-encryption."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

from floe.store.crypto import SEALED, Cipher, event_aad, run_aad
from floe.store.errors import StoreError
from floe.store.local_schema import DB_NAME, check_version

KEY_CHECK = "floe key check"  # sealed in `meta` with each active key: a wrong keys file is found at open


def check_keys(db: sqlite3.Connection, cipher: Cipher, path: Path) -> None:
    """Refuse keys that do not open the store at `path`: each key's check value (sealed at the
    first open with it, and by `reencrypt`) must open, and the keys file must hold one of the keys
    checked; a key with no check yet must open a record sealed with it, if the 20 newest rows hold
    any (up to 3 are tried), before its check is written."""
    checks = dict(db.execute("SELECT key, value FROM meta WHERE key LIKE 'keycheck/%'").fetchall())
    known = [key.partition("/")[2] for key in checks]
    if known and not set(known) & set(cipher.key_ids):
        raise StoreError(
            f"{cipher.source} holds none of the keys ({', '.join(sorted(known))}) the records of "
            f"{path} were sealed with (it was replaced or made anew): put back the keys "
            "file from its backup"
        )
    for key, value in checks.items():
        key_id = key.partition("/")[2]
        if key_id in cipher.key_ids:
            try:
                cipher.open(value, key)
            except StoreError:
                raise StoreError(_wrong_key(cipher, key_id, path)) from None
    mine = f"keycheck/{cipher.active}"
    if mine in checks:
        return
    newest = db.execute("SELECT run_id, doc FROM runs ORDER BY rowid DESC LIMIT 20").fetchall()
    sealed = [(run_id, doc) for run_id, doc in newest if doc.startswith(f"{SEALED}{cipher.active}:")][:3]
    if sealed and not any(_opens(cipher, doc, run_aad(run_id)) for run_id, doc in sealed):
        raise StoreError(_wrong_key(cipher, cipher.active, path))
    check = cipher.seal(KEY_CHECK, mine)
    db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES(?, ?)", (mine, check))


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
            check_version(db, path)
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


def _wrong_key(cipher: Cipher, key_id: str, path: Path) -> str:
    return (
        f"{cipher.source}: key {key_id} is not the key the records of {path} were sealed with "
        "(the keys file was replaced or made anew): put back the keys file from its backup"
    )


def _opens(cipher: Cipher, text: str, aad: str) -> bool:
    try:
        cipher.open(text, aad)
    except StoreError:
        return False
    return True
