"""The RunStore contract, run against MemoryStore, LocalStore and PgStore (a real PostgreSQL) alike."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from floe.store.base import Doc, RunStore
from floe.store.local import LocalStore
from floe.store.memory import MemoryStore
from floe.store.open import open_store
from floe.store.postgres import PgStore


def durable(kind: str, request: pytest.FixtureRequest, root: Path) -> RunStore:
    """A new LocalStore under `root`, or a PgStore on a fresh database of the session's server."""
    if kind == "postgres":
        return PgStore(request.getfixturevalue("pg_server").database())
    return LocalStore(root)


@pytest.fixture(params=["memory", "local", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[RunStore]:
    s: RunStore = (
        MemoryStore() if request.param == "memory" else durable(request.param, request, tmp_path / "store")
    )
    await s.open()
    yield s
    await s.close()


def run(run_id: str, phase: str = "pending", flow: str = "build", created: float = 1.0, **extra: Any) -> Doc:
    return {"run_id": run_id, "flow": flow, "phase": phase, "created": created, **extra}


def event(run_id: str, seq: int, tag: str = "sys.state", node: str = "", **opts: Any) -> Doc:
    return {
        "run_id": run_id,
        "flow": "build",
        "source_node": node,
        "tag": tag,
        "good": True,
        "opts": opts,
        "seq": seq,
    }


def line(run_id: str, seq: int, node: str, text: str) -> Doc:
    return event(run_id, seq, "sys.node.update", node, line=text)


async def test_a_node_log_is_its_batches_of_lines_and_older_single_lines_in_order(store: RunStore) -> None:
    store.append_event(event("h1-1", 1, "sys.node.update", "a", lines=["in dir: /w", "$ make", ""]))
    store.append_event(line("h1-1", 2, "a", "an event stored before batches"))
    store.append_event(event("h1-1", 3, "sys.node.update", "b", lines=["other node"]))
    store.append_event(event("h1-1", 4, "sys.node.update", "a", lines=["x", "y"]))
    store.append_event(event("h1-1", 5, "sys.node.update", "a", retry=2))  # no output
    expected = ["in dir: /w", "$ make", "", "an event stored before batches", "x", "y"]
    assert await store.node_log("h1-1", "a") == expected  # buffered
    await store.flush()
    assert await store.node_log("h1-1", "a") == expected  # stored
    assert await store.node_log("h1-1", "b") == ["other node"]


async def test_put_get_replace(store: RunStore) -> None:
    assert await store.get_run("h1-1") is None
    store.put_run(run("h1-1", trigger={"branch": "main"}))
    assert await store.get_run("h1-1") == run("h1-1", trigger={"branch": "main"})
    store.put_run(run("h1-1", "active", exec_host="h2"))
    assert await store.get_run("h1-1") == run("h1-1", "active", exec_host="h2")
    await store.flush()
    assert await store.get_run("h1-1") == run("h1-1", "active", exec_host="h2")


async def test_copies_are_not_shared(store: RunStore) -> None:
    doc = run("h1-1", nodes=[{"id": "a", "status": "running"}])
    store.put_run(doc)
    doc["nodes"][0]["status"] = "changed by caller"
    doc["phase"] = "archive"
    got = await store.get_run("h1-1")
    assert got is not None and got["nodes"][0]["status"] == "running" and got["phase"] == "pending"
    got["nodes"].clear()
    again = await store.get_run("h1-1")
    assert again is not None and again["nodes"] == [{"id": "a", "status": "running"}]
    value = {"n": [1, 2]}
    store.put_kv("k", value)
    value["n"].append(3)
    assert await store.get_kv("k") == {"n": [1, 2]}
    ev = line("h1-1", 1, "a", "hello")
    store.append_event(ev)
    ev["opts"]["line"] = "mutated"
    assert await store.node_log("h1-1", "a") == ["hello"]
    (listed,) = await store.list_runs(phase="pending")
    listed["phase"] = "x"
    assert (await store.list_runs(phase="pending"))[0]["phase"] == "pending"


async def test_phases_move(store: RunStore) -> None:
    store.put_run(run("h1-1", "pending", created=1))
    store.put_run(run("h1-2", "pending", created=2))
    await store.flush()
    store.put_run(run("h1-1", "active", created=1))
    assert [r["run_id"] for r in await store.list_runs(phase="pending")] == ["h1-2"]
    assert [r["run_id"] for r in await store.list_runs(phase="active")] == ["h1-1"]
    store.put_run(run("h1-1", "archive", created=1))
    await store.flush()
    store.put_run(run("h1-2", "archive", created=2))
    assert await store.list_runs(phase="pending") == []
    assert await store.list_runs(phase="active") == []
    assert [r["run_id"] for r in await store.list_runs(phase="archive")] == ["h1-2", "h1-1"]


async def test_list_paging_before_limit_flow(store: RunStore) -> None:
    for i in range(1, 11):
        store.put_run(run(f"h1-{i}", "archive", flow="a" if i % 2 else "b", created=float(i)))
        if i == 5:
            await store.flush()  # half stored, half buffered

    def ids(docs: list[Doc]) -> list[int]:
        return [int(d["run_id"].split("-")[1]) for d in docs]

    assert ids(await store.list_runs(phase="archive")) == [10, 9, 8, 7, 6, 5, 4, 3, 2, 1]
    assert ids(await store.list_runs(phase="archive", limit=3)) == [10, 9, 8]
    assert ids(await store.list_runs(phase="archive", limit=3, before=8)) == [7, 6, 5]
    assert ids(await store.list_runs(phase="archive", limit=3, before=3)) == [2, 1]
    assert ids(await store.list_runs(phase="archive", flow="a")) == [9, 7, 5, 3, 1]
    assert ids(await store.list_runs(phase="archive", flow="b", limit=2, before=10)) == [8, 6]
    assert ids(await store.list_runs(phase="archive", flow="c")) == []
    assert await store.list_runs(phase="archive", limit=0) == []
    assert await store.list_runs(phase="pending") == []
    pages, before = [], None
    while page := await store.list_runs(phase="archive", limit=4, before=before):
        pages.append(ids(page))
        before = page[-1]["created"]
    assert pages == [[10, 9, 8, 7], [6, 5, 4, 3], [2, 1]]


async def test_events_in_order_and_after_seq(store: RunStore) -> None:
    for seq in (1, 2, 3):
        store.append_event(event("h1-1", seq, node="t"))
    await store.flush()
    for seq in (5, 4):
        store.append_event(event("h1-1", seq, node="t"))
    store.append_event(event("h1-2", 1))
    assert [e["seq"] for e in await store.events("h1-1")] == [1, 2, 3, 4, 5]
    assert [e["seq"] for e in await store.events("h1-1", after_seq=2)] == [3, 4, 5]
    assert [e["seq"] for e in await store.events("h1-1", after_seq=5)] == []
    assert await store.events("h1-1") == [event("h1-1", s, node="t") for s in (1, 2, 3, 4, 5)]
    assert await store.events("nope") == []


async def test_event_append_is_idempotent(store: RunStore) -> None:
    store.append_event(event("h1-1", 1, note="first"))
    store.append_event(event("h1-1", 1, note="second"))
    store.append_event(event("h1-1", 2, note="first"))
    await store.flush()
    store.append_event(event("h1-1", 2, note="again"))
    store.append_event(event("h1-1", 1, note="again"))
    expected = [event("h1-1", 1, note="first"), event("h1-1", 2, note="first")]
    assert await store.events("h1-1") == expected
    await store.flush()
    assert await store.events("h1-1") == expected


async def test_node_log(store: RunStore) -> None:
    store.append_event(event("h1-1", 1, "sys.node.start", "a"))
    store.append_event(line("h1-1", 2, "a", "one"))
    store.append_event(line("h1-1", 3, "b", "other node"))
    store.append_event(line("h1-1", 4, "a", "two"))
    await store.flush()
    store.append_event(event("h1-1", 5, "sys.node.update", "a", progress=5))  # no line
    store.append_event(line("h1-1", 6, "a", "thrée ✓"))
    store.append_event(event("h1-1", 7, "task.a.good", "a", line="not an update"))
    store.append_event(line("h1-2", 1, "a", "other run"))
    assert await store.node_log("h1-1", "a") == ["one", "two", "thrée ✓"]
    assert await store.node_log("h1-1", "b") == ["other node"]
    assert await store.node_log("h1-1", "c") == []
    await store.flush()
    assert await store.node_log("h1-1", "a") == ["one", "two", "thrée ✓"]


async def test_kv(store: RunStore) -> None:
    assert await store.get_kv("counter") is None
    store.put_kv("counter", 7)
    store.put_kv("refs/build/poll", {"hashes": {"main": "abc"}})
    store.put_kv("list", [1, "two", None])
    assert await store.get_kv("counter") == 7
    await store.flush()
    store.put_kv("counter", 8)
    assert await store.get_kv("counter") == 8
    assert await store.get_kv("refs/build/poll") == {"hashes": {"main": "abc"}}
    assert await store.get_kv("list") == [1, "two", None]


async def test_reads_see_unflushed_writes_over_flushed_state(store: RunStore) -> None:
    store.put_run(run("h1-1", "active", created=5))
    store.put_kv("k", "old")
    await store.flush()
    store.put_run(run("h1-1", "archive", created=5, result="good"))
    store.put_kv("k", "new")
    store.append_event(line("h1-1", 1, "a", "x"))
    assert await store.list_runs(phase="active") == []
    assert await store.list_runs(phase="archive") == [run("h1-1", "archive", created=5, result="good")]
    assert await store.get_run("h1-1") == run("h1-1", "archive", created=5, result="good")
    assert await store.get_kv("k") == "new"
    assert await store.node_log("h1-1", "a") == ["x"]


async def test_bad_documents_are_refused_at_the_call(store: RunStore) -> None:
    with pytest.raises(ValueError, match="run_id"):
        store.put_run({"flow": "f", "phase": "pending", "created": 1.0})
    with pytest.raises(ValueError, match="phase"):
        store.put_run(run("h1-1", "running"))
    with pytest.raises(ValueError, match="created"):
        store.put_run(run("h1-1", created="yesterday"))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seq"):
        store.append_event({"run_id": "h1-1", "tag": "sys.state"})
    with pytest.raises(TypeError):
        store.put_run(run("h1-1", blob=object()))
    with pytest.raises(TypeError):
        store.put_kv("k", {1, 2})
    assert await store.get_run("h1-1") is None
    assert await store.get_kv("k") is None


@pytest.mark.parametrize("kind", ["local", "postgres"])
async def test_matches_memory_store_under_random_operations(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """LocalStore (buffer over SQLite) and PgStore read exactly what MemoryStore reads, flushed or not."""
    for seed in range(4):
        rnd = random.Random(seed)
        model, local = MemoryStore(), durable(kind, request, tmp_path / f"s{seed}")
        await local.open()
        try:
            await _random_operations(model, local, rnd)
        finally:
            await local.close()


PHASES = ["pending", "active", "archive"]


async def _random_operations(model: RunStore, local: RunStore, rnd: random.Random) -> None:
    # a run's phase only moves on, as the hub moves it (the shared database refuses a move back)
    reached: dict[str, int] = {}
    for step in range(400):
        op = rnd.random()
        rid = f"h1-{rnd.randrange(12)}"
        if op < 0.35:
            reached[rid] = rnd.randrange(reached.get(rid, 0), len(PHASES))
            doc = run(
                rid,
                PHASES[reached[rid]],
                rnd.choice("ab"),
                rnd.randrange(50),
                n=step,
            )
            model.put_run(doc)
            local.put_run(doc)
        elif op < 0.75:
            ev = line(rid, rnd.randrange(1, 30), rnd.choice("xy"), f"line {step}")
            model.append_event(ev)
            local.append_event(ev)
        elif op < 0.85:
            model.put_kv(rid, step)
            local.put_kv(rid, step)
        elif op < 0.9:
            await local.flush()
        else:
            await _same_reads(model, local, rnd)
    await _same_reads(model, local, rnd)


async def _same_reads(a: RunStore, b: RunStore, rnd: random.Random) -> None:
    for phase in ("pending", "active", "archive"):
        flow, limit, before = rnd.choice([None, "a"]), rnd.choice([None, 3]), rnd.choice([None, 25.0])
        got_a = await a.list_runs(phase=phase, flow=flow, limit=limit, before=before)
        got_b = await b.list_runs(phase=phase, flow=flow, limit=limit, before=before)
        # equal `created` may come in any order: compare the created sequence and the set of docs
        assert [d["created"] for d in got_a] == [d["created"] for d in got_b]
        if limit is None:
            assert sorted(got_a, key=repr) == sorted(got_b, key=repr)
    for i in range(12):
        rid = f"h1-{i}"
        assert await a.get_run(rid) == await b.get_run(rid)
        assert await a.events(rid) == await b.events(rid)
        assert await a.events(rid, after_seq=10) == await b.events(rid, after_seq=10)
        assert await a.node_log(rid, "x") == await b.node_log(rid, "x")
        assert await a.get_kv(rid) == await b.get_kv(rid)


def test_open_store_factory(tmp_path: Path) -> None:
    assert isinstance(open_store("memory", tmp_path), MemoryStore)
    local = open_store("local", tmp_path / "s")
    assert isinstance(local, LocalStore) and local.path == tmp_path / "s" / "floe.db"
    with pytest.raises(ValueError, match="unknown store type s3x"):
        open_store("s3x", tmp_path)


async def test_delete_run_removes_the_document_events_and_log_only(store: RunStore) -> None:
    for i in (1, 2):
        store.put_run(run(f"h1-{i}", phase="archive", created=float(i)))
        store.append_event(event(f"h1-{i}", 1, "sys.node.update", "a", line=f"out {i}"))
    await store.flush()
    store.put_run(run("h1-3", phase="archive", created=3.0))  # still buffered in the local store
    await store.delete_run("h1-1")
    await store.delete_run("h1-3")
    await store.delete_run("h9-9")  # not stored: no error
    assert await store.get_run("h1-1") is None and await store.get_run("h1-3") is None
    assert await store.events("h1-1") == [] and await store.node_log("h1-1", "a") == []
    assert [d["run_id"] for d in await store.list_runs(phase="archive")] == ["h1-2"]
    assert await store.node_log("h1-2", "a") == ["out 2"]
    store.put_run(run("h1-1", phase="archive", created=1.0))  # a put after the delete wins
    assert [d["run_id"] for d in await store.list_runs(phase="archive")] == ["h1-2", "h1-1"]
