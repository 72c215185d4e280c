"""The measurements of `scripts/bench`: each starts its own host(s), measures, and returns a dict."""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks import flows
from benchmarks.host import AUTH, BASE, Host, arrivals, first_start, next_event, wait_ended
from benchmarks.stats import ms, spread, summary_ms


@dataclass(frozen=True, slots=True)
class Sizes:
    """How much each benchmark does (`--quick` shrinks it)."""

    chain_tasks: int = 100
    chain_repeats: int = 15
    triggers: int = 50
    burst_runs: int = 1000
    burst_clients: int = 20
    archive_runs: int = 1_000_000
    pages: int = 200
    ws_clients: int = 100
    ws_lines: int = 200
    waiting_runs: int = 200
    cluster_runs: int = 1000
    failover_runs: int = 5  # runs on the host that is killed
    failover_repeats: int = 3
    sleep_runs: int = 200
    log_repeats: int = 3
    browser_lines: int = 100_000
    browser_repeats: int = 3
    store_runs: int = 100_000


FULL = Sizes()
QUICK = Sizes(
    chain_repeats=3,
    triggers=30,
    burst_runs=200,
    archive_runs=10_000,
    pages=50,
    waiting_runs=50,
    cluster_runs=90,
    failover_repeats=1,
    sleep_runs=50,
    log_repeats=1,
    browser_lines=20_000,  # the 100,000-line page is a full-run figure: its own run takes 10-20 s
    browser_repeats=1,
    store_runs=10_000,
)


# ---- 1. per-task overhead --------------------------------------------------------------------
async def bare_spawn(n: int) -> float:
    """Seconds to spawn and reap `n` `true` processes one after another from asyncio."""
    t0 = time.perf_counter()
    for _ in range(n):
        proc = await asyncio.create_subprocess_exec("true")
        await proc.wait()
    return time.perf_counter() - t0


def _start_true() -> subprocess.Popen[bytes]:
    return subprocess.Popen(["true"])


async def pidfd_spawn(n: int) -> float:
    """Seconds to spawn `n` `true` processes the way floe's `proc.run` does, without the rest of
    floe: `subprocess.Popen` on the loop, the exit watched by a pidfd reader."""
    loop = asyncio.get_running_loop()
    t0 = time.perf_counter()
    for _ in range(n):
        child = _start_true()
        pidfd = os.pidfd_open(child.pid)
        exited: asyncio.Future[None] = loop.create_future()
        loop.add_reader(pidfd, exited.set_result, None)
        try:
            await exited
        finally:
            loop.remove_reader(pidfd)
            os.close(pidfd)
        child.wait()
    return time.perf_counter() - t0


def blocking_spawn(n: int) -> float:
    """Seconds to run `true` `n` times with `subprocess.run` (no event loop): the strictest baseline."""
    t0 = time.perf_counter()
    for _ in range(n):
        subprocess.run(["true"], check=True)
    return time.perf_counter() - t0


