"""LocalStore on disk: reopening, schema, write-behind batching, and failing writes that recover."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import stat
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from floe.store.errors import StoreError
from floe.store.local import LocalStore


def run(run_id: str, phase: str = "archive", created: float = 1.0, **extra: Any) -> dict[str, Any]:
    return {"run_id": run_id, "flow": "build", "phase": phase, "created": created, **extra}


def line(run_id: str, seq: int, text: str, node: str = "a") -> dict[str, Any]:
    return {
        "run_id": run_id,
        "seq": seq,
        "source_node": node,
        "tag": "sys.node.update",
        "opts": {"line": text},
    }


def count(db_path: Path, table: str) -> int:
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def integrity(db_path: Path) -> str:
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])


async def test_reopen_keeps_everything_and_files_are_private(tmp_path: Path) -> None:
    root = tmp_path / "deep" / "store"
    store = LocalStore(root)
    await store.open()
    for i in range(50):
        store.put_run(run(f"h1-{i}", created=float(i), nodes=[{"id": "a", "status": "good"}]))
        store.append_event(line(f"h1-{i}", 1, f"out {i}"))
    store.put_kv("pending-counter", 50)
    await store.close()  # no explicit flush: close flushes

    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    again = LocalStore(root)
    await again.open()
    assert len(await again.list_runs(phase="archive")) == 50
    assert await again.get_run("h1-7") == run("h1-7", created=7.0, nodes=[{"id": "a", "status": "good"}])
    assert await again.node_log("h1-49", "a") == ["out 49"]
    assert await again.get_kv("pending-counter") == 50
    await again.close()
    assert integrity(store.path) == "ok"


async def test_schema_indexes_serve_the_queries(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    await store.open()
    await store.close()
    with contextlib.closing(sqlite3.connect(store.path)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "1"
        plans = {
            "phase": "SELECT doc FROM runs WHERE phase = 'a' AND created < 5 ORDER BY created DESC LIMIT 9",
            "flow": "SELECT doc FROM runs WHERE phase = 'a' AND flow = 'f' ORDER BY created DESC LIMIT 9",
            "log": "SELECT seq, doc FROM events WHERE run_id = 'r' AND node = 'a' AND tag = 't' ORDER BY seq",
        }
        for name, sql in plans.items():
            plan = " ".join(row[-1] for row in db.execute("EXPLAIN QUERY PLAN " + sql))
            assert "USING INDEX" in plan or "USING PRIMARY KEY" in plan, (name, plan)
            assert "TEMP B-TREE" not in plan, (name, plan)


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    await store.open()
    await store.close()
    with contextlib.closing(sqlite3.connect(store.path)) as db, db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(StoreError, match="schema version 99"):
        await LocalStore(tmp_path).open()


async def test_lifecycle_errors(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    with pytest.raises(StoreError, match="not open"):
        store.put_run(run("h1-1"))
    await store.open()
    await store.open()  # a second open is harmless
    store.put_run(run("h1-1"))
    await store.close()
    await store.close()
    with pytest.raises(StoreError):
        store.put_kv("k", 1)
    with pytest.raises(StoreError):
        await store.get_run("h1-1")
    with pytest.raises(StoreError, match="closed"):
        await store.open()
    assert not [t for t in threading.enumerate() if t.name == "floe-store-writer"]


async def test_flush_commits_everything_enqueued_before_it(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    await store.open()
    for seq in range(1, 5001):
        store.append_event(line("h1-1", seq, f"l{seq}"))
    store.put_run(run("h1-1"))
    await store.flush()
    assert store.pending_writes == 0
    assert count(store.path, "events") == 5000  # seen by another connection: committed
    assert count(store.path, "runs") == 1
    await store.close()


async def test_writes_from_other_threads(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    await store.open()

    def writer(n: int) -> None:
        for seq in range(1, 501):
            store.append_event(line(f"h1-{n}", seq, f"{n}:{seq}"))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    await store.flush()
    assert count(store.path, "events") == 2000
    assert await store.node_log("h1-3", "a") == [f"3:{seq}" for seq in range(1, 501)]
    await store.close()


@contextlib.contextmanager
def write_locked(db_path: Path) -> Iterator[None]:
    """Another connection holds the database's write lock."""
    other = sqlite3.connect(db_path, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        yield
        other.execute("ROLLBACK")
    finally:
        other.close()


async def test_repeated_puts_coalesce_while_the_writer_is_busy(tmp_path: Path) -> None:
    store = LocalStore(tmp_path, busy_timeout=0.02, retry_max=0.05, flush_timeout=None)
    await store.open()
    with write_locked(store.path):
        for i in range(1000):
            store.put_run(run("h1-1", "active", step=i))
            store.put_kv("counter", i)
        assert store.pending_writes <= 4  # at most one run and one key in each of two batches
        assert await store.get_run("h1-1") == run("h1-1", "active", step=999)
    await store.flush()
    assert await store.get_run("h1-1") == run("h1-1", "active", step=999)
    assert await store.get_kv("counter") == 999
    await store.close()


async def test_locked_database_keeps_records_and_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="floe.store.local")
    store = LocalStore(tmp_path, flush_timeout=0.3, busy_timeout=0.02, retry_max=0.05)
    await store.open()
    store.put_run(run("h1-0", created=0.0))
    await store.flush()
    with write_locked(store.path):
        for i in range(1, 101):
            store.put_run(run(f"h1-{i}", created=float(i)))
            store.append_event(line(f"h1-{i}", 1, f"line {i}"))
        with pytest.raises(StoreError, match="failing"):
            await store.flush()
        assert isinstance(store.write_error, sqlite3.OperationalError)
        assert store.pending_writes == 200
        # the host keeps serving: reads see the buffered records
        assert len(await store.list_runs(phase="archive")) == 101
        assert await store.node_log("h1-50", "a") == ["line 50"]
        store.put_run(run("h1-101", created=101.0))
    await store.flush()  # the lock is gone: the retries succeed
    assert store.write_error is None and store.pending_writes == 0
    assert count(store.path, "runs") == 102 and count(store.path, "events") == 100
    messages = [r.getMessage() for r in caplog.records if r.name == "floe.store.local"]
    assert any("keeping them and retrying" in m for m in messages)
    assert any("recovered" in m for m in messages)
    await store.close()


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs; skipped where mounting is not permitted."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True, text=True
        )
    except FileNotFoundError:
        pytest.skip("no mount command")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        if subprocess.run(["umount", str(mnt)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], check=True)


