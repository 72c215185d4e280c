"""Benchmark LocalStore: write throughput, open time and run-list paging with 100,000 archived runs."""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from floe.store.local import LocalStore


def run_doc(i: int, flows: int) -> dict[str, Any]:
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


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def bench(root: Path, runs: int, flows: int, pages: int) -> None:
    store = LocalStore(root)
    await store.open()
    calls: list[float] = []
    t0 = time.perf_counter()
    for i in range(runs):
        c = time.perf_counter()
        store.put_run(run_doc(i, flows))
        calls.append(time.perf_counter() - c)
    t1 = time.perf_counter()
    await store.flush()
    t2 = time.perf_counter()
    print(
        f"put_run x{runs}: enqueue {runs / (t1 - t0):,.0f}/s on the caller "
        f"(p50 {pct(calls, 50) * 1e6:.1f} us, p99 {pct(calls, 99) * 1e6:.1f} us per call), "
        f"committed {runs / (t2 - t0):,.0f}/s end to end"
    )

    events = 50_000
    t0 = time.perf_counter()
    for k in range(events):
        store.append_event(
            {
                "run_id": f"h1-{k % 100}",
                "flow": "flow-0",
                "seq": k // 100 + 1,
                "source_node": "task-0",
                "tag": "sys.node.update",
                "good": True,
                "opts": {"line": f"compiling module {k} ... ok"},
                "at": 1.0,
            }
        )
    t1 = time.perf_counter()
    await store.flush()
    t2 = time.perf_counter()
    print(
        f"append_event x{events}: enqueue {events / (t1 - t0):,.0f}/s, committed {events / (t2 - t0):,.0f}/s"
    )

    interleaved = 20_000  # a flush after every write: the worst case, one transaction each
    t0 = time.perf_counter()
    for k in range(interleaved // 10):
        for j in range(10):
            store.put_kv(f"k{j}", k)
        await store.flush()
    t2 = time.perf_counter()
    print(
        f"put_kv with a flush every 10 writes: {interleaved / (t2 - t0):,.0f} writes/s, "
        f"{interleaved / 10 / (t2 - t0):,.0f} flushes/s"
    )
    await store.close()

    t0 = time.perf_counter()
    store = LocalStore(root)
    await store.open()
    first = await store.list_runs(phase="archive", limit=50)
    t1 = time.perf_counter()
    print(f"open of {runs:,} runs + first page: {(t1 - t0) * 1e3:.1f} ms ({len(first)} runs)")

    rnd = random.Random(1)
    for label, flow in (("all flows", None), ("one flow", "flow-3")):
        times: list[float] = []
        for _ in range(pages):
            before = 1_700_000_000.0 + rnd.randrange(runs) if rnd.random() < 0.8 else None
            c = time.perf_counter()
            page = await store.list_runs(phase="archive", flow=flow, limit=50, before=before)
            times.append(time.perf_counter() - c)
            assert len(page) <= 50
        print(
            f"list_runs page of 50 ({label}): p50 {statistics.median(times) * 1e3:.2f} ms, "
            f"p99 {pct(times, 99) * 1e3:.2f} ms, max {max(times) * 1e3:.2f} ms"
        )
    times = []
    for _ in range(pages):
        c = time.perf_counter()
        await store.node_log(f"h1-{rnd.randrange(100)}", "task-0")
        times.append(time.perf_counter() - c)
    p50, p99 = statistics.median(times) * 1e3, pct(times, 99) * 1e3
    print(f"node_log of 500 lines: p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--flows", type=int, default=20)
    parser.add_argument("--pages", type=int, default=500)
    parser.add_argument("--dir", type=Path, help="where to create the store (default: a temporary directory)")
    args = parser.parse_args()
    if args.dir:
        asyncio.run(bench(args.dir, args.runs, args.flows, args.pages))
    else:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp) / "store"
            asyncio.run(bench(root, args.runs, args.flows, args.pages))
            print(f"database: {sum(p.stat().st_size for p in root.iterdir()) / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
