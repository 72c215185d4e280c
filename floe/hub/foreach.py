"""A foreach node: its task type once per item, at most `concurrency` at once and `rate` starts a second."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

from floe.model.run import Start
from floe.nodes.base import NodeContext, NodeError, Outcome, TaskType


class _Pacer:
    """Spaces item starts `1 / rate` seconds apart (no spacing without a rate)."""

    def __init__(self, rate: float | None) -> None:
        self.gap = 1.0 / rate if rate else 0.0
        self.next = 0.0
        self.lock = asyncio.Lock()

    async def wait(self) -> None:
        if not self.gap:
            return
        async with self.lock:
            delay = self.next - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            self.next = time.monotonic() + self.gap


async def foreach(start: Start, ctx: NodeContext, execute: TaskType) -> Outcome:
    """Run every item; the outcome is good when all items are (or any, with `result: any`), and
    its outputs list each item's status, result and outputs. Item log lines carry `[i/n]`."""
    spec = ctx.node.foreach
    assert spec is not None
    n = len(start.items)
    slots = asyncio.Semaphore(spec.concurrency)
    pacer = _Pacer(spec.rate)
    results: list[dict[str, Any]] = [{} for _ in range(n)]

    async def one(i: int) -> None:
        async with slots:
            await pacer.wait()
            mark = f"[{i + 1}/{n}]"
            ctx.log(f"{mark} item {start.items[i]!r} started")
            item_ctx = replace(
                ctx,
                opts=start.each[i],
                values={**start.values, "item": start.items[i], "index": i},
                log=lambda line: ctx.log(f"{mark} {line}"),
            )
            try:
                outcome = await execute(item_ctx)
                status, outputs, error = outcome.status, dict(outcome.opts), ""
            except NodeError as e:
                status, outputs, error = 1, {}, str(e)
                ctx.log(f"{mark} {e}")
            good = not error and status in ctx.node.good
            results[i] = {
                "item": start.items[i],
                "status": status,
                "result": "good" if good else "error" if error else "bad",
                "outputs": outputs,
                **({"error": error} if error else {}),
            }
            ctx.log(f"{mark} {results[i]['result']} (exit {status})")

    async with asyncio.TaskGroup() as tg:
        for i in range(n):
            tg.create_task(one(i))
    good = [r for r in results if r["result"] == "good"]
    ok = len(good) == n if spec.result == "all" else bool(good) or n == 0
    bad = next((r["status"] for r in results if r["result"] != "good"), 1)
    ctx.log(f"foreach: {len(good)} of {n} items good")
    return Outcome(ctx.node.good[0] if ok else bad or 1, {"items": results, "good": len(good), "total": n})
