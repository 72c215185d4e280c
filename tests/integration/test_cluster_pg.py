"""Cluster coordination on a real PostgreSQL: leases, atomic claims, reservations, wake-ups, takeover."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import psycopg

from floe.cluster import pg
from floe.cluster.pg import Pend
from floe.config import parse_config
from floe.hub.takeover import resolve_lost
from floe.model import run as rm
from floe.model.codec import run_doc
from floe.store.postgres import PgStore

Conn = psycopg.AsyncConnection[tuple[Any, ...]]


@asynccontextmanager
async def database(url: str) -> AsyncIterator[Callable[[], Any]]:
    """The schema made by the store, and a factory of autocommit connections to it."""
    store = PgStore(url)
    await store.open()
    await store.close()
    opened: list[Conn] = []

    async def connect() -> Conn:
        db = await psycopg.AsyncConnection.connect(url, autocommit=True)
        opened.append(db)
        return db

    try:
        yield connect
    finally:
        for db in opened:
            await db.close()


async def test_a_lease_expires_on_the_database_clock(pg_url: str) -> None:
    async with database(pg_url) as connect:
        db = await connect()
        await pg.heartbeat(db, "h1", ["linux"], 0, "http://127.0.0.1:1", 30)
        await pg.heartbeat(db, "h2", [], 0, "http://127.0.0.1:2", 0.2)
        assert await pg.live_hosts(db) == ["h1", "h2"]
        await asyncio.sleep(0.3)  # the lease of h2 runs out on the database's clock
        assert await pg.live_hosts(db) == ["h1"]
        await pg.leave(db, "h1")
        assert await pg.live_hosts(db) == []


async def test_a_pend_goes_to_the_least_busy_live_host_whose_tags_fit(pg_url: str) -> None:
    async with database(pg_url) as connect:
        db = await connect()
        for host, tags in (("h1", ["linux"]), ("h2", ["linux", "special"]), ("h3", ["linux"])):
            await pg.heartbeat(db, host, tags, 0, f"http://127.0.0.1/{host}", 30)
        await pg.add_pend(db, Pend("h1-1", "f", ("special",), created=1))
        assert await pg.claim(db, "h1") == []
        assert (await pg.pending_reasons(db))["h1-1"] == "offered to h2, the least busy host that fits"
        assert await pg.claim(db, "h2") == ["h1-1"]
        await pg.add_pend(
            db, Pend("h1-2", "f", ("linux",), created=2)
        )  # h2 is busy now: h1, h3 are least busy
        assert await pg.claim(db, "h2") == []
        assert (await pg.pending_reasons(db))["h1-2"] == "offered to h1, the least busy host that fits"
        assert await pg.claim(db, "h3") == ["h1-2"]
        await pg.add_pend(db, Pend("h1-3", "f", ("gpu",), created=3))
        for host in ("h1", "h2", "h3"):
            assert await pg.claim(db, host) == []
        assert await pg.pending_reasons(db) == {"h1-3": "no host with tags gpu"}


async def test_max_runs_caps_what_a_host_takes(pg_url: str) -> None:
    async with database(pg_url) as connect:
        db = await connect()
        await pg.heartbeat(db, "h1", [], 2, "http://127.0.0.1/h1", 30)
        for i in range(1, 5):
            await pg.add_pend(db, Pend(f"h1-{i}", "f", created=i))
        assert await pg.claim(db, "h1") == ["h1-1", "h1-2"]
        assert set((await pg.pending_reasons(db)).values()) == {"every host that fits is at its max-runs"}
        await pg.waiting_on_gate(db, "h1-1", "approve")  # a gate does not count against max-runs
        assert await pg.claim(db, "h1") == ["h1-3"]
        await pg.release(db, "h1-2")
        assert await pg.claim(db, "h1") == ["h1-4"]


async def test_concurrent_claims_start_every_run_exactly_once(pg_url: str) -> None:
    async with database(pg_url) as connect:
        hosts = [f"h{i}" for i in range(1, 6)]
        conns = {h: await connect() for h in hosts}
        for h in hosts:
            # leases outlast the test: a lease that ran out on a slow machine took its host out
            await pg.heartbeat(conns[h], h, [], 0, f"http://127.0.0.1/{h}", 3600)
        for i in range(200):
            await pg.add_pend(conns["h1"], Pend(f"h1-{i}", "f", created=float(i)))
        claimed: dict[str, list[str]] = {h: [] for h in hosts}

        async def keep_claiming(host: str) -> None:
            while got := await pg.claim(conns[host], host, limit=3):
                claimed[host] += got
                await asyncio.sleep(0)

        for _ in range(1000):  # rounds until every pend is taken (a host steps aside for a less busy one)
            await asyncio.gather(*(keep_claiming(h) for h in hosts))
            if not await pg.pending_reasons(conns["h1"]):
                break
        every = [r for runs in claimed.values() for r in runs]
        assert sorted(every) == sorted(f"h1-{i}" for i in range(200))  # none lost, none twice
        assert len(set(every)) == 200
        assert all(claimed[h] for h in hosts)  # spread, not all on one host


async def test_a_claim_in_progress_never_keeps_another_host_from_a_pend_it_leaves(pg_url: str) -> None:
    """h2's claim takes h1-1 (only h2 fits) and waits on its tag: while it waits it must not hold
    h1-2, which it has not taken. It did (every pend a claim looked at was locked FOR UPDATE until it
    committed), so h1's claim skipped h1-2 and took nothing: with five hosts claiming at once the
    least busy one kept finding its pends locked by busier ones, and pends stayed unclaimed."""
    async with database(pg_url) as connect:
        db, h1, h2, other = await connect(), await connect(), await connect(), await connect()
        await pg.heartbeat(db, "h1", [], 0, "http://127.0.0.1/h1", 3600)
        await pg.heartbeat(db, "h2", ["special"], 0, "http://127.0.0.1/h2", 3600)
        await pg.add_pend(db, Pend("h1-1", "f", ("special",), ("db",), created=1))
        await pg.add_pend(db, Pend("h1-2", "f", created=2))
        async with other.transaction():  # a claim elsewhere holds tag db, not yet committed
            await other.execute(
                "INSERT INTO placements(run_id, host_id, flow, state) VALUES('x', 'h3', 'f', 'running')"
            )
            await other.execute("INSERT INTO reservations(tag, run_id) VALUES('db', 'x')")
            busy = asyncio.ensure_future(pg.claim(h2, "h2", limit=1))
            await wait_until_blocked(db, h2.info.backend_pid)
            assert await pg.claim(h1, "h1") == ["h1-2"]
            raise psycopg.Rollback()  # that claim is undone: db is free
        assert await asyncio.wait_for(busy, 30) == ["h1-1"]
        assert await pg.pending_reasons(db) == {}


async def wait_until_blocked(db: Conn, pid: int) -> None:
    """Until the backend `pid` waits for a lock."""
    while True:
        cur = await db.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,))
        row = await cur.fetchone()
        if row is not None and row[0] == "Lock":
            return
        await asyncio.sleep(0.01)


async def test_a_resource_tag_is_held_by_one_run_at_a_time(pg_url: str) -> None:
    async with database(pg_url) as connect:
        a, b = await connect(), await connect()
        await pg.heartbeat(a, "h1", [], 0, "http://127.0.0.1/h1", 30)
        await pg.heartbeat(b, "h2", [], 0, "http://127.0.0.1/h2", 30)
        await pg.add_pend(a, Pend("h1-1", "deploy", resource_tags=("db",), created=1))
        await pg.add_pend(a, Pend("h1-2", "deploy", resource_tags=("db", "net"), created=2))
        first = [r for _ in range(5) for got in await asyncio.gather(pg.claim(a, "h1"), pg.claim(b, "h2"))
                 for r in got]  # fmt: skip
        assert first == ["h1-1"]
        assert (await pg.pending_reasons(a))["h1-2"] == "resource db held by run h1-1"
        assert [
            (t, r) for t, r in await (await a.execute("SELECT tag, run_id FROM reservations")).fetchall()
        ] == [("db", "h1-1")]
        await pg.release(a, "h1-1")
        second = [r for _ in range(5) for got in await asyncio.gather(pg.claim(a, "h1"), pg.claim(b, "h2"))
                  for r in got]  # fmt: skip
        assert second == ["h1-2"]


async def test_a_claim_counts_what_it_took_and_offers_the_rest_to_the_least_busy_host(pg_url: str) -> None:
    """h2 runs one run: h1 takes pends while it is among the least busy (its own placements of
    this claim counted), then offers the rest to h2; every wake-up comes once, on commit, in order."""
    async with database(pg_url) as connect:
        db, listener = await connect(), await connect()
        await pg.heartbeat(db, "h1", [], 0, "http://127.0.0.1/h1", 3600)
        await pg.heartbeat(db, "h2", [], 0, "http://127.0.0.1/h2", 3600)
        await db.execute(
            "INSERT INTO placements(run_id, host_id, flow, state) VALUES('x', 'h2', 'f', 'running')"
        )
        for i in range(1, 5):
            await pg.add_pend(db, Pend(f"h1-{i}", "f", created=i))
        await pg.listen(listener)
        assert await pg.claim(db, "h1") == ["h1-1", "h1-2"]
        assert await pg.pending_reasons(db) == {
            "h1-3": "offered to h2, the least busy host that fits",
            "h1-4": "offered to h2, the least busy host that fits",
        }
        await pg.release(db, "x")  # a last wake-up: none is missing before it
        notes = pg.wake_ups(listener)
        got = [await asyncio.wait_for(anext(notes), 10) for _ in range(7)]
        await notes.aclose()
        assert got == [
            "claimed h1-1 h1",
            "claimed h1-2 h1",
            "offer h1-3 h2",
            "offer h1-4 h2",
            "reason h1-3",
            "reason h1-4",
            "ended x",
        ]


async def test_a_new_pend_wakes_a_listening_host(pg_url: str) -> None:
    async with database(pg_url) as connect:
        listener, writer = await connect(), await connect()
        await pg.listen(listener)
        notes = pg.wake_ups(listener)
        first = asyncio.ensure_future(anext(notes))
        await pg.heartbeat(writer, "h1", [], 0, "http://127.0.0.1/h1", 30)
        await pg.add_pend(writer, Pend("h1-1", "f", created=1))
        assert await asyncio.wait_for(first, 10) == "pend h1-1  []"
        await notes.aclose()


async def test_a_host_whose_lease_expired_is_taken_over(pg_url: str) -> None:
    async with database(pg_url) as connect:
        db = await connect()
        await pg.heartbeat(db, "h1", [], 0, "http://127.0.0.1/h1", 30)
        await pg.heartbeat(db, "h2", [], 0, "http://127.0.0.1/h2", 30)
        await pg.add_pend(db, Pend("h1-1", "build", resource_tags=("db",), created=1))
        await pg.add_pend(db, Pend("h1-2", "approve", created=2))
        assert await pg.claim(db, "h2", limit=1) == ["h1-1"]
        assert await pg.claim(db, "h1") == ["h1-2"]
        await pg.release(db, "h1-2")
        await pg.add_pend(db, Pend("h1-3", "approve", created=3))
        await pg.heartbeat(db, "h1", [], 1, "http://127.0.0.1/h1", 30)  # h1 full: h1-3 goes to h2
        await pg.add_pend(db, Pend("h1-4", "hold", created=4))
        assert await pg.claim(db, "h1") == ["h1-3"]
        await pg.running(db, "h1-1", "build")
        await pg.heartbeat(db, "h2", [], 0, "http://127.0.0.1/h2", 0.1)  # h2's lease about to run out
        assert await pg.claim(db, "h2") == ["h1-4"]
        await pg.waiting_on_gate(db, "h1-4", "form")
        await pg.add_pend(db, Pend("h1-5", "next", resource_tags=("db",), created=5))
        assert not await pg.take_over(db, "h1")  # h2 still live
        await asyncio.sleep(0.2)
        found = await pg.take_over(db, "h1")
        assert found.hosts == ("h2",)
        assert found.lost == (
            pg.Lost("h1-1", "build", "h2", "running", "build"),
            pg.Lost("h1-4", "hold", "h2", "gate", "form"),
        )
        placed = await (
            await db.execute("SELECT run_id, host_id, state FROM placements ORDER BY run_id")
        ).fetchall()
        assert placed == [("h1-3", "h1", "running"), ("h1-4", "h1", "gate")]  # the gate moved to h1
        assert await pg.live_hosts(db) == ["h1"]
        await pg.release(db, "h1-3")
        assert await pg.claim(db, "h1") == ["h1-5"]  # h2's reservation of db was freed
        assert not await pg.take_over(db, "h1")


async def test_the_survivor_resolves_the_lost_hosts_runs_in_the_shared_store(pg_url: str) -> None:
    """h2 claimed two runs and died: h1 takes over at once when the lease expires, the running one
    ends bad naming h2 and its node, the gate moves to h1 and keeps waiting, the tag is free."""
    flow = parse_config(TAKEOVER_FLOW, "t.yml").flows[0]
    store = PgStore(pg_url)
    await store.open()
    try:
        async with database(pg_url) as connect:
            db = await connect()
            await pg.heartbeat(db, "h1", [], 0, "http://127.0.0.1/h1", 30)
            await pg.heartbeat(db, "h2", ["special"], 0, "http://127.0.0.1/h2", 0.5)
            for i, rid in enumerate(("h1-1", "h1-2")):
                await pg.add_pend(db, Pend(rid, "f", ("special",), ("db",) if i == 0 else (), created=i))
            assert sorted(await pg.claim(db, "h2")) == ["h1-1", "h1-2"]
            build = rm.activate(rm.new_pend("h1-1", flow, "go", {}, 1.0).run, "h2", 2.0)
            gate = rm.activate(rm.new_pend("h1-2", flow, "go", {}, 1.0).run, "h2", 2.0)
            gate = rm.node_done(gate.run, "build", 0, {}, "", 3.0)
            for step in (build, gate):
                store.put_run(run_doc(step.run))
            await store.flush()
            await pg.running(db, "h1-1", "build")
            await pg.waiting_on_gate(db, "h1-2", "sign")

            lost = pg.Takeover()
            while not lost:  # h1's takeover pass, until h2's lease has run out
                lost = await pg.take_over(db, "h1")
                await asyncio.sleep(0.05)
            assert await resolve_lost(store, lost, "h1", 9.0) == ["h1-1", "h1-2"]

        ended = await store.get_run("h1-1")
        assert ended is not None and ended["phase"] == "archive" and ended["status"] == "bad"
        assert ended["reason"] == "host h2 lost while build was running"
        moved = await store.get_run("h1-2")
        assert moved is not None and moved["phase"] == "active" and moved["exec_host"] == "h1"
        assert moved["status"] == "waiting"
        async with database(pg_url) as connect:
            db = await connect()
            assert await (await db.execute("SELECT count(*) FROM reservations")).fetchone() == (0,)
        assert await resolve_lost(store, lost, "h1", 10.0) == ["h1-2"]  # again: the ended run stays ended
    finally:
        await store.close()


TAKEOVER_FLOW = """
flows:
  - id: f
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - {id: build, listen: trigger.good, type: exec, opts: {cmd: "true"}}
      - {id: sign, listen: task.build.good, type: data, opts: {form: {fields: [{id: ok, type: bool}]}}}
      - {id: done, listen: task.sign.good, type: end}