async def task_overhead(root: Path, sizes: Sizes) -> dict[str, Any]:
    n = sizes.chain_tasks
    await bare_spawn(10)  # warm up the bench process's own spawn path
    async with (
        Host(root, flows.chain("chain", n)) as host,
        host.events(flow="chain", tags="sys.end.all") as ws,
    ):
        rid = await host.push(None, "chain")  # warm-up run: imports, first workspace
        await wait_ended(ws, [rid], 120)
        floe_runs: list[float] = []
        bare_runs: list[float] = []
        blocking_runs: list[float] = []
        pidfd_runs: list[float] = []
        host_cpu: list[float] = []
        for _ in range(sizes.chain_repeats):
            bare_runs.append(await bare_spawn(n) / n)
            blocking_runs.append(await asyncio.to_thread(blocking_spawn, n) / n)
            pidfd_runs.append(await pidfd_spawn(n) / n)
            cpu0 = host.cpu_seconds()
            rid = await host.push(None, "chain")
            end = (await wait_ended(ws, [rid], 120))[rid]
            host_cpu.append((host.cpu_seconds() - cpu0) / n)
            if end["opts"]["status"] != "good":
                raise RuntimeError(f"chain run {rid} ended {end['opts']}")
            run = await host.run("chain", rid)
            floe_runs.append((run["ended"] - run["started"]) / n)
    floe_ms, bare_ms = statistics.median(floe_runs) * 1e3, statistics.median(bare_runs) * 1e3
    ratios = [f / b for f, b in zip(floe_runs, bare_runs, strict=True)]  # each pair measured back to back
    blocking_ms = statistics.median(blocking_runs) * 1e3
    blocking_ratios = [f / b for f, b in zip(floe_runs, blocking_runs, strict=True)]
    pidfd_ms = statistics.median(pidfd_runs) * 1e3
    pidfd_ratios = [f / b for f, b in zip(floe_runs, pidfd_runs, strict=True)]
    return {
        "tasks_per_run": n,
        "repeats": sizes.chain_repeats,
        "floe_ms_per_task": round(floe_ms, 3),
        "bare_ms_per_task": round(bare_ms, 3),
        "ratio": round(statistics.median(ratios), 2),
        "ratio_of_medians": round(floe_ms / bare_ms, 2),
        "ratio_of_best": round(min(floe_runs) / min(bare_runs), 2),
        "blocking_ms_per_task": round(blocking_ms, 3),
        "ratio_to_blocking": round(statistics.median(blocking_ratios), 2),
        "pidfd_ms_per_task": round(pidfd_ms, 3),
        "ratio_to_pidfd": round(statistics.median(pidfd_ratios), 2),
        "strictest_floor_ms_per_task": round(min(blocking_ms, pidfd_ms), 3),
        "ratio_to_strictest": spread(
            [f / min(b, p) for f, b, p in zip(floe_runs, blocking_runs, pidfd_runs, strict=True)], 2
        ),
        "host_cpu_ms_per_task": round(statistics.median(host_cpu) * 1e3, 3),
        "floe_ms_per_task_runs": [round(x * 1e3, 3) for x in floe_runs],
        "bare_ms_per_task_runs": [round(x * 1e3, 3) for x in bare_runs],
        "blocking_ms_per_task_runs": [round(x * 1e3, 3) for x in blocking_runs],
        "pidfd_ms_per_task_runs": [round(x * 1e3, 3) for x in pidfd_runs],
        "target_ratio_to_strictest": 1.25,
        "floe_go_ratio": 2.5,
    }


# ---- 2. trigger → first task start -----------------------------------------------------------
async def trigger_latency(root: Path, sizes: Sizes) -> dict[str, Any]:
    by_event: list[float] = []
    by_receipt: list[float] = []
    by_api: list[float] = []
    async with (
        Host(root, flows.one_task("quick")) as host,
        host.events(flow="quick", tags="sys.node.start,sys.end.all") as ws,
        arrivals(ws) as arrived,
    ):
        for i in range(sizes.triggers + 3):  # the first 3 warm up
            sent = time.time()
            rid = await host.push(None, "quick")
            received, start = await first_start(arrived, rid)
            run = await host.run("quick", rid)
            if i >= 3:
                by_event.append(start["at"] - sent)
                by_receipt.append(received - sent)
                by_api.append(run["nodes"][0]["started"] - sent)
    return {
        "triggers": sizes.triggers,
        "post_to_node_start_event_at": summary_ms(by_event),
        "post_to_event_received_by_client": summary_ms(by_receipt),
        "post_to_node_started_in_run_api": summary_ms(by_api),
        "target_ms": 20,
        "floe_go": "0-5 s (5 s dispatch tick)",
    }


