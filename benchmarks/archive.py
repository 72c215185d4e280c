"""Writes a big archive of realistic finished runs straight into a host's SQLite store."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from floe.config import load_config
from floe.model.codec import run_doc
from floe.model.run import NodeRun, NodeStatus, Run, RunStatus
from floe.store.local import LocalStore


def finished_run(flow: Any, run_id: str, created: float, good: bool) -> Run:
    """A run of `flow` as the hub archives it: every task finished, timings filled in."""
    nodes: dict[str, NodeRun] = {}
    t = created + 0.01
    for node in flow.tasks:
        status = 0 if good or node.type == "end" else 1
        nodes[node.id] = NodeRun(
            id=node.id,
            status=NodeStatus.FINISHED,
            result="good" if status == 0 else "bad",
            exit_status=None if node.type == "end" else status,
            started=t,
            stopped=t + 1.5,
            attempts=0 if node.type == "end" else 1,
            inputs={"branch": "main", "hash": f"{int(created * 1000):040x}"} if node.type == "exec" else {},
        )
        t += 1.5
    return Run(
        run_id=run_id,
        flow=flow,
        trigger="go",
        values={"branch": "main", "hash": f"{int(created * 1000):040x}"},
        created=created,
        status=RunStatus.GOOD if good else RunStatus.BAD,
        exec_host="h1",
        started=created + 0.005,
        ended=t,
        nodes=nodes,
        reason="" if good else "task.work.bad had no listener",
        seq=3 + 2 * len(flow.tasks),
    )


def _size(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.iterdir() if p.is_file())


async def fill_archive(store_dir: Path, conf: Path, flow_id: str, runs: int) -> dict[str, Any]:
    """Archive `runs` runs of `flow_id` (ids h1-1 … h1-N, one a second, 1 in 10 bad) and set the
    host's run counter past them; returns timings and the `created` of the first run."""
    config = load_config(str(conf))
    flow = config.flow(flow_id, None)
    assert flow is not None, flow_id
    first = time.time() - runs - 3600
    store = LocalStore(store_dir)
    await store.open()
    t0 = time.perf_counter()
    for i in range(1, runs + 1):
        created = first + i
        store.put_run(run_doc(finished_run(flow, f"h1-{i}", created, i % 10 != 0)))
    store.put_kv("counter/h1", runs)
    await store.flush()
    t1 = time.perf_counter()
    await store.close()
    size = await asyncio.to_thread(_size, store_dir)
    return {
        "write_seconds": round(t1 - t0, 2),
        "runs_written_per_s": round(runs / (t1 - t0)),
        "db_mib": round(size / 2**20, 1),
        "db_bytes": size,
        "created_first": first,
    }
