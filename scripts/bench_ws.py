"""Event delivery latency to many websocket clients while a flow runs; prints one JSON object.

    .venv/bin/python scripts/bench_ws.py [--clients 100] [--lines 300] [--interval 0.01]

A real host is started on a free loopback port (tests.support.host.FloeHost). Every client follows
`/ws?flow=bench`; a task prints `--lines` lines, one every `--interval` seconds. Latency is the
client's receive time minus the event's `at` (both from this machine's clock).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.support.host import TOKEN, FloeHost

CONFIG = """
common:
  workspace-root: {root}/ws
  store-root: {root}/store
flows:
  - id: bench
    ver: 1
    triggers: [{id: go, type: data}]
    tasks:
      - {id: tick, listen: trigger.good, type: exec,
         opts: {shell: 'for i in $(seq 1 LINES); do echo tick $i; sleep INTERVAL; done'}}
"""


async def follow(ws: ClientConnection, lags: list[float]) -> bool:
    """Record each event's delivery lag until the run ends; False if the host dropped the client."""
    try:
        while True:
            e: dict[str, Any] = json.loads(await ws.recv())
            lags.append(time.time() - e["at"])
            if e["tag"] == "sys.end.all":
                return True
    except ConnectionClosed:
        return False


def pct(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[i]


async def bench(host: FloeHost, clients: int) -> dict[str, Any]:
    url = f"ws://127.0.0.1:{host.port}/ws?flow=bench"
    conns = [await connect(url, additional_headers={"X-Floe-Auth": TOKEN}) for _ in range(clients)]
    lags: list[list[float]] = [[] for _ in conns]
    try:
        t0 = time.monotonic()
        run_id = await asyncio.to_thread(host.trigger, "bench", "go")
        done = await asyncio.gather(*(follow(ws, lag) for ws, lag in zip(conns, lags, strict=True)))
        elapsed = time.monotonic() - t0
    finally:
        await asyncio.gather(*(ws.close() for ws in conns))
    flat = sorted(x for lag in lags for x in lag)
    per_client = {len(lag) for lag in lags}
    return {
        "run_id": run_id,
        "clients": clients,
        "clients_dropped": done.count(False),
        "events_per_client": sorted(per_client),
        "deliveries": len(flat),
        "latency_ms": {
            "p50": round(pct(flat, 50) * 1000, 3),
            "p90": round(pct(flat, 90) * 1000, 3),
            "p99": round(pct(flat, 99) * 1000, 3),
            "max": round(flat[-1] * 1000, 3) if flat else None,
            "mean": round(statistics.fmean(flat) * 1000, 3) if flat else None,
        },
        "run_seconds": round(elapsed, 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=100)
    ap.add_argument("--lines", type=int, default=300)
    ap.add_argument("--interval", type=float, default=0.01)
    args = ap.parse_args()
    config = CONFIG.replace("LINES", str(args.lines)).replace("INTERVAL", str(args.interval))
    with tempfile.TemporaryDirectory(prefix="floe-bench-ws-") as tmp:
        host = FloeHost(Path(tmp), config).start()
        try:
            result = asyncio.run(bench(host, args.clients))
        finally:
            host.stop()
            host.http.close()
    result.update(lines=args.lines, interval_s=args.interval)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
