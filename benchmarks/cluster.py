"""Cluster benchmarks: three real hosts on loopback, either sharing one `common.hosts` list (peer to
peer) or one PostgreSQL database (`store_url`); h2 alone has the tag `special`, like
tests/e2e/test_cluster.py. Measured over HTTP and the websocket."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from benchmarks import flows
from benchmarks.host import AUTH, BASE, Host, arrivals, first_start, free_port, next_event
from benchmarks.stats import ms, summary_ms

TAGS = ["linux", "linux,special", "linux"]


def special(flow_id: str) -> str:
    """One `exec true` task on a host with the tag `special` only (h2)."""
    return flows.one_task(flow_id).replace("    ver: 1\n", "    ver: 1\n    host-tags: [special]\n", 1)


def effects_file(root: Path) -> Path:
    """Where every `spread` run's task appends its run id (one line per task run, any host)."""
    return root / "effects"


def cluster_flows(root: Path, extra: str = "") -> str:
    spread = flows.shell_task("spread", f"echo $FLOE_RUN_ID >> {effects_file(root)}")
    return special("fresh") + special("special") + spread + extra


@contextlib.asynccontextmanager
async def trio(
    root: Path, store_url: str = "", extra_flows: str = ""
) -> AsyncIterator[tuple[list[Host], float, float]]:
    """Three hosts started at once (peer to peer, or on the PostgreSQL database `store_url`); yields
    them, the `time.time()` before the first spawn and the `time.time()` once all three answer
    `/healthz`. Always stopped."""
    ports = [free_port() for _ in range(3)]
    urls = None if store_url else [f"http://127.0.0.1:{p}" for p in ports]
    yaml = cluster_flows(root, extra_flows)
    hosts = [
        Host(
            root / f"h{i + 1}",
            yaml,
            name=f"h{i + 1}",
            port=ports[i],
            tags=TAGS[i],
            hosts=urls,
            store_url=store_url,
        )
        for i in range(3)
    ]
    try:
        spawned = time.time()
        await asyncio.gather(*(h.start() for h in hosts))
        healthy = time.time()
        yield hosts, spawned, healthy
    finally:
        await asyncio.gather(*(h.stop() for h in hosts), return_exceptions=True)


async def wait_run_ended(host: Host, flow: str, run_id: str, timeout: float) -> dict[str, Any]:
    """Poll the run API (answered for the cluster by any host) until the run has ended."""
    deadline = time.monotonic() + timeout
    while True:
        r = await host.http.get(f"{BASE}/flows/{flow}/runs/{run_id}")
        if r.status_code == 200 and r.json()["status"] in {"good", "bad", "cancelled"}:
            doc: dict[str, Any] = r.json()
            return doc
        if time.monotonic() > deadline:
            raise RuntimeError(f"{flow}/{run_id} not ended after {timeout}s: {r.status_code} {r.text[:500]}")
        await asyncio.sleep(0.01)  # another process's state: nothing to wait on here


# ---- cluster trigger → first task start ----------------------------------------------------------
async def cluster_latency(root: Path, sizes: Any, store_url: str = "") -> dict[str, Any]:
    async with trio(root, store_url) as (hosts, spawned, healthy):
        h1, h2, _ = hosts
        # a fresh cluster: trigger the moment all three answer /healthz, time to the task's start on h2
        sent = time.time()
        rid = await h1.push(None, "fresh")
        acked = time.time()
        first_look = (await h1.http.get(f"{BASE}/flows/fresh/runs/{rid}")).json()
        fresh = await wait_run_ended(h1, "fresh", rid, 120)
        start_at = fresh["nodes"][0]["started"]
        fresh_out = {
            "spawn_to_all_healthz_ms": ms(healthy - spawned, 1),
            "host_start_ms": [ms(h.start_seconds, 1) for h in hosts],
            "healthz_to_trigger_acknowledged_ms": ms(acked - healthy, 1),
            "trigger_to_first_task_start_ms": ms(start_at - sent, 1),
            "spawn_to_first_task_start_ms": ms(start_at - spawned, 1),
            "right_after_the_trigger": {k: first_look.get(k) for k in ("status", "pending_reason")},
            "exec_host": fresh["exec_host"],
            "status": fresh["status"],
            "floe_go": "about 14 s (first peer contact after 10 s)",
        }

        by_event: list[float] = []
        by_receipt: list[float] = []
        by_ack: list[float] = []
        exec_hosts: Counter[str] = Counter()
        async with (
            h2.events(flow="special", tags="sys.node.start,sys.end.all") as ws,
            arrivals(ws) as arrived,
        ):
            for i in range(sizes.triggers + 3):  # the first 3 warm up
                sent = time.time()
                rid = await h1.push(None, "special")
                acked = time.time()
                received, start = await first_start(arrived, rid)
                if i >= 3:
                    by_event.append(start["at"] - sent)
                    by_receipt.append(received - sent)
                    by_ack.append(acked - sent)
                    exec_hosts[(await h1.run("special", rid))["exec_host"]] += 1
    return {
        "hosts": 3,
        "triggers": sizes.triggers,
        "trigger_host": "h1",
        "exec_host_counts": dict(exec_hosts),
        "post_on_h1_to_node_start_event_at_on_h2": summary_ms(by_event),
        "post_on_h1_to_event_received_from_h2_ws": summary_ms(by_receipt),
        "post_on_h1_answered_202": summary_ms(by_ack),
        "fresh_cluster": fresh_out,
        "target_ms": 100,
        "floe_go": "14 s on a fresh cluster",
    }