"""


async def test_a_claimed_pend_made_claimable_again_is_not_claimed_twice(pg_url: str) -> None:
    """The pend's host restarting before the claimer wrote the run adds the pend again (its store
    still says pending): it must not become claimable, nor be claimed again once the run ended."""
    async with database(pg_url) as connect:
        db = await connect()
        await pg.heartbeat(db, "h1", [], 0, "http://127.0.0.1/h1", 3600)
        await pg.heartbeat(db, "h2", [], 0, "http://127.0.0.1/h2", 3600)
        await pg.add_pend(db, Pend("h1-1", "f", created=1))
        assert await pg.claim(db, "h2") == ["h1-1"]
        await pg.add_pend(db, Pend("h1-1", "f", created=1))  # h1's recovery
        assert await pg.pending_reasons(db) == {}
        assert await pg.claim(db, "h1") == []


async def test_a_pend_hosts_late_write_never_sets_a_claimed_run_back_to_pending(pg_url: str) -> None:
    """h1 keeps its pend's reason in the run document; h2 claimed the run and wrote it active
    first: h1's write, later, must not make the run read `pending` (nor an ended run active)."""
    h1, h2 = PgStore(pg_url), PgStore(pg_url)
    await h1.open()
    await h2.open()
    try:
        doc = {"run_id": "h1-1", "flow": "f", "created": 1.0}
        h1.put_run({**doc, "phase": "pending", "pending_reason": "waiting for a host to claim it"})
        await h1.flush()
        h2.put_run({**doc, "phase": "active", "status": "running"})
        await h2.flush()
        h1.put_run({**doc, "phase": "pending", "pending_reason": "offered to h2, the least busy host"})
        await h1.flush()
        async with database(pg_url) as connect:
            db = await connect()
            got = await (await db.execute("SELECT phase FROM runs WHERE run_id = 'h1-1'")).fetchall()
            assert got == [("active",)]
            h2.put_run({**doc, "phase": "archive", "status": "good"})
            await h2.flush()
            h1.put_run({**doc, "phase": "active", "status": "running"})  # a stale write of the run
            await h1.flush()
            got = await (await db.execute("SELECT phase FROM runs WHERE run_id = 'h1-1'")).fetchall()
            assert got == [("archive",)]
    finally:
        await h1.close()
        await h2.close()


