"""The PostgreSQL cluster beside the peer-to-peer one, in one run: three real hosts each way (one
PostgreSQL 15 server started as the tests start theirs), trigger on h1 → first task on h2, runs over
three hosts, and (PostgreSQL) the time from `kill -9` of a host to its runs resolved elsewhere."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg

from benchmarks import cluster
from benchmarks.host import BASE, Host
from benchmarks.stats import spread, summary_ms
from floe.cluster.pg_link import LEASE
from tests.support.postgres import running_postgres

HOLD = cluster.special("hold").replace("opts: {cmd: 'true'}", "opts: {shell: 'exec sleep 600'}")


async def pg_cluster(root: Path, sizes: Any) -> dict[str, Any]:
    """Each figure for both clusters, one after the other, on fresh hosts (and a fresh database)."""
    with running_postgres() as server:
        latency = {
            "p2p": await cluster.cluster_latency(root / "p2p-latency", sizes),
            "postgres": await cluster.cluster_latency(root / "pg-latency", sizes, server.database()),
            "target_ms": 20,
        }
        throughput = {
            "p2p": await cluster.cluster_throughput(root / "p2p-runs", sizes),
            "postgres": await cluster.cluster_throughput(root / "pg-runs", sizes, server.database()),
        }
        failover = await kill_9(root / "pg-kill", sizes, server.database())
    return {
        "trigger_on_h1_to_first_task_on_h2": latency,
        "runs_over_three_hosts": throughput,
        "kill_9_to_runs_resolved": {
            "postgres": failover,
            "p2p": "not measured (its runs wait for that host)",
        },
    }


def _lease_until(url: str, host: str) -> float:
    with psycopg.connect(url) as db:
        row = db.execute(
            "SELECT extract(epoch FROM lease_until) FROM hosts WHERE host_id = %s", (host,)
        ).fetchone()
    return float(row[0]) if row else 0.0


async def _until_leased(url: str, host: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while await asyncio.to_thread(_lease_until, url, host) <= time.time():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{host} took no lease in {timeout}s")
        await asyncio.sleep(0.05)  # another process's state: nothing to wait on here


async def _all_running(h2: Host, run_ids: list[str], timeout: float = 60) -> None:
    """Until each run's task has started on h2 (as h2, which runs it, answers)."""
    want = set(run_ids)
    deadline = time.monotonic() + timeout
    while want:
        for rid in sorted(want):
            r = await h2.http.get(f"{BASE}/flows/hold/runs/{rid}")
            if r.status_code == 200 and r.json()["exec_host"] == "h2" and r.json()["nodes"][0].get("started"):
                want.discard(rid)
        if time.monotonic() > deadline:
            raise RuntimeError(f"not running on h2 after {timeout}s: {sorted(want)}")
        await asyncio.sleep(0.02)


async def kill_9(root: Path, sizes: Any, url: str) -> dict[str, Any]:
    """`sizes.failover_runs` runs of a task that sleeps, all on h2 (host-tags); h2's process group
    gets SIGKILL (the host and its tasks, as when its machine dies); h1's run list is read every
    20 ms until each run has ended there. Then h2 is started again and it is repeated."""
    per_run: list[float] = []  # kill → each run seen ended on h1
    last: list[float] = []  # kill → the last of the repeat's runs ended
    after_expiry: list[float] = []  # h2's lease end (the database's clock) → the last run ended
    statuses: Counter[str] = Counter()
    lost = 0  # runs whose document says `host h2 lost while work was running`
    async with cluster.trio(root, url, HOLD) as (hosts, _, _):
        h1, h2, _ = hosts
        for _ in range(sizes.failover_repeats):
            ids = [await h1.push(None, "hold") for _ in range(sizes.failover_runs)]
            await _all_running(h2, ids)
            lease_end = await asyncio.to_thread(_lease_until, url, "h2")
            killed = time.time()
            os.killpg(h2.pid, signal.SIGKILL)
            assert h2.proc is not None
            await h2.proc.wait()
            ended: dict[str, float] = {}
            deadline = time.monotonic() + 120
            while len(ended) < len(ids):
                page = (await h1.http.get(f"{BASE}/flows/hold/runs?limit=500")).json()
                now = time.time()
                for doc in page["archive"]:
                    if doc["run_id"] in ids and doc["run_id"] not in ended:
                        ended[doc["run_id"]] = now
                if time.monotonic() > deadline:
                    raise RuntimeError(f"h2's runs not resolved in 120 s: {sorted(set(ids) - ended.keys())}")
                await asyncio.sleep(0.02)  # another process's state: nothing to wait on here
            per_run += [t - killed for t in ended.values()]
            last.append(max(ended.values()) - killed)
            after_expiry.append(max(ended.values()) - lease_end)
            for rid in ids:
                doc = await h1.run("hold", rid)
                statuses[doc["status"]] += 1
                lost += "host h2 lost while work was running" in json.dumps(doc)
            await h2.start()
            await _until_leased(url, "h2")
    return {
        "runs_per_kill": sizes.failover_runs,
        "kills": sizes.failover_repeats,
        "lease_s": LEASE,
        "renewed_every_s": round(LEASE / 3, 2),
        "kill_to_each_run_ended_on_h1": summary_ms(per_run),
        "kill_to_last_run_ended_s": spread(last),
        "lease_expiry_to_last_run_ended_s": spread(after_expiry),
        "statuses": dict(statuses),
        "with_the_reason_host_h2_lost_while_work_was_running": lost,
    }