# ---- cluster throughput --------------------------------------------------------------------------
async def local_archive(host: Host, flow: str) -> list[dict[str, Any]]:
    """The host's own archived runs of `flow` (asked as a peer asks, `X-Floe-For`: never gathered)."""
    out: list[dict[str, Any]] = []
    before: float | None = None
    own = {"X-Floe-For": "admin", "X-Floe-Role": "admin"}
    for _ in range(10_000):
        url = f"{BASE}/flows/{flow}/runs?limit=500" + (f"&before={before!r}" if before is not None else "")
        r = await host.http.get(url, headers=own)
        r.raise_for_status()
        page = r.json()
        out += page["archive"]
        if len(page["archive"]) < 500:
            return out
        before = page["archive"][-1]["created"]
    raise RuntimeError("archive listing did not end")


def _stored_ends(store_url: str) -> Counter[str]:
    """How many `sys.end.all` events the database holds for each `spread` run."""
    import psycopg

    with psycopg.connect(store_url) as db:
        rows = db.execute(
            "SELECT e.run_id, count(*) FROM events e JOIN runs r USING (run_id)"
            " WHERE r.flow = 'spread' AND e.tag = 'sys.end.all' GROUP BY e.run_id"
        ).fetchall()
    return Counter({str(run_id): int(n) for run_id, n in rows})


def doubled(counts: Counter[str]) -> int:
    """How many more times than once the ids were counted."""
    return sum(n - 1 for n in counts.values() if n > 1)


