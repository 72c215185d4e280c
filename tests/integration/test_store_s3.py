"""S3Store against a real moto_server: uploads read back by another host, paging, outages and restarts."""

from __future__ import annotations

import asyncio
import hashlib
import random
import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import boto3.session
import pytest
from botocore.config import Config

from floe.store import s3_layout as lay
from floe.store.errors import StoreError
from floe.store.local import LocalStore
from floe.store.open import open_store
from floe.store.s3 import S3Store
from tests.support.moto import MotoServer, aws_test_env, running_moto

pytestmark = pytest.mark.s3

BUCKET = "floe-archive"
PREFIX = "ci/floe"
Make = Callable[..., Awaitable[S3Store]]


def run(
    run_id: str, created: float, phase: str = "archive", flow: str = "build", **extra: Any
) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "flow": flow,
        "phase": phase,
        "created": created,
        "status": "good" if phase == "archive" else "running",
        "nodes": [{"id": "a", "status": "good"}],
        **extra,
    }


def line(run_id: str, seq: int, text: str, node: str = "a") -> dict[str, Any]:
    return {
        "run_id": run_id,
        "seq": seq,
        "source_node": node,
        "tag": "sys.node.update",
        "opts": {"line": text},
    }


def finish(store: S3Store, run_id: str, created: float, lines: int = 3, flow: str = "build") -> None:
    """What the hub does for a run: events as it goes, then the archived document."""
    store.put_run(run(run_id, created, phase="active", flow=flow))
    for i in range(1, lines + 1):
        store.append_event(line(run_id, i, f"{run_id} line {i} ✓"))
    store.append_event(
        {"run_id": run_id, "seq": lines + 1, "source_node": "b", "tag": "task.b.good", "opts": {}}
    )
    store.put_run(run(run_id, created, flow=flow))


def s3_client(endpoint: str) -> Any:
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", config=Config(s3={"addressing_style": "path"})
    )


def keys(endpoint: str, bucket: str = BUCKET) -> list[str]:
    listed = s3_client(endpoint).list_objects_v2(Bucket=bucket)
    return sorted(str(o["Key"]) for o in listed.get("Contents", ()))


@pytest.fixture(scope="module")
def moto_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MotoServer]:
    """One moto server for the module's ordinary tests."""
    with running_moto(tmp_path_factory.mktemp("moto")) as server:
        yield server