async def test_a_pinned_pend_is_taken_by_its_host_only_and_says_it_waits_for_it(pg_url: str) -> None:
    """A partial re-run's pend, pinned to the host that holds its earlier run's workspace."""
    async with database(pg_url) as connect:
        db = await connect()
        for host in ("h1", "h2"):
            await pg.heartbeat(db, host, ["linux"], 0, f"http://127.0.0.1/{host}", 30)
        await pg.add_pend(db, Pend("h1-5", "f", ("linux",), created=1, pinned="h2", workspace_of="h2-4"))
        assert await pg.claim(db, "h1") == []  # h1 is as idle as h2, but it does not hold the workspace
        assert await pg.pending_reasons(db) == {"h1-5": "waiting for h2 (it holds the workspace of h2-4)"}
        await pg.leave(db, "h2")
        assert await pg.claim(db, "h1") == []
        assert await pg.pending_reasons(db) == {"h1-5": "waiting for h2 (it holds the workspace of h2-4)"}
        await pg.heartbeat(db, "h2", ["linux"], 0, "http://127.0.0.1/h2", 30)
        assert await pg.claim(db, "h2") == ["h1-5"]


async def test_a_flow_host_tag_of_any_form_is_a_tag_not_a_pin(pg_url: str) -> None:
    """A pin is kept apart from the host tags: a flow tag `@h1 x` is one more tag to have."""
    async with database(pg_url) as connect:
        db = await connect()
        await pg.heartbeat(db, "h2", ["@h1 x"], 0, "http://127.0.0.1/h2", 30)
        await pg.add_pend(db, Pend("h1-6", "f", ("@h1 x",), created=1))
        assert await pg.claim(db, "h2") == ["h1-6"]


