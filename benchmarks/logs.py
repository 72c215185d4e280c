"""Log throughput: a task flooding its output, against a plain Python reader of the same command."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import sqlite3
import statistics
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed

from benchmarks.host import BASE, Host, wait_ended
from benchmarks.stats import spread

SEQ_LINES = 200_000
WIDE_LINES = 20_000  # of 1,000 bytes: 20 MB
WIDE = f'yes "$(printf %0999d 0)" | head -n {WIDE_LINES}'
COMMANDS: dict[str, tuple[list[str], int, int]] = {  # name: argv, lines, bytes of output
    "seq": (["seq", "1", str(SEQ_LINES)], SEQ_LINES, len("".join(f"{i}\n" for i in range(1, SEQ_LINES + 1)))),
    "wide": (["bash", "-c", WIDE], WIDE_LINES, WIDE_LINES * 1000),
}
EXEC_PREAMBLE = 3  # an exec log starts with "in dir: …", the command line and a blank line

FLOOR = """\
import subprocess, sys, time
t0 = time.perf_counter()
child = subprocess.Popen(sys.argv[2:], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
with open(sys.argv[1], "ab") as out:
    while chunk := child.stdout.read1(65536):
        out.write(chunk)
child.wait()
print(time.perf_counter() - t0)
"""


def flows_yaml() -> str:
    out = ""
    for name, (argv, _, _) in COMMANDS.items():
        shell = argv[2] if argv[0] == "bash" else " ".join(argv)
        out += (
            f"  - id: {name}\n"
            "    ver: 1\n"
            "    triggers: [{id: go, type: data}]\n"
            "    tasks:\n"
            f"      - id: print\n        listen: trigger.good\n        type: exec\n"
            f"        opts: {{shell: {json.dumps(shell)}}}\n"
            "      - {id: done, listen: task.print.good, type: end}\n"
        )
    return out


async def floor(argv: list[str], out: Path) -> float:
    """Seconds a Python process takes to read `argv`'s output and append it to a file."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", FLOOR, str(out), *argv, stdout=asyncio.subprocess.PIPE
    )
    text, _ = await proc.communicate()
    await asyncio.to_thread(out.unlink, missing_ok=True)
    return float(text)


def used_bytes(db: Path) -> int:
    """Bytes of the SQLite database in use (its pages less the free ones, the WAL's content seen)."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as c:
        pages = c.execute("PRAGMA page_count").fetchone()[0]
        free = c.execute("PRAGMA freelist_count").fetchone()[0]
        size = c.execute("PRAGMA page_size").fetchone()[0]
    return int((pages - free) * size)


@contextlib.asynccontextmanager
async def peak_rss(host: Host) -> AsyncIterator[list[int]]:
    """Samples the host's RSS (KiB) every 5 ms while inside; the list holds the peak."""
    peak = [host.rss_kib()]

    async def sample() -> None:
        while True:
            peak[0] = max(peak[0], host.rss_kib())
            await asyncio.sleep(0.005)  # a sampling period, not a synchronisation

    task = asyncio.create_task(sample())
    try:
        yield peak
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        peak[0] = max(peak[0], host.rss_kib())


async def follow(host: Host, flow: str, ready: asyncio.Event, lags: list[float], behind: list[float]) -> str:
    """A websocket client on the flow: each log line's lag (receipt - at), and at the run's end how
    far (s) the last line's receipt came after the end was stamped; "" or why the host closed it."""
    last_line = 0.0
    async with host.events(flow=flow) as ws:  # subscribed once connected
        ready.set()
        while True:
            try:
                e = json.loads(await asyncio.wait_for(ws.recv(), 300))
            except ConnectionClosed as closed:
                return str(closed)
            now = time.time()
            if e["tag"] == "sys.node.update":
                n = len(e["opts"].get("lines") or ()) + ("line" in e["opts"])
                lags.extend([now - e["at"]] * n)
                last_line = now
            elif e["tag"] == "sys.end.all":
                behind.append(max(0.0, last_line - e["at"]))
                return ""