async def cluster_throughput(root: Path, sizes: Any, store_url: str = "") -> dict[str, Any]:
    """`sizes.cluster_runs` one-task runs triggered at once by 12 clients (4 per host, each on its
    own host), until every acknowledged run's end was streamed; then checked from what was stored:
    each run archived once, ended once (PostgreSQL: its `sys.end.all` events), its task's side
    effect (a line in a shared file) made once."""
    n = sizes.cluster_runs
    per_host_clients = 4
    async with trio(root, store_url) as (hosts, _, _):
        returned: dict[str, list[str]] = {h.name: [] for h in hosts}  # by the host that was triggered
        errors: list[str] = []
        # each host's live stream carries every host's events (its own and its peers' or, on
        # PostgreSQL, the database's): a run ends once on each stream
        ends: dict[str, Counter[str]] = {h.name: Counter() for h in hosts}
        bad_ends: list[tuple[str, str]] = []
        first_end: dict[str, float] = {}  # run id → when its end first came, on any stream
        acked = False
        settled, on_every_stream = asyncio.Event(), asyncio.Event()

        def check() -> None:
            want = {r for ids in returned.values() for r in ids}
            if acked and want <= first_end.keys():
                settled.set()
            if acked and all(want <= seen.keys() for seen in ends.values()):
                on_every_stream.set()

        async def collect(h: Host, ws: Any) -> None:
            while True:
                e = await next_event(ws, 600)
                first_end.setdefault(e["run_id"], time.perf_counter())
                ends[h.name][e["run_id"]] += 1
                if e["opts"]["status"] != "good":
                    bad_ends.append((e["run_id"], e["opts"]["status"]))
                check()

        async def client(h: Host, k: int) -> None:
            async with httpx.AsyncClient(base_url=h.url, headers=AUTH, timeout=120) as c:
                for _ in range(k):
                    try:
                        returned[h.name].append(await h.push(c, "spread"))
                    except (httpx.HTTPError, RuntimeError) as e:
                        errors.append(repr(e))

        async with contextlib.AsyncExitStack() as stack:
            sockets = [
                await stack.enter_async_context(h.events(flow="spread", tags="sys.end.all")) for h in hosts
            ]
            collectors = [asyncio.create_task(collect(h, ws)) for h, ws in zip(hosts, sockets, strict=True)]
            cpu0 = [h.cpu_seconds() for h in hosts]
            clients = 3 * per_host_clients
            per = [n // clients + (1 if i < n % clients else 0) for i in range(clients)]
            t0 = time.perf_counter()
            async with asyncio.TaskGroup() as tg:
                for i, k in enumerate(per):
                    tg.create_task(client(hosts[i % 3], k))
            t_acked, acked = time.perf_counter(), True
            check()
            waiting = asyncio.create_task(settled.wait())
            await asyncio.wait([waiting, *collectors], timeout=300, return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()
            cpu = [h.cpu_seconds() - c for h, c in zip(hosts, cpu0, strict=True)]
            with contextlib.suppress(TimeoutError):  # every stream catches up (or is reported short)
                await asyncio.wait_for(on_every_stream.wait(), 10)
            await asyncio.sleep(0.5)  # a late duplicate end would show up on a stream meanwhile
            for c in collectors:
                c.cancel()
            await asyncio.gather(*collectors, return_exceptions=True)
        merged: list[dict[str, Any]] = []
        before: float | None = None
        while True:  # the cluster's answer, gathered by h1 (read from the database on PostgreSQL)
            url = f"{BASE}/flows/spread/runs?limit=500" + (
                f"&before={before!r}" if before is not None else ""
            )
            page = (await hosts[0].http.get(url)).json()
            merged += page["archive"]
            before = page["next_before"]
            if before is None:
                break
        # one store on PostgreSQL: h1's answer is every host's
        own = {"database": merged} if store_url else {h.name: await local_archive(h, "spread") for h in hosts}
        left = page["pending"] + page["active"]
        partial = page.get("partial", [])
    stored_ends = await asyncio.to_thread(_stored_ends, store_url) if store_url else None
    effects_path = effects_file(root)
    effects = Counter(effects_path.read_text().split() if effects_path.exists() else [])
    acked_ids = [r for ids in returned.values() for r in ids]
    stored = [(r["run_id"], r["status"], r.get("exec_host", "")) for rs in own.values() for r in rs]
    stored_ids = Counter(rid for rid, _, _ in stored)
    want = set(acked_ids)
    last_end = max((first_end[r] for r in want if r in first_end), default=t0)
    return {
        "store": "postgres" if store_url else "p2p",
        "hosts": 3,
        "runs": n,
        "clients": f"{per_host_clients} per host, each triggering on its host",
        "acknowledged": len(acked_ids),
        "acknowledged_by_host": {k: len(v) for k, v in returned.items()},
        "distinct_run_ids": len(want),
        "trigger_errors": len(errors),
        "first_errors": errors[:3],
        "end_events_per_stream": {k: sum(v.values()) for k, v in ends.items()},
        "ends_missing_on_a_stream": {k: len(want - v.keys()) for k, v in ends.items()},
        "ended_twice_on_a_stream": {k: doubled(v) for k, v in ends.items()},
        "ends_not_good": len(bad_ends),
        "runs_per_exec_host": dict(sorted(Counter(h for _, _, h in stored).items())),
        "archived_per_store": {k: len(v) for k, v in own.items()},
        "archived_good": sum(1 for s in stored if s[1] == "good"),
        "cluster_list_archived": len(merged),
        "cluster_list_partial": partial,
        "stored_end_events": sum(stored_ends.values()) if stored_ends is not None else "not readable",
        "task_side_effects": sum(effects.values()),
        "lost": len(want - stored_ids.keys()),
        "lost_side_effects": len(want - effects.keys()),
        "duplicated": {
            "archived_twice": doubled(stored_ids),
            "ended_twice_in_store": doubled(stored_ends) if stored_ends is not None else "not readable",
            "task_ran_twice": doubled(effects),
            "ended_twice_on_a_stream": sum(doubled(v) for v in ends.values()),
        },
        "unexpected_runs": len(stored_ids.keys() - want),
        "left_pending_or_active": len(left),
        "handed_to_another_host": sum(1 for rid, _, h in stored if not rid.startswith(h + "-")),
        "seconds_to_acknowledge_all": round(t_acked - t0, 3),
        "seconds_until_all_ended": round(last_end - t0, 3),
        "runs_per_s": round(n / (last_end - t0), 1),
        "host_cpu_ms_per_run": {h.name: round(c / n * 1e3, 2) for h, c in zip(hosts, cpu, strict=True)},
    }
