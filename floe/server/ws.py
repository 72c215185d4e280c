"""The event stream: every event of this host as JSON, in order per run, filtered by run or flow.

A client that connects with `?run=` first gets the run's stored events, then live ones. A client
that stops reading is cut off when its bounded queue fills; the hub never waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from floe.hub.broadcast import Subscription
from floe.server.context import Context


async def _pump(ws: WebSocket, sub: Subscription, run_id: str, sent: int) -> None:
    while True:
        e = await sub.queue.get()
        if run_id and e["seq"] <= sent:
            continue  # already sent from the store
        await ws.send_json(e)


async def _until_closed(ws: WebSocket) -> None:
    while (await ws.receive())["type"] != "websocket.disconnect":
        pass


async def stream(ws: WebSocket) -> None:
    c: Context = ws.app.state.floe
    run_id = ws.query_params.get("run") or ""
    flow_id = ws.query_params.get("flow") or ""

    def accepts(e: dict[str, Any]) -> bool:
        return (not run_id or e["run_id"] == run_id) and (not flow_id or e["flow"] == flow_id)

    sub = c.hub.broadcast.subscribe(accepts)  # before the replay, so nothing falls between
    try:
        await ws.accept()
        sent = 0
        if run_id:
            for e in await c.hub.store.events(run_id):
                await ws.send_json(e)
                sent = e["seq"]
        tasks = [
            asyncio.ensure_future(_pump(ws, sub, run_id, sent)),
            asyncio.ensure_future(_until_closed(ws)),
            asyncio.ensure_future(sub.dropped.wait()),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if sub.dropped.is_set():
            await ws.close(code=1013, reason="too slow: fell behind the event stream")
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass
    finally:
        c.hub.broadcast.unsubscribe(sub)
        with contextlib.suppress(RuntimeError):
            await ws.close()
