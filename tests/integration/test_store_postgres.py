"""PgStore against a real PostgreSQL 15: schema version, a newer schema refused, durability, an outage."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from floe.store.errors import StoreError
from floe.store.open import open_store
from floe.store.pg_schema import SCHEMA_VERSION
from floe.store.postgres import PgStore, safe_url
from tests.support.postgres import PgServer


def run(run_id: str, phase: str = "archive", created: float = 1.0, **extra: Any) -> dict[str, Any]:
    return {"run_id": run_id, "flow": "build", "phase": phase, "created": created, **extra}


def line(run_id: str, seq: int, text: str) -> dict[str, Any]:
    opts = {"line": text}
    return {"run_id": run_id, "seq": seq, "source_node": "a", "tag": "sys.node.update", "opts": opts}


def scalar(url: str, sql: str) -> Any:
    with psycopg.connect(url) as db:
        row = db.execute(sql.encode()).fetchone()
        return None if row is None else row[0]


async def test_schema_is_created_with_its_version_and_reopen_keeps_everything(pg_url: str) -> None:
    store = PgStore(pg_url)
    await store.open()
    store.put_run(run("h1-1", trigger={"branch": "main"}))
    store.append_event(line("h1-1", 1, "hello ✓"))
    store.put_kv("counter/h1", 100)
    await store.close()
    assert scalar(pg_url, "SELECT value FROM floe_meta WHERE key = 'schema_version'") == str(SCHEMA_VERSION)
    again, other = PgStore(pg_url), PgStore(pg_url)  # two hosts open one database at once
    await asyncio.gather(again.open(), other.open())
    try:
        assert await other.get_run("h1-1") == run("h1-1", trigger={"branch": "main"})
        assert await again.node_log("h1-1", "a") == ["hello ✓"]
        assert await again.get_kv("counter/h1") == 100
    finally:
        await again.close()
        await other.close()


async def test_a_newer_schema_is_refused_without_changing_it(pg_url: str) -> None:
    store = PgStore(pg_url)
    await store.open()
    await store.close()
    with psycopg.connect(pg_url) as db:
        db.execute("UPDATE floe_meta SET value = %s WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(StoreError, match=f"schema version {SCHEMA_VERSION + 1}, newer than this floe knows"):
        await PgStore(pg_url).open()
    assert scalar(pg_url, "SELECT value FROM floe_meta WHERE key = 'schema_version'") == str(
        SCHEMA_VERSION + 1
    )


async def test_an_unreachable_database_is_a_store_error_naming_it_without_a_password() -> None:
    url = "postgresql://floe@127.0.0.1:1/ci"
    named = re.escape("cannot open the store postgresql://127.0.0.1:1/ci")
    with pytest.raises(StoreError, match=named) as err:
        await PgStore(url, password="pw-never-shown", connect_timeout=1).open()
    assert "pw-never-shown" not in str(err.value)
    assert safe_url("postgresql://u@db.example:6543/x") == "postgresql://db.example:6543/x"


async def test_writes_while_the_database_is_down_are_kept_and_land_once(pg_server: PgServer) -> None:
    """The server stopped: writes go on without blocking, a flush gives up with StoreError after
    its timeout, reads of buffered state still answer; once it is back everything lands once."""
    url = pg_server.database()
    store = PgStore(url, flush_timeout=0.5, retry_max=0.2)
    await store.open()
    try:
        store.put_run(run("h1-1", "active"))
        await store.flush()
        pg_server.stop()
        try:
            for seq in range(1, 51):
                store.append_event(line("h1-1", seq, f"line {seq}"))
            store.put_run(run("h1-1", "archive", result="good"))
            with pytest.raises(StoreError, match="writes failing"):
                await store.flush()
            assert (await store.get_run("h1-1") or {}).get("result") == "good"  # from the buffer
            assert store.pending_writes > 0
        finally:
            pg_server.start()
        await asyncio.wait_for(store.flush(), 60)
        assert store.pending_writes == 0
        assert await store.node_log("h1-1", "a") == [f"line {i}" for i in range(1, 51)]
    finally:
        await store.close()
    assert scalar(url, "SELECT count(*) FROM events WHERE run_id = 'h1-1'") == 50
    assert scalar(url, "SELECT phase FROM runs WHERE run_id = 'h1-1'") == "archive"


def test_open_store_makes_the_postgres_store_from_the_url(tmp_path: Path) -> None:
    store = open_store("postgres", tmp_path, url="postgresql://floe@127.0.0.1:5/ci", password="pw")
    assert isinstance(store, PgStore) and store.where == "postgresql://127.0.0.1:5/ci"
    with pytest.raises(ValueError, match="needs a URL"):
        open_store("postgres", tmp_path)


async def test_a_hung_database_is_a_store_error_not_a_wait(pg_server: PgServer) -> None:
    """The server and every session of the test's database stopped (SIGSTOP), as in a partition: a read
    answers StoreError within the query timeout, a write is kept; SIGCONT, and it lands."""
    url = pg_server.database()
    name = url.rsplit("/", 1)[1]
    store = PgStore(url, flush_timeout=0.5, query_timeout=1.0, retry_max=0.2)
    await store.open()
    stopped: list[int] = []
    try:
        store.put_run(run("h1-1"))
        await store.flush()
        with psycopg.connect(pg_server.url(), autocommit=True) as admin:
            found = admin.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (name,)).fetchall()
        for pid in [pg_server.pid, *(pid for (pid,) in found)]:  # the server and its sessions
            os.kill(pid, signal.SIGSTOP)
            stopped.append(pid)
        store.put_run(run("h1-2"))
        with pytest.raises(StoreError, match="no answer in 1s"):
            await store.list_runs(phase="archive")
        with pytest.raises(StoreError, match="writes failing"):
            await store.flush()
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGCONT)
    try:
        await asyncio.wait_for(store.flush(), 60)
        assert sorted(d["run_id"] for d in await store.list_runs(phase="archive")) == ["h1-1", "h1-2"]
    finally:
        await store.close()