# ---- 3. a burst of runs ------------------------------------------------------------------------
async def burst(root: Path, sizes: Sizes) -> dict[str, Any]:
    n, clients = sizes.burst_runs, sizes.burst_clients
    async with (
        Host(root, flows.one_task("burst")) as host,
        host.events(flow="burst", tags="sys.end.all") as ws,
    ):
        ended: dict[str, str] = {}
        end_events = 0
        last_end = 0.0
        returned: list[str] = []
        errors: list[str] = []
        acked = False
        settled = asyncio.Event()  # every acknowledged run has ended

        def check() -> None:
            if acked and set(returned) <= ended.keys():
                settled.set()

        async def collect() -> None:
            nonlocal end_events, last_end
            while True:
                e = await next_event(ws, 600)
                end_events += 1
                ended[e["run_id"]] = e["opts"]["status"]
                last_end = time.perf_counter()
                check()

        async def client(k: int) -> None:
            async with httpx.AsyncClient(base_url=host.url, headers=AUTH, timeout=120) as c:
                for _ in range(k):
                    try:
                        returned.append(await host.push(c, "burst"))
                    except (httpx.HTTPError, RuntimeError) as e:
                        errors.append(repr(e))

        collector = asyncio.create_task(collect())
        host_cpu0, bench_cpu0 = host.cpu_seconds(), time.process_time()
        per = [n // clients + (1 if i < n % clients else 0) for i in range(clients)]
        t0 = time.perf_counter()
        async with asyncio.TaskGroup() as tg:
            for k in per:
                tg.create_task(client(k))
        t_acked, acked = time.perf_counter(), True
        check()
        waiting = asyncio.create_task(settled.wait())
        await asyncio.wait([waiting, collector], timeout=600, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        host_cpu, bench_cpu = host.cpu_seconds() - host_cpu0, time.process_time() - bench_cpu0
        collector.cancel()
        await asyncio.gather(collector, return_exceptions=True)
        archived = await list_archive(host, "burst")
        listing = await host.http.get(f"{BASE}/flows/burst/runs")
        still = listing.json()
    statuses = [r["status"] for r in archived]
    ids = [r["run_id"] for r in archived]
    return {
        "runs": n,
        "clients": clients,
        "acknowledged": len(returned),
        "distinct_run_ids": len(set(returned)),
        "trigger_errors": len(errors),
        "first_errors": errors[:3],
        "ended_events": end_events,
        "archived": len(archived),
        "archived_distinct": len(set(ids)),
        "archived_good": statuses.count("good"),
        "lost": len(set(returned) - set(ids)),
        "duplicated": len(ids) - len(set(ids)),
        "left_pending_or_active": len(still["pending"]) + len(still["active"]),
        "seconds_to_acknowledge_all": round(t_acked - t0, 3),
        "seconds_until_all_archived": round(last_end - t0, 3),
        "triggers_per_s": round(len(returned) / (t_acked - t0), 1),
        "runs_per_s": round(n / (last_end - t0), 1),
        "host_cpu_ms_per_run": round(host_cpu / n * 1e3, 2),
        "bench_client_cpu_ms_per_run": round(bench_cpu / n * 1e3, 2),
        "target_runs_per_s": 400,
    }


async def list_archive(host: Host, flow: str) -> list[dict[str, Any]]:
    """Every archived run of `flow`, paged 500 at a time with `before`."""
    out: list[dict[str, Any]] = []
    before: float | None = None
    for _ in range(10_000):
        url = f"{BASE}/flows/{flow}/runs?limit=500" + (f"&before={before!r}" if before is not None else "")
        page = (await host.http.get(url)).json()
        out += page["archive"]
        before = page["next_before"]
        if before is None:
            return out
    raise RuntimeError("archive listing did not end")


# ---- 4. a big archive ------------------------------------------------------------------------
async def archive(root: Path, sizes: Sizes) -> dict[str, Any]:
    from benchmarks.archive import fill_archive

    yaml = flows.shell_task("hist", "echo build; echo test")
    async with Host(root / "empty", yaml) as empty:
        empty_start = empty.start_seconds
    host = Host(root / "big", yaml)
    fill = await fill_archive(host.store_dir, host.conf, "hist", sizes.archive_runs)
    async with host:
        start_s = host.start_seconds
        idle_rss = host.rss_kib()
        first_t = time.perf_counter()
        first = (await host.http.get(f"{BASE}/flows/hist/runs?limit=50")).json()
        first_page = time.perf_counter() - first_t
        assert len(first["archive"]) == 50, first
        newest, oldest = fill["created_first"] + sizes.archive_runs, fill["created_first"]
        rnd = random.Random(7)
        top: list[float] = []
        deep: list[float] = []
        for _ in range(sizes.pages):
            t = time.perf_counter()
            r = await host.http.get(f"{BASE}/flows/hist/runs?limit=50")
            top.append(time.perf_counter() - t)
            assert r.status_code == 200 and len(r.json()["archive"]) == 50, r.text[:300]
            before = oldest + 51 + (newest - oldest) * rnd.uniform(0, 0.1)  # the oldest tenth
            t = time.perf_counter()
            r = await host.http.get(f"{BASE}/flows/hist/runs?limit=50&before={before!r}")
            deep.append(time.perf_counter() - t)
            assert r.status_code == 200 and len(r.json()["archive"]) == 50, (before, r.text[:300])
        t = time.perf_counter()
        r = await host.http.get(f"{BASE}/flows/hist/runs/h1-{sizes.archive_runs // 2}")
        detail = time.perf_counter() - t
        assert r.status_code == 200, r.text
    return {
        "archived_runs": sizes.archive_runs,
        "fill": fill,
        "host_start_ms": ms(start_s, 1),
        "host_start_empty_store_ms": ms(empty_start, 1),
        "host_rss_mib": round(idle_rss / 1024, 1),
        "first_page_ms": ms(first_page),
        "newest_page": summary_ms(top),
        "deep_page_before": summary_ms(deep),
        "run_detail_ms": ms(detail),
        "disk_bytes_per_archived_run": round(fill["db_bytes"] / sizes.archive_runs),
        "target_page_ms": 50,
        "target_start_ms": 2000,
    }


# ---- 5. websocket fan-out --------------------------------------------------------------------
async def ws_fanout(root: Path, sizes: Sizes) -> dict[str, Any]:
    """A paced run and a burst, each followed by `sizes.ws_clients` websocket clients."""
    from benchmarks.wsfan import fanout

    return await fanout(root, sizes.ws_clients, sizes.ws_lines)


# ---- 6. memory -------------------------------------------------------------------------------
async def memory(root: Path, sizes: Sizes) -> dict[str, Any]:
    n = sizes.waiting_runs
    async with (
        Host(root, flows.gate("gated") + flows.one_task("warm")) as host,
        host.events(flow="gated", tags="sys.data.required") as ws,
        host.events(flow="warm", tags="sys.end.all") as warm_ws,
    ):
        idle_fresh = host.rss_kib()
        for _ in range(3):  # one run of each kind first: imports and caches, not runs
            await wait_ended(warm_ws, [await host.push(None, "warm")], 60)
        first = await host.push(None, "gated")
        await next_event(ws, 30)
        answer = {
            "Ref": {"ID": "gated", "Ver": 1},
            "Run": first,
            "Form": {"ID": "approve", "Values": {"ok": True}},
        }
        assert (await host.http.post(BASE + "/push/data", json=answer)).status_code == 200
        before = host.rss_kib()
        ids = [await host.push(None, "gated") for _ in range(n)]
        waiting: set[str] = set()
        deadline = time.monotonic() + 120
        while not set(ids) <= waiting:
            e = await next_event(ws, max(0.01, deadline - time.monotonic()))
            waiting.add(e["run_id"])
        statuses = {(await host.run("gated", rid))["status"] for rid in ids[:: max(1, n // 10)]}
        after = host.rss_kib()
    return {
        "idle_rss_mib": round(idle_fresh / 1024, 1),
        "rss_before_mib": round(before / 1024, 1),
        "waiting_runs": n,
        "sampled_statuses": sorted(statuses),
        "rss_after_mib": round(after / 1024, 1),
        "kib_per_waiting_run": round((after - before) / n, 1),
    }


# ---- 7. many sleeping runs at once -----------------------------------------------------------
async def sleep_burst(root: Path, sizes: Sizes) -> dict[str, Any]:
    """`sizes.sleep_runs` runs of a `sleep 1` flow triggered at once: how far apart they end."""
    n = sizes.sleep_runs
    async with (
        Host(root, flows.one_task("nap", "sleep 1")) as host,
        host.events(flow="nap", tags="sys.end.all") as ws,
    ):
        t0 = time.perf_counter()
        async with httpx.AsyncClient(base_url=host.url, headers=AUTH, timeout=120) as c:
            ids = await asyncio.gather(*(host.push(c, "nap") for _ in range(n)))
        acked = time.perf_counter() - t0
        ends: dict[str, float] = {}
        statuses: dict[str, str] = {}
        want = set(ids)
        while want - ends.keys():
            e = await next_event(ws, 120)
            if e["run_id"] in want:
                ends[e["run_id"]] = time.perf_counter() - t0
                statuses[e["run_id"]] = e["opts"]["status"]
    first, last = min(ends.values()), max(ends.values())
    return {
        "runs": n,
        "distinct_run_ids": len(want),
        "good": list(statuses.values()).count("good"),
        "seconds_to_acknowledge_all": round(acked, 3),
        "first_end_s": round(first, 3),
        "last_end_s": round(last, 3),
        "last_end_after_first_s": round(last - first, 3),
        "target_last_after_first_s": 2.0,
    }