@pytest.fixture
def moto_endpoint(moto_module: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """The module's moto endpoint, emptied for this test, with fake AWS credentials."""
    aws_test_env(monkeypatch, tmp_path)
    moto_module.reset()
    return moto_module.endpoint


@pytest.fixture
async def stores(tmp_path: Path) -> AsyncIterator[Make]:
    """`await make(name, endpoint, **options)`: an open S3Store with its own local root (a host)."""
    made: list[S3Store] = []

    async def make(name: str, endpoint: str, **kw: Any) -> S3Store:
        kw.setdefault("bucket", BUCKET)
        kw.setdefault("prefix", PREFIX)
        store = S3Store(LocalStore(tmp_path / name), endpoint=endpoint, region="us-east-1", **kw)
        await store.open()
        made.append(store)
        return store

    yield make
    for store in made:
        await store.close()


# ---- layout -------------------------------------------------------------------------------------


def test_created_keys_sort_newest_first_and_are_exact() -> None:
    rng = random.Random(7)
    base = 1_763_900_000.0
    values = [base + i * 1e-4 for i in range(50)]  # many inside one millisecond
    values += [rng.uniform(-1e12, 1e12) for _ in range(200)] + [0.0, 1.0, 1e-300, -1.5, 4e18]
    for v in values:
        assert lay.created_from_key(lay.created_key(v)) == v
        assert len(lay.created_key(v)) == 16
    ordered = sorted(values, key=lay.created_key)
    assert ordered == sorted(values, reverse=True)
    key = lay.run_key("p/", "build/x", base, "h1-7")
    assert key.startswith("p/runs/build%2Fx/") and key.endswith("-h1-7.json")
    item = lay.parse_run_key(key, lay.runs_dir("p/", "build/x"))
    assert item is not None and (item.created, item.run_id) == (base, "h1-7")
    assert lay.parse_run_key("p/runs/build%2Fx/nonsense.json", "p/runs/build%2Fx/") is None
    assert [lay.normalize_prefix(p) for p in ("", "/a", "a/", "a/b//")] == ["", "a/", "a/", "a/b/"]


async def test_open_store_makes_an_s3_store(tmp_path: Path) -> None:
    store = open_store(
        "s3", tmp_path, bucket="b", prefix="x", endpoint="http://127.0.0.1:9", region="eu-west-1"
    )
    assert isinstance(store, S3Store)
    assert (store.bucket, store.prefix, store.endpoint, store.region) == (
        "b",
        "x/",
        "http://127.0.0.1:9",
        "eu-west-1",
    )
    assert isinstance(store.local, LocalStore) and store.local.root == tmp_path
    with pytest.raises(ValueError, match="bucket"):
        open_store("s3", tmp_path)


# ---- archive and read back from another host ----------------------------------------------------


async def test_archived_run_is_read_back_by_another_host(moto_endpoint: str, stores: Make) -> None:
    a = await stores("a", moto_endpoint)
    b = await stores("b", moto_endpoint)
    a.put_run(run("h1-1", 100.0, phase="pending"))
    a.put_run(run("h1-1", 100.0, phase="active"))
    assert a.pending_uploads == 0  # only archived runs go to S3
    finish(a, "h1-1", 100.0, lines=3)
    assert a.pending_uploads == 1
    await a.flush()  # the local flush never waits on S3
    await a.flush_s3(30)
    assert a.pending_uploads == 0 and a.upload_error is None

    assert keys(moto_endpoint) == [
        "ci/floe/index/h1-1.json",
        "ci/floe/logs/h1-1.json.gz",
        f"ci/floe/runs/build/{lay.created_key(100.0)}-h1-1.json",
    ]
    want = await a.get_run("h1-1")
    assert want is not None and want["phase"] == "archive"
    assert await b.local.get_run("h1-1") is None  # b has it only through S3
    assert await b.get_run("h1-1") == want
    assert await b.events("h1-1") == await a.events("h1-1")
    assert [e["seq"] for e in await b.events("h1-1", after_seq=2)] == [3, 4]
    assert await b.node_log("h1-1", "a") == [f"h1-1 line {i} ✓" for i in (1, 2, 3)]
    assert await b.node_log("h1-1", "b") == []
    assert await b.list_runs(phase="archive", flow="build") == [want]
    assert await b.list_runs(phase="active") == []  # working state stays per host
    # unknown runs are simply absent
    assert await b.get_run("h9-9") is None
    assert await b.events("h9-9") == []
    assert await b.node_log("h9-9", "a") == []
    # reads return fresh copies, also from the cache
    got = await b.get_run("h1-1")
    assert got is not None
    got["status"] = "changed"
    assert await b.get_run("h1-1") == want


async def test_delete_run_removes_the_s3_objects_too(moto_endpoint: str, stores: Make) -> None:
    a = await stores("a", moto_endpoint)
    b = await stores("b", moto_endpoint)
    finish(a, "h1-1", 100.0)
    finish(a, "h1-2", 200.0)
    await a.flush_s3(30)
    assert await b.get_run("h1-1") is not None  # b caches it
    await a.delete_run("h1-1")
    assert keys(moto_endpoint) == [
        "ci/floe/index/h1-2.json",
        "ci/floe/logs/h1-2.json.gz",
        f"ci/floe/runs/build/{lay.created_key(200.0)}-h1-2.json",
    ]
    assert await a.get_run("h1-1") is None and await a.events("h1-1") == []
    assert [d["run_id"] for d in await a.list_runs(phase="archive")] == ["h1-2"]
    assert [d["run_id"] for d in await b.list_runs(phase="archive")] == ["h1-2"]
    finish(a, "h1-3", 300.0)  # queued, not yet uploaded: deleted before it ever is
    await a.delete_run("h1-3")
    assert a.pending_uploads == 0
    await a.flush_s3(30)
    assert not [k for k in keys(moto_endpoint) if "h1-3" in k]


async def test_artifacts_are_shared_checked_replaced_and_deleted_with_the_run(
    moto_endpoint: str, stores: Make, tmp_path: Path
) -> None:
    a = await stores("a", moto_endpoint)
    b = await stores("b", moto_endpoint)
    folder = tmp_path / "kept"

    def keep(files: dict[str, bytes]) -> list[dict[str, Any]]:
        """What the runner does: the files under `folder`, and their records."""
        for rel, data in files.items():
            (folder / rel).parent.mkdir(parents=True, exist_ok=True)
            (folder / rel).write_bytes(data)
        return [
            {"path": p, "size": len(d), "sha256": hashlib.sha256(d).hexdigest()} for p, d in files.items()
        ]

    async def read(store: S3Store, record: dict[str, Any]) -> bytes | None:
        found = await store.artifacts.get("h1-1", "build", record)
        return None if found is None else b"".join([c async for c in found.chunks()])

    first = keep({"dist/a b.tgz": b"first attempt", "old.txt": b"only in the first attempt"})
    await a.artifacts.put("h1-1", "build", folder, first)
    assert await read(b, first[0]) == b"first attempt"  # another host reads it from the bucket
    assert await read(b, {**first[0], "sha256": "0" * 64}) is None  # not the file the run recorded
    shutil.rmtree(folder)
    second = keep({"dist/a b.tgz": b"second attempt, a retry"})
    await a.artifacts.put("h1-1", "build", folder, second)  # replaces the first attempt's files
    assert await read(b, second[0]) == b"second attempt, a retry"
    assert await read(b, first[0]) is None and await read(b, first[1]) is None
    assert [k for k in keys(moto_endpoint) if "/artifacts/" in k] == [
        "ci/floe/artifacts/h1-1/build/dist/a%20b.tgz"
    ]
    finish(a, "h1-1", 100.0)
    await a.flush_s3(30)
    await a.delete_run("h1-1")  # retention: the run's files go with it
    assert keys(moto_endpoint) == []


async def test_archived_again_or_from_another_thread_uploads_the_latest(
    moto_endpoint: str, stores: Make
) -> None:
    a = await stores("a", moto_endpoint)
    b = await stores("b", moto_endpoint)
    finish(a, "h1-1", 5.0)
    a.put_run(run("h1-1", 5.0, status="bad", reason="re-archived"))
    await asyncio.to_thread(a.put_run, run("h1-2", 6.0))  # the uploader is woken across threads
    await a.flush_s3(30)
    assert a.pending_uploads == 0
    got = await b.get_run("h1-1")
    assert got is not None and (got["status"], got["reason"]) == ("bad", "re-archived")
    listed = await b.list_runs(phase="archive", flow="build")
    assert [(d["run_id"], d["status"]) for d in listed] == [("h1-2", "good"), ("h1-1", "bad")]
    await a.flush_s3(0)  # nothing queued: returns at once, even with no time to wait


async def test_list_runs_pages_across_hosts(moto_endpoint: str, stores: Make) -> None:
    a = await stores("a", moto_endpoint)
    b = await stores("b", moto_endpoint)
    base = 1_763_900_000.0
    created: dict[str, float] = {}
    for i in range(24):
        host, store = ("h1", a) if i % 2 else ("h2", b)
        run_id = f"{host}-{i}"
        created[run_id] = base + i // 3 + (i % 3) * 1e-4  # triples inside one millisecond
        finish(store, run_id, created[run_id], lines=1)
    for i in range(3):
        finish(a, f"h1-other-{i}", base + i, lines=1, flow="other")
    # a run archived in a's local store only (as if not uploaded yet) is merged in
    a.local.put_run(run("h1-local", base + 100))
    created["h1-local"] = base + 100
    await a.flush_s3(30)
    await b.flush_s3(30)
    c = await stores("c", moto_endpoint)  # a third host that archived nothing

    want = sorted(created, key=created.__getitem__, reverse=True)
    assert [d["run_id"] for d in await a.list_runs(phase="archive", flow="build")] == want
    assert [d["run_id"] for d in await c.list_runs(phase="archive", flow="build")] == want[1:]
    for store, expect in ((a, want), (c, want[1:])):
        seen: list[str] = []
        before: float | None = None
        while page := await store.list_runs(phase="archive", flow="build", limit=5, before=before):
            assert len(page) <= 5
            seen += [d["run_id"] for d in page]
            before = page[-1]["created"]
        assert seen == expect
    assert await c.list_runs(phase="archive", flow="build", limit=0) == []
    newest = await c.list_runs(phase="archive", flow="build", limit=2, before=created["h2-12"])
    assert [d["run_id"] for d in newest] == ["h1-11", "h2-10"]
    others = await c.list_runs(phase="archive", flow="other")
    assert [d["run_id"] for d in others] == ["h1-other-2", "h1-other-1", "h1-other-0"]
    everything = await c.list_runs(phase="archive", limit=4)  # every flow: one listing per flow
    assert [d["run_id"] for d in everything] == ["h1-23", "h2-22", "h1-21", "h2-20"]
    assert len(await c.list_runs(phase="archive")) == 24 + 3


# ---- outages ------------------------------------------------------------------------------------


FAST = {"timeout": 0.5, "read_deadline": 2.0, "retry_max": 0.5, "cooldown": 0.0, "close_drain": 0.5}


async def test_s3_outage_delays_archiving_and_loses_nothing(moto: MotoServer, stores: Make) -> None:
    a = await stores("a", moto.endpoint, **FAST)
    b = await stores("b", moto.endpoint, **FAST)
    finish(a, "h1-0", 10.0)
    await a.flush_s3(30)
    assert await b.get_run("h1-0") is not None  # the uploads worked before the outage

    moto.pause()  # a hung endpoint: connections open, nothing answers
    for i in range(1, 6):
        finish(a, f"h1-{i}", 10.0 + i)
    await a.flush()
    assert a.pending_uploads == 5
    with pytest.raises(StoreError, match="not uploaded"):
        await a.flush_s3(1.0)
    # nothing is lost locally, and a's own reads never wait on S3 for local runs
    t0 = time.monotonic()
    assert await a.get_run("h1-5") is not None
    assert len(await a.node_log("h1-5", "a")) == 3
    assert time.monotonic() - t0 < 1.0
    local_ids = [d["run_id"] for d in await a.list_runs(phase="archive", flow="build")]
    assert local_ids == [f"h1-{i}" for i in range(5, -1, -1)]  # S3 unavailable: the local archive

    # another host's reads fall back within the deadline instead of hanging
    for read in (
        b.get_run("h1-1"),
        b.events("h1-0"),
        b.list_runs(phase="archive", flow="build", limit=10),
    ):
        t0 = time.monotonic()
        assert not await read
        assert time.monotonic() - t0 < FAST["read_deadline"] + 1.5
    assert a.pending_uploads == 5

    moto.resume()
    await a.flush_s3(30)
    assert a.pending_uploads == 0 and a.upload_error is None
    ids = [d["run_id"] for d in await b.list_runs(phase="archive", flow="build")]
    assert ids == [f"h1-{i}" for i in range(5, -1, -1)]
    assert await b.node_log("h1-3", "a") == [f"h1-3 line {i} ✓" for i in (1, 2, 3)]


async def test_restart_during_outage_still_uploads(moto: MotoServer, stores: Make, tmp_path: Path) -> None:
    a = await stores("a", moto.endpoint, **FAST)
    finish(a, "h1-0", 1.0)
    await a.flush_s3(30)

    moto.pause()
    for i in range(1, 5):
        finish(a, f"h1-{i}", 1.0 + i)
    t0 = time.monotonic()
    await a.close()  # the queue is durable: close does not wait for S3
    assert time.monotonic() - t0 < 5.0
    again = await stores("a", moto.endpoint, **FAST)  # same local root: the same host restarted
    assert again.pending_uploads == 4
    assert [d["run_id"] for d in await again.local.list_runs(phase="archive")] == [
        f"h1-{i}" for i in range(4, -1, -1)
    ]

    moto.resume()
    await again.flush_s3(30)
    b = await stores("b", moto.endpoint, **FAST)
    ids = [d["run_id"] for d in await b.list_runs(phase="archive", flow="build")]
    assert ids == [f"h1-{i}" for i in range(4, -1, -1)]
    await again.close()
    third = await stores("a", moto.endpoint, **FAST)
    assert third.pending_uploads == 0  # uploaded runs left the durable queue


async def test_missing_bucket_is_created_or_reported(moto_endpoint: str, stores: Make) -> None:
    fresh = await stores("a", moto_endpoint, bucket="floe-made-here")
    finish(fresh, "h1-1", 1.0)
    await fresh.flush_s3(30)
    assert keys(moto_endpoint, "floe-made-here")

    refused = await stores("b", moto_endpoint, bucket="floe-absent", create_bucket=False, **FAST)
    finish(refused, "h2-1", 1.0)
    with pytest.raises(StoreError, match="not uploaded"):
        await refused.flush_s3(1.0)
    assert refused.pending_uploads == 1
    assert isinstance(refused.upload_error, StoreError) and "floe-absent" in str(refused.upload_error)
