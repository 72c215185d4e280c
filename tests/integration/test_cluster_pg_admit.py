"""Admissions counted across the cluster on a real PostgreSQL: what counts as a flow's live run
(stored or only admitted, once), what frees it, and admissions racing on many connections."""

from __future__ import annotations

import asyncio

import pytest

from floe.cluster import pg
from floe.cluster.pg_admit import admit_run, forget, forget_unstored
from floe.config import parse_config
from floe.model.flow import Flow
from floe.store.errors import StoreError
from tests.integration.test_cluster_pg import database

FLOWS: dict[str, Flow] = {
    f.id: f
    for f in parse_config(
        """
flows:
  - id: three
    triggers: [{id: go, type: data}]
    policies: [{name: few, max-concurrent: 3}]
    tasks: [{id: a, listen: trigger.good, type: exec, opts: {cmd: "true"}}]
  - id: rated
    triggers: [{id: go, type: data}]
    policies: [{name: slowly, rate: 2/hour}]
    tasks: [{id: a, listen: trigger.good, type: exec, opts: {cmd: "true"}}]
""",
        "t.yml",
    ).flows
}


async def test_a_flows_live_runs_count_once_stored_or_not_and_free_by_their_end_or_host(pg_url: str) -> None:
    async with database(pg_url) as connect:
        db = await connect()
        for host in ("h1", "h2"):
            await pg.heartbeat(db, host, [], 0, f"http://127.0.0.1/{host}", 30)

        async def admit(host: str, run_id: str) -> str:
            no = await admit_run(db, host, run_id, FLOWS["three"], "go", {})
            return no.message if no else ""

        async def store(run_id: str, phase: str) -> None:
            await db.execute(
                "INSERT INTO runs(run_id, flow, phase, created, doc) VALUES(%s, 'three', %s, 0, '{}')"
                " ON CONFLICT(run_id) DO UPDATE SET phase = excluded.phase",
                (run_id, phase),
            )

        full = "at most 3 concurrent runs of three"
        assert [await admit("h1", "h1-1"), await admit("h2", "h2-1")] == ["", ""]
        await store("h1-1", "pending")  # stored: counted by its row, not twice
        assert await admit("h1", "h1-2") == ""
        assert await admit("h2", "h2-2") == full
        await store("h1-1", "active")
        assert await admit("h2", "h2-2") == full
        await store("h1-1", "archive")  # it ended: its place is free
        assert await admit("h2", "h2-2") == ""
        assert await admit("h1", "h1-3") == full
        await db.execute("DELETE FROM hosts WHERE host_id = 'h2'")  # taken over: h2 never stores them
        assert await admit("h1", "h1-3") == ""
        await pg.heartbeat(db, "h2", [], 0, "http://127.0.0.1/h2", 30)  # h2 again, a new lease
        assert await admit("h2", "h2-3") == ""  # its earlier admissions stay free
        assert await admit("h2", "h2-4") == full
        await forget(db, "h2-3")  # its answer was lost: that run was not made
        assert await admit("h2", "h2-4") == ""
        await forget_unstored(db, "h1")  # h1 restarted: h1-2 and h1-3 were never stored
        assert await admit("h1", "h1-4") == ""
        assert sorted(r for (r,) in await (await db.execute("SELECT run_id FROM admissions")).fetchall()) == [
            "h1-4",
            "h2-4",
        ]


async def test_admissions_at_once_on_many_connections_admit_exactly_the_limit(pg_url: str) -> None:
    async with database(pg_url) as connect:
        db = await connect()
        await pg.heartbeat(db, "h1", [], 0, "http://127.0.0.1/h1", 30)
        conns = [await connect() for _ in range(10)]
        got = await asyncio.gather(
            *(admit_run(c, "h1", f"h1-{i}", FLOWS["three"], "go", {}) for i, c in enumerate(conns))
        )
        assert sum(1 for no in got if no is None) == 3
        assert {no.message for no in got if no is not None} == {"at most 3 concurrent runs of three"}


async def test_a_rate_is_a_bucket_row_and_a_host_without_a_lease_admits_nothing(pg_url: str) -> None:
    async with database(pg_url) as connect:
        db = await connect()
        await pg.heartbeat(db, "h1", [], 0, "http://127.0.0.1/h1", 30)
        got = [await admit_run(db, "h1", f"h1-{i}", FLOWS["rated"], "go", {}) for i in range(3)]
        assert got[:2] == [None, None] and got[2] is not None
        assert got[2].message.startswith("rate limit: try again in ")
        (tokens,) = await (
            await db.execute("SELECT tokens FROM buckets WHERE flow = 'rated'")
        ).fetchone() or (9,)
        assert 0 <= tokens < 1
        with pytest.raises(StoreError, match="host h2 holds no lease"):
            await admit_run(db, "h2", "h2-1", FLOWS["three"], "go", {})
