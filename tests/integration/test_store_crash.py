"""kill -9 of a process writing to a LocalStore: every flushed record survives, the file is sound."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import sys
from pathlib import Path

import pytest

import floe
from floe.store.local import LocalStore

N = 300  # runs written before the first flush

CHILD = r"""
import asyncio, sys
from pathlib import Path
from floe.store.local import LocalStore

def run(i, phase):
    return {"run_id": f"h1-{i}", "flow": "f" + str(i % 3), "phase": phase, "created": float(i),
            "nodes": [{"id": "a", "status": "good", "i": i}]}

def line(i, seq):
    return {"run_id": f"h1-{i}", "seq": seq, "source_node": "a", "tag": "sys.node.update",
            "opts": {"line": f"line {seq} of {i}"}}

async def main():
    store = LocalStore(Path(sys.argv[1]))
    await store.open()
    n = int(sys.argv[2])
    for i in range(n):
        store.put_run(run(i, "archive"))
        for seq in range(1, 6):
            store.append_event(line(i, seq))
        store.put_kv(f"k{i}", i)
    await store.flush()
    print("flushed", flush=True)
    i = n
    while True:  # keep the writer busy until killed; report each flushed high-water mark
        for _ in range(100):
            store.put_run(run(i, "active"))
            store.append_event(line(i, 1))
            store.put_run(run(i, "archive"))
            store.put_kv("live", i)
            i += 1
        await store.flush()
        print(f"upto {i}", flush=True)

asyncio.run(main())
"""


def integrity(db_path: Path) -> str:
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])


@pytest.mark.parametrize("reports_before_kill", [0, 3, 20])
async def test_kill_9_keeps_every_flushed_record(tmp_path: Path, reports_before_kill: int) -> None:
    root = tmp_path / "store"
    env = {**os.environ, "PYTHONPATH": str(Path(floe.__file__).parent.parent)}
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, str(root), str(N), stdout=asyncio.subprocess.PIPE, env=env
    )
    assert child.stdout is not None
    try:
        assert await child.stdout.readline() == b"flushed\n"
        upto = N
        for _ in range(reports_before_kill):
            reported = (await child.stdout.readline()).decode()
            assert reported.startswith("upto "), reported
            upto = int(reported.split()[1])
        os.kill(child.pid, signal.SIGKILL)
    finally:
        with contextlib.suppress(ProcessLookupError):
            child.kill()
        await child.wait()
    assert child.returncode == -signal.SIGKILL

    db_path = root / "floe.db"
    assert integrity(db_path) == "ok"
    store = LocalStore(root)
    await store.open()
    try:
        archive = await store.list_runs(phase="archive")
        ids = {d["run_id"] for d in archive}
        assert {f"h1-{i}" for i in range(upto)} <= ids
        for i in (0, N // 2, N - 1):
            assert await store.get_run(f"h1-{i}") == {
                "run_id": f"h1-{i}",
                "flow": f"f{i % 3}",
                "phase": "archive",
                "created": float(i),
                "nodes": [{"id": "a", "status": "good", "i": i}],
            }
            assert await store.node_log(f"h1-{i}", "a") == [f"line {s} of {i}" for s in range(1, 6)]
            assert await store.get_kv(f"k{i}") == i
        for i in range(N, upto):
            assert await store.node_log(f"h1-{i}", "a") == [f"line 1 of {i}"]
        if upto > N:
            live = await store.get_kv("live")
            assert live is not None and live >= upto - 1
        # the reopened store takes writes again
        store.put_run({"run_id": "after", "flow": "f", "phase": "pending", "created": 0.0})
        await store.flush()
    finally:
        await store.close()
    assert integrity(db_path) == "ok"