def fill(path: Path) -> None:
    """Take every free byte of the file system `path` is on."""
    block = b"\0" * 4096
    with open(path, "wb", buffering=0) as f, contextlib.suppress(OSError):
        while True:
            f.write(block)


async def test_full_disk_keeps_records_and_recovers(tiny_disk: Path) -> None:
    store = LocalStore(tiny_disk / "store", flush_timeout=0.3, retry_max=0.05)
    await store.open()
    store.put_run(run("h1-0", created=0.0))
    await store.flush()
    filler = tiny_disk / "filler"
    fill(filler)
    big = "x" * 2000
    for i in range(1, 201):
        store.put_run(run(f"h1-{i}", created=float(i), blob=big))
        store.append_event(line(f"h1-{i}", 1, f"line {i}"))
    with pytest.raises(StoreError, match="full"):
        await store.flush()
    assert len(await store.list_runs(phase="archive")) == 201
    filler.unlink()
    await store.flush()
    assert store.write_error is None
    await store.close()
    assert integrity(store.path) == "ok"
    assert count(store.path, "runs") == 201 and count(store.path, "events") == 200
    again = LocalStore(tiny_disk / "store")
    await again.open()
    got = await again.get_run("h1-200")
    assert got is not None and got["blob"] == big
    await again.close()


