"""The SQLite store on its own: write throughput, open time and run-list paging of a big archive."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path
from typing import Any

from benchmarks.stats import summary_ms
from floe.store.local import LocalStore


def _run(i: int, flows: int) -> dict[str, Any]:
    return {
        "run_id": f"h1-{i}",
        "flow": f"flow-{i % flows}",
        "phase": "archive",
        "created": 1_700_000_000.0 + i,
        "exec_host": "h1",
        "status": "good",
        "trigger": {"node": "push", "values": {"branch": "main", "hash": f"{i:040x}"}},
        "nodes": [
            {
                "id": f"task-{n}",
                "status": "good",
                "result": "good",
                "exit_status": 0,
                "started": 1.0,
                "stopped": 2.0,
            }
            for n in range(5)
        ],
    }


def _size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.iterdir())


async def store(root: Path, sizes: Any) -> dict[str, Any]:
    runs, flows, pages = sizes.store_runs, 20, sizes.pages
    db = LocalStore(root)
    await db.open()
    t0 = time.perf_counter()
    for i in range(runs):
        db.put_run(_run(i, flows))
    t1 = time.perf_counter()
    await db.flush()
    t2 = time.perf_counter()
    out: dict[str, Any] = {
        "runs": runs,
        "put_run_enqueued_per_s": round(runs / (t1 - t0)),
        "put_run_committed_per_s": round(runs / (t2 - t0)),
    }
    events = 50_000
    t0 = time.perf_counter()
    for k in range(events):
        db.append_event(
            {
                "run_id": f"h1-{k % 100}",
                "flow": "flow-0",
                "seq": k // 100 + 1,
                "source_node": "task-0",
                "tag": "sys.node.update",
                "good": True,
                "opts": {"lines": [f"compiling module {k} ... ok"]},
                "at": 1.0,
            }
        )
    t1 = time.perf_counter()
    await db.flush()
    t2 = time.perf_counter()
    out["append_event_enqueued_per_s"] = round(events / (t1 - t0))
    out["append_event_committed_per_s"] = round(events / (t2 - t0))
    t0 = time.perf_counter()
    for k in range(2_000):  # a flush after every 10 writes: the worst case, one transaction each
        for j in range(10):
            db.put_kv(f"k{j}", k)
        await db.flush()
    out["put_kv_flushed_every_10_per_s"] = round(20_000 / (time.perf_counter() - t0))
    await db.close()

    t0 = time.perf_counter()
    db = LocalStore(root)
    await db.open()
    await db.list_runs(phase="archive", limit=50)
    out["open_and_first_page_ms"] = round((time.perf_counter() - t0) * 1e3, 1)
    rnd = random.Random(1)
    for label, flow in (("all_flows", None), ("one_flow", "flow-3")):
        times: list[float] = []
        for _ in range(pages):
            before = 1_700_000_000.0 + rnd.randrange(runs) if rnd.random() < 0.8 else None
            c = time.perf_counter()
            await db.list_runs(phase="archive", flow=flow, limit=50, before=before)
            times.append(time.perf_counter() - c)
        out[f"list_runs_page_{label}"] = summary_ms(times)
    times = []
    for _ in range(pages):
        c = time.perf_counter()
        await db.node_log(f"h1-{rnd.randrange(100)}", "task-0")
        times.append(time.perf_counter() - c)
    out["node_log_500_lines"] = summary_ms(times)
    await db.close()
    out["db_mib"] = round(await asyncio.to_thread(_size, root) / 2**20, 1)
    return out
