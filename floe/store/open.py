"""Pick a RunStore backend by the config's `store-type`."""

from __future__ import annotations

from pathlib import Path

from floe.store.base import RunStore
from floe.store.crypto import Cipher
from floe.store.local import LocalStore
from floe.store.memory import MemoryStore

FLUSH_TIMEOUT = 5.0  # how long a request waits for a store that cannot write before it is told
# (common.store-timeout)


JOURNAL = "pg-journal.jsonl"  # the postgres store's writes kept on the host while the database is away


def open_store(
    store_type: str,
    root: Path,
    *,
    bucket: str = "",
    prefix: str = "",
    endpoint: str = "",
    region: str = "",
    cipher: Cipher | None = None,
    url: str = "",
    password: str | None = None,
    flush_timeout: float = FLUSH_TIMEOUT,
    s3_timeout: float = 2.0,  # common.s3-timeout
) -> RunStore:
    """A new, not yet opened store; await its `open()`.

    `memory`; `local` (SQLite under `root`); `s3`: the local store under `root` plus archived runs in
    `bucket` (under `prefix`, at `endpoint` if not AWS's own, in `region`; credentials from the usual
    AWS settings). With a `cipher`, the local store encrypts run documents and events on disk
    (`memory` ignores it; the S3 copies of archived runs are not encrypted by floe). `postgres`: the
    database at `url` (common.store-url), `password` beside it (never in the URL), its writes kept
    under `root` while the database is away; the cipher is not used (the database's own encryption
    at rest applies). A request waits `flush_timeout` seconds for a store that cannot write; each S3 request
    may take `s3_timeout` seconds to connect and as long to answer."""
    if store_type == "memory":
        return MemoryStore()
    if store_type == "local":
        return LocalStore(root, cipher=cipher, flush_timeout=flush_timeout)
    if store_type == "s3":
        if not bucket:
            raise ValueError("store type s3 needs a bucket (s3-bucket)")
        from floe.store.s3 import S3Store  # boto3 is imported only by hosts that use it

        return S3Store(
            LocalStore(root, cipher=cipher, flush_timeout=flush_timeout),
            bucket=bucket,
            prefix=prefix,
            endpoint=endpoint,
            region=region,
            timeout=s3_timeout,
        )
    if store_type == "postgres":
        if not url:
            raise ValueError("store type postgres needs a URL (store-url)")
        from floe.store.postgres import PgStore  # psycopg is imported only by hosts that use it

        return PgStore(url, password=password, flush_timeout=flush_timeout, journal=root / JOURNAL)
    raise ValueError(f"unknown store type {store_type}")