async def test_reads_run_alongside_a_stream_of_writes(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    await store.open()
    total = 3000

    async def produce() -> None:
        for seq in range(1, total + 1):
            store.append_event(line("h1-1", seq, str(seq)))
            if seq % 100 == 0:
                await asyncio.sleep(0)  # let the readers in

    async def read_until_complete() -> int:
        reads = 0
        while True:
            lines = await store.node_log("h1-1", "a")
            assert lines == [str(i) for i in range(1, len(lines) + 1)]  # always an in-order prefix
            reads += 1
            if len(lines) == total:
                return reads

    readers = [asyncio.create_task(read_until_complete()) for _ in range(8)]
    await produce()
    assert all(reads >= 1 for reads in await asyncio.gather(*readers))
    await store.close()


async def test_close_while_writes_fail_gives_up_loudly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = LocalStore(tmp_path, flush_timeout=0.2, busy_timeout=0.02, retry_max=0.05)
    await store.open()
    with write_locked(store.path):
        store.put_run(run("h1-1"))
        with pytest.raises(StoreError, match="closed with 1 unwritten records: database is locked"):
            await store.close()
    assert any("giving up on 1 unwritten records" in r.getMessage() for r in caplog.records)
    assert not [t for t in threading.enumerate() if t.name == "floe-store-writer"]
    again = LocalStore(tmp_path)
    await again.open()
    assert await again.get_run("h1-1") is None
    await again.close()


async def test_a_cancelled_flush_leaves_the_store_working(tmp_path: Path) -> None:
    store = LocalStore(tmp_path, busy_timeout=0.02, retry_max=0.05)
    await store.open()
    with write_locked(store.path):
        store.put_run(run("h1-1"))
        waiting = asyncio.create_task(store.flush())
        await asyncio.sleep(0)  # let it start waiting
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
    store.put_run(run("h1-2", created=2.0))
    await store.flush()
    assert count(store.path, "runs") == 2
    await store.close()


async def test_a_new_store_never_reads_the_wal_of_a_database_moved_away(tmp_path: Path) -> None:
    root = tmp_path / "store"
    old = LocalStore(root)
    await old.open()
    for i in range(20):
        old.put_run(run(f"h1-{i}", created=float(i)))
    await old.flush()
    wal = (root / "floe.db-wal").read_bytes()  # the old database's last commits, not checkpointed
    await old.close()
    (root / "floe.db").rename(tmp_path / "moved-away.db")  # as the damaged-store message says
    (root / "floe.db-wal").write_bytes(wal)  # but its WAL is left behind
    new = LocalStore(root)
    await new.open()
    assert await new.list_runs(phase="archive") == []
    new.put_run(run("h1-1"))
    await new.flush()
    await new.close()
    with contextlib.closing(sqlite3.connect(root / "floe.db")) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("SELECT run_id FROM runs").fetchall() == [("h1-1",)]
    assert [p.name.startswith("floe.db-wal.orphan-") for p in root.iterdir() if "orphan" in p.name] == [True]


async def test_delete_run_is_durable_and_frees_its_rows(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    await store.open()
    for i in range(1, 4):
        store.put_run(run(f"h1-{i}", created=float(i)))
        for seq in range(1, 6):
            store.append_event(line(f"h1-{i}", seq, f"out {i}.{seq}"))
    await store.delete_run("h1-2")  # in the same batch as its puts
    await store.flush()
    await store.delete_run("h1-3")  # committed before
    await store.close()
    assert count(store.path, "runs") == 1 and count(store.path, "events") == 5
    again = LocalStore(tmp_path / "store")
    await again.open()
    try:
        assert [d["run_id"] for d in await again.list_runs(phase="archive")] == ["h1-1"]
        assert await again.events("h1-3") == []
    finally:
        await again.close()
