"""Event delivery to many websocket clients: latency from an event's `at` to its receipt by each client."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from benchmarks import flows
from benchmarks.host import Host
from benchmarks.stats import summary_ms

EXEC_PREAMBLE = 3  # an exec log starts with "in dir: …", the command line and a blank line


async def _client(
    host: Host, flow: str, ready: asyncio.Event, gate: asyncio.Event, out: list[float], run: list[str]
) -> int:
    """Follow the flow's events; record (receipt - at) of every log line until the run ends."""
    lines = 0
    async with host.events(flow=flow) as ws:
        ready.set()
        await gate.wait()
        while True:
            raw = await asyncio.wait_for(ws.recv(), 120)
            now = time.time()
            e: dict[str, Any] = json.loads(raw)
            if e["tag"] == "sys.node.update" and ("line" in e["opts"] or "lines" in e["opts"]):
                n = len(e["opts"].get("lines") or ()) + ("line" in e["opts"])
                out.extend([now - e["at"]] * n)
                lines += n
            elif e["tag"] == "sys.end.all" and run and e["run_id"] == run[0]:
                return lines


async def _phase(host: Host, flow: str, clients: int, printed: int) -> dict[str, Any]:
    readies = [asyncio.Event() for _ in range(clients)]
    gate = asyncio.Event()
    samples: list[float] = []
    run: list[str] = []
    tasks = [asyncio.create_task(_client(host, flow, r, gate, samples, run)) for r in readies]
    try:
        await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 60)
        gate.set()
        host_cpu0, bench_cpu0 = host.cpu_seconds(), time.process_time()
        t0 = time.perf_counter()
        run.append(await host.push(None, flow))
        counts = await asyncio.wait_for(asyncio.gather(*tasks), 300)
        seconds = time.perf_counter() - t0
        host_cpu, bench_cpu = host.cpu_seconds() - host_cpu0, time.process_time() - bench_cpu0
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    lines = printed + EXEC_PREAMBLE
    return {
        "lines_per_client": lines,
        "clients_that_got_every_line": sum(1 for c in counts if c == lines),
        "deliveries": len(samples),
        "seconds": round(seconds, 2),
        "deliveries_per_s": round(len(samples) / seconds),
        "latency": summary_ms(samples),
        "host_cpu_share": round(host_cpu / seconds, 2),  # 1.0 = one core busy the whole time
        "bench_clients_cpu_share": round(bench_cpu / seconds, 2),
    }


async def fanout(root: Path, clients: int, lines: int) -> dict[str, Any]:
    """`clients` websocket clients on `/ws?flow=…`: a run printing `lines` lines 10 ms apart, then
    a run printing `5 * lines` lines as fast as it can."""
    paced = f'for i in $(seq {lines}); do echo "line $i"; sleep 0.01; done'
    burst = f'for i in $(seq {lines * 5}); do echo "line $i"; done'
    yaml = flows.shell_task("fan-paced", paced) + flows.shell_task("fan-burst", burst)
    async with Host(root, yaml) as host:
        paced_result = await _phase(host, "fan-paced", clients, lines)
        burst_result = await _phase(host, "fan-burst", clients, lines * 5)
    return {"clients": clients, "paced_10ms_apart": paced_result, "burst": burst_result}
