"""`python -m benchmarks [--quick] [--only a,b] [--profile DIR]`: run the benchmarks, write their JSON."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from benchmarks import browser, cases, cluster, logs, pg, pg_cluster, profile, store

Case = Callable[[Path, cases.Sizes], Awaitable[dict[str, Any]]]
CASES: dict[str, Case] = {
    "task_overhead": cases.task_overhead,
    "trigger_latency": cases.trigger_latency,
    "burst": cases.burst,
    "sleep_burst": cases.sleep_burst,
    "log_throughput": logs.log_throughput,
    "archive": cases.archive,
    "ws_fanout": cases.ws_fanout,
    "memory": cases.memory,
    "store": store.store,
    "browser": browser.browser,
    "cluster_latency": cluster.cluster_latency,
    "cluster_throughput": cluster.cluster_throughput,
    "pg_cluster": pg_cluster.pg_cluster,
    "pg_archive": lambda work, sizes: pg.pg_archive(work, sizes.archive_runs, sizes.pages),
}
REPO = Path(__file__).resolve().parent.parent


def machine() -> dict[str, Any]:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        model = next(
            (ln.split(":", 1)[1].strip() for ln in cpuinfo.read_text().splitlines() if "model name" in ln), ""
        )
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "cores": os.cpu_count(),
        "loadavg_1_5_15": list(os.getloadavg()),
        "cpu": model,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "commit": commit,
    }


async def run_all(names: list[str], sizes: cases.Sizes, work: Path) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for name in names:
        t0 = time.perf_counter()
        load = os.getloadavg()[0]
        print(f"bench: {name} ...", file=sys.stderr, flush=True)
        try:
            results[name] = await CASES[name](work / name, sizes)
        except Exception as e:  # one broken benchmark must not hide the others' figures
            results[name] = {"error": f"{type(e).__name__}: {e}"[:2000]}
        results[name]["bench_seconds"] = round(time.perf_counter() - t0, 1)
        results[name]["loadavg_1min_before_after"] = [round(load, 2), round(os.getloadavg()[0], 2)]
        print(f"bench: {name} done in {results[name]['bench_seconds']}s", file=sys.stderr, flush=True)
    return results


def main() -> None:
    p = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    p.add_argument("--quick", action="store_true", help="a reduced set that runs in under a minute")
    p.add_argument("--only", default="", help=f"comma-separated subset of: {', '.join(CASES)}")
    p.add_argument("--out", type=Path, default=REPO / "bench-results" / "latest.json")
    p.add_argument("--keep", type=Path, help="work in this directory and keep it (default: a temp dir)")
    p.add_argument("--profile", type=Path, help="record each host with py-spy into this directory")
    args = p.parse_args()
    if args.profile:
        os.environ[profile.PROFILE_DIR] = str(args.profile.resolve())
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        p.error(f"unknown benchmark(s): {', '.join(unknown)}")
    sizes = cases.QUICK if args.quick else cases.FULL
    t0 = time.perf_counter()
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    at_start = machine()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        results = asyncio.run(run_all(names, sizes, args.keep))
    else:
        with tempfile.TemporaryDirectory(prefix="floe-bench-") as tmp:
            results = asyncio.run(run_all(names, sizes, Path(tmp)))
    doc = {
        "loadavg_at_end": list(os.getloadavg()),
        "mode": "quick" if args.quick else "full",
        "command": " ".join(["scripts/bench", *sys.argv[1:]]),
        "started": started,
        "seconds": round(time.perf_counter() - t0, 1),
        "machine": at_start,
        "results": results,
    }
    if args.profile:
        doc["profiles"] = {
            f.name: profile.top_frames(f) for f in sorted(args.profile.glob("*.txt")) if f.stat().st_size
        }
    text = json.dumps(doc, indent=2)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text + "\n")
    print(text)
    if any("error" in r for r in results.values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
