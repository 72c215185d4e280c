"""The PostgreSQL cluster's benchmarks: a server started as the tests start theirs, a big archive
copied straight into it, and a host on that database answering run-list pages."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path
from typing import Any

import psycopg

from benchmarks import flows
from benchmarks.archive import finished_run
from benchmarks.host import BASE, Host
from benchmarks.stats import ms, summary_ms
from floe.config import load_config
from floe.model.codec import run_doc
from floe.store.postgres import PgStore
from floe.store.rows import run_row
from tests.support.postgres import running_postgres

COPY = "COPY runs(run_id, flow, phase, created, doc) FROM STDIN"


def _fill(url: str, conf: Path, flow_id: str, runs: int) -> dict[str, Any]:
    """Copy `runs` archived runs of `flow_id` (h1-1 … h1-N, one a second, 1 in 10 bad) into the
    database and set h1's run counter past them."""
    flow = load_config(str(conf)).flow(flow_id, None)
    assert flow is not None, flow_id
    first = time.time() - runs - 3600
    t0 = time.perf_counter()
    with psycopg.connect(url) as db, db.cursor() as cur:
        with cur.copy(COPY) as copy:
            for i in range(1, runs + 1):
                row = run_row(run_doc(finished_run(flow, f"h1-{i}", first + i, i % 10 != 0)))
                copy.write_row((row.run_id, row.flow, row.phase, row.created, row.doc))
        cur.execute("INSERT INTO kv(key, value) VALUES('counter/h1', %s)", (str(runs),))
        db.commit()
        cur.execute("ANALYZE runs")
        size = cur.execute("SELECT pg_total_relation_size('runs')").fetchone()
    t1 = time.perf_counter()
    return {
        "write_seconds": round(t1 - t0, 2),
        "runs_written_per_s": round(runs / (t1 - t0)),
        "table_mib": round(int(size[0] if size else 0) / 2**20, 1),
        "created_first": first,
    }


async def pg_archive(root: Path, runs: int, pages: int) -> dict[str, Any]:
    """`runs` archived runs in PostgreSQL; a host on that database; `pages` newest and deep pages."""
    yaml = flows.shell_task("hist", "echo build; echo test")
    with running_postgres() as server:
        url = server.database()
        host = Host(root, yaml, store_url=url)
        store = PgStore(url)  # creates the schema, as a host's first start does
        await store.open()
        await store.close()
        fill = await asyncio.to_thread(_fill, url, host.conf, "hist", runs)
        async with host:
            first_t = time.perf_counter()
            first = (await host.http.get(f"{BASE}/flows/hist/runs?limit=50")).json()
            first_page = time.perf_counter() - first_t
            assert len(first["archive"]) == 50, first
            newest, oldest = fill["created_first"] + runs, fill["created_first"]
            rnd = random.Random(7)
            top: list[float] = []
            deep: list[float] = []
            for _ in range(pages):
                t = time.perf_counter()
                r = await host.http.get(f"{BASE}/flows/hist/runs?limit=50")
                top.append(time.perf_counter() - t)
                assert r.status_code == 200 and len(r.json()["archive"]) == 50, r.text[:300]
                before = oldest + 51 + (newest - oldest) * rnd.uniform(0, 0.1)  # the oldest tenth
                t = time.perf_counter()
                r = await host.http.get(f"{BASE}/flows/hist/runs?limit=50&before={before!r}")
                deep.append(time.perf_counter() - t)
                assert r.status_code == 200 and len(r.json()["archive"]) == 50, (before, r.text[:300])
            start_s = host.start_seconds
    return {
        "archived_runs": runs,
        "fill": fill,
        "host_start_ms": ms(start_s, 1),
        "first_page_ms": ms(first_page),
        "newest_page": summary_ms(top),
        "deep_page_before": summary_ms(deep),
        "target_page_ms": 50,
    }