async def one(host: Host, name: str, followed: bool) -> dict[str, Any]:
    _, lines, raw = COMMANDS[name]
    db = host.store_dir / "floe.db"
    before = used_bytes(db)
    lags: list[float] = []
    behind: list[float] = []
    ready = asyncio.Event()
    follower = asyncio.create_task(follow(host, name, ready, lags, behind)) if followed else None
    async with host.events(flow=name, tags="sys.end.all") as ends, peak_rss(host) as peak:
        if follower is not None:
            await asyncio.wait_for(ready.wait(), 60)
        idle = host.rss_kib()
        t0 = time.time()
        rid = await host.push(None, name)
        end = (await wait_ended(ends, [rid], 300))[rid]
    closed = await asyncio.wait_for(follower, 300) if follower is not None else ""
    if end["opts"]["status"] != "good":
        raise RuntimeError(f"{name} run {rid} ended {end['opts']}")
    run = await host.run(name, rid)
    t = time.perf_counter()
    r = await host.http.get(f"{BASE}/flows/{name}/runs/{rid}/nodes/print/log")
    read = time.perf_counter() - t
    got = r.text.count("\n")
    if got != lines + EXEC_PREAMBLE:
        raise RuntimeError(f"{name}: the log API gave {got} lines, not {lines + EXEC_PREAMBLE}")
    out: dict[str, Any] = {
        "seconds": run["ended"] - t0,
        "log_api_seconds": read,
        "store_bytes": used_bytes(db) - before,
        "raw_bytes": raw,
        "idle_rss_kib": idle,
        "peak_rss_kib": peak[0],
    }
    if followed:
        out["follower_lines"] = len(lags)
        out["follower_max_lag_s"] = max(lags) if lags else None
        out["follower_behind_at_end_s"] = behind[0] if behind else None
        out["follower_closed"] = closed
    return out


async def log_throughput(root: Path, sizes: Any) -> dict[str, Any]:
    """Each command alone and with a follower, `sizes.log_repeats` times, beside its floor."""
    results: dict[str, Any] = {}
    async with Host(root, flows_yaml() + _tiny()) as host:
        async with host.events(flow="tiny", tags="sys.end.all") as ws:  # warm-up, and one run's cost
            await wait_ended(ws, [await host.push(None, "tiny")], 60)
            db = host.store_dir / "floe.db"
            before = used_bytes(db)
            await wait_ended(ws, [await host.push(None, "tiny")], 60)
            per_run = used_bytes(db) - before
        for name, (argv, lines, raw) in COMMANDS.items():
            floors: list[float] = []
            alone: list[dict[str, Any]] = []
            followed: list[dict[str, Any]] = []
            for _ in range(sizes.log_repeats):
                floors.append(await floor(argv, root / "floor.out"))
                alone.append(await one(host, name, False))
                followed.append(await one(host, name, True))
            secs = [a["seconds"] for a in alone]
            fsecs = [a["seconds"] for a in followed]
            store = statistics.median(a["store_bytes"] for a in alone + followed)
            results[name] = {
                "lines": lines,
                "raw_bytes": raw,
                "repeats": sizes.log_repeats,
                "floor_s": spread(floors),
                "alone_s": spread(secs),
                "ratio_to_floor": spread([a / f for a, f in zip(secs, floors, strict=True)], 1),
                "followed_s": spread(fsecs),
                "followed_ratio_to_alone": spread([f / a for f, a in zip(fsecs, secs, strict=True)], 2),
                "follower_max_lag_s": spread([f["follower_max_lag_s"] or math.nan for f in followed]),
                "follower_behind_at_end_s": spread([f["follower_behind_at_end_s"] or 0.0 for f in followed]),
                "follower_closed_by_host": [f["follower_closed"] for f in followed if f["follower_closed"]],
                "follower_got_every_line": all(
                    f["follower_lines"] == lines + EXEC_PREAMBLE for f in followed
                ),
                "log_api_s": spread([a["log_api_seconds"] for a in alone + followed]),
                "store_bytes_median": int(store),
                "store_to_raw": round((store - per_run) / raw, 2),
                "peak_to_idle_rss": spread(
                    [a["peak_rss_kib"] / a["idle_rss_kib"] for a in alone + followed], 2
                ),
                "idle_rss_mib": round(statistics.median(a["idle_rss_kib"] for a in alone) / 1024, 1),
                "peak_rss_mib": round(max(a["peak_rss_kib"] for a in alone + followed) / 1024, 1),
            }
    results["store_bytes_per_tiny_run"] = per_run
    results["targets"] = {
        "seq_alone_s": 0.5,
        "ratio_to_floor": 10,
        "follower_max_lag_s": 1.0,
        "followed_ratio_to_alone": "about 1 (not slowed)",
        "store_to_raw": 2,
        "peak_to_idle_rss": 1.5,
    }
    return results


def _tiny() -> str:
    return (
        "  - id: tiny\n    ver: 1\n    triggers: [{id: go, type: data}]\n    tasks:\n"
        "      - {id: print, listen: trigger.good, type: exec, opts: {cmd: 'echo hi'}}\n"
        "      - {id: done, listen: task.print.good, type: end}\n"
    )