async def test_a_claim_in_progress_does_not_hold_back_its_hosts_store_writes(pg_url: str) -> None:
    """A store batch checks its host's lease row (the fence) while that host's claim holds the
    row: the batch commits without waiting for the claim (the first task of a claimed run waits
    for its activation to be stored, and its host may be claiming again meanwhile)."""
    async with database(pg_url) as connect:
        db, blocker = await connect(), await connect()
        started = await pg.heartbeat(db, "h1", [], 0, "http://127.0.0.1/h1", 30)
        store = PgStore(pg_url)
        await store.open()
        try:
            store.fence("h1", started)
            async with blocker.transaction():
                await blocker.execute("LOCK TABLE pends IN ACCESS EXCLUSIVE MODE")
                claiming = asyncio.ensure_future(pg.claim(await connect(), "h1"))
                await _until_waiting_on_a_lock(db)  # the claim holds h1's row, and waits on pends
                store.put_kv("probe", 1)
                await asyncio.wait_for(store.flush(), 10)
                assert not claiming.done()
            assert await claiming == []
            assert (await (await db.execute("SELECT value FROM kv WHERE key = 'probe'")).fetchall()) == [
                ("1",)
            ]
        finally:
            await store.close()


async def _until_waiting_on_a_lock(db: Conn) -> None:
    """Until another session of the database waits on a lock (another process's state: polled)."""
    for _ in range(2000):
        if await (await db.execute("SELECT 1 FROM pg_locks WHERE NOT granted")).fetchall():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("no session waits on a lock")


async def test_a_pend_whose_run_is_placed_already_is_left_as_it_is(pg_url: str) -> None:
    """A claim never places a run twice nor drops the pend of a run placed elsewhere (with or
    without resource tags: two ways of taking a pend)."""
    async with database(pg_url) as connect:
        db = await connect()
        await pg.heartbeat(db, "h1", [], 0, "http://127.0.0.1/h1", 30)
        await pg.add_pend(db, Pend("h2-1", "f", created=1))
        await pg.add_pend(db, Pend("h2-2", "g", resource_tags=("db",), created=2))
        for rid in ("h2-1", "h2-2"):
            await db.execute(
                "INSERT INTO placements(run_id, host_id, flow, state) VALUES(%s, 'h2', 'f', 'running')",
                (rid,),
            )
        assert await pg.claim(db, "h1") == []
        placed = await (await db.execute("SELECT run_id, host_id FROM placements ORDER BY run_id")).fetchall()
        assert placed == [("h2-1", "h2"), ("h2-2", "h2")]
        assert sorted(await pg.pending_reasons(db)) == ["h2-1", "h2-2"]
        await db.execute("DELETE FROM placements")
        assert await pg.claim(db, "h1") == ["h2-1", "h2-2"]
        assert await pg.pending_reasons(db) == {}
        assert await pg.placed_on(db, "h2-1") == "h1"
