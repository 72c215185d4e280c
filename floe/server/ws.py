"""The event stream: every event of this host as JSON, in order per run, filtered by run or flow.

`?run=<id>` first replays the run's stored events (those after `?after=<seq>`, default all), then
live ones, each exactly once. `?flow=<id>` and a bare `/ws` give live events only; `?tags=a,b` keeps
only events with those exact tags (the replay too). Each client sits behind its own bounded queue,
and the hub never waits for a client: one that lags until its queue is full is closed with code
4408 ("too slow"), and reconnects to load the state afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from floe.hub.broadcast import Filter, Subscription, to_json
from floe.model.event import SYS_MOVED
from floe.server.context import Context, caller, forwarded
from floe.server.fanin import fan_in
from floe.server.relay import exec_peer, relay, until_closed
from floe.server.wsconn import TRANSPORT
from floe.store.errors import StoreError

log = logging.getLogger(__name__)

QUEUE = 50_000  # events (a log event: its lines) a client may fall behind before it is dropped
UNREADABLE = 1011  # close code: the run's stored record or events cannot be read (the reason says why)
CLOSE_TIMEOUT = 2.0
SLICE = 0.005  # seconds a client's pump may send without letting the rest of the host run
SLOW = 4408  # the client fell a whole queue behind: it reconnects and reloads what it shows
UNAUTHORIZED = 4401


class Pump:
    """Sends a subscription's events, skipping those the replay sent."""

    def __init__(self, ws: WebSocket, sub: Subscription, run_id: str) -> None:
        self.ws, self.sub, self.run_id = ws, sub, run_id
        self.sent = 0  # seq of the last event of the run sent
        self.moved_to = ""  # the host the run was handed to while it was followed here
        self.turn = time.monotonic()  # when this pump last let others run

    async def send(self, text: str) -> None:
        await self.ws.send_text(text)
        if time.monotonic() - self.turn > SLICE:
            # a send to a writable socket and a get from a non-empty queue never yield: without
            # this, one busy client could hold the event loop for a whole queue's worth of events
            await asyncio.sleep(0)
            self.turn = time.monotonic()

    async def replay(self, c: Context, after: int) -> None:
        self.sent = after
        for e in await c.store.events(self.run_id, after):
            if self.sub.accepts(e):
                await self.send(to_json(e))
            self.sent = e["seq"]

    async def live(self) -> None:
        while True:
            e, text = await self.sub.get()
            if self.run_id and e["seq"] <= self.sent and e["tag"] != SYS_MOVED:
                continue
            await self.send(text)
            if self.run_id and e["tag"] == SYS_MOVED:
                self.moved_to = str(e["opts"].get("exec_host") or "")
                return  # the run went to another host: the stream follows it there


async def _first(*aws: Any) -> tuple[int, BaseException | None]:
    """Run the awaitables until one finishes, cancel and reap the rest; the index of the first to
    finish and its exception. (Not wait_for: in 3.11 it can swallow a cancellation.)"""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    first = min(tasks.index(t) for t in done)
    return first, None if tasks[first].cancelled() else tasks[first].exception()


def _abort(ws: WebSocket) -> None:
    """Drop the TCP connection of a client that reads nothing, not even a close frame."""
    transport = ws.scope.get(TRANSPORT)
    if transport is not None:
        transport.abort()


async def _close(ws: WebSocket, code: int, reason: str) -> None:
    if (
        ws.application_state is not WebSocketState.CONNECTED
        or ws.client_state is not WebSocketState.CONNECTED
    ):
        return
    task = asyncio.ensure_future(ws.close(code=code, reason=reason))
    done, _ = await asyncio.wait([task], timeout=CLOSE_TIMEOUT)
    if not done:
        task.cancel()
        _abort(ws)
    with contextlib.suppress(BaseException):
        await task


async def _serve(ws: WebSocket, c: Context, pump: Pump, after: int) -> bool:
    """Replay, then forward live events until the client leaves; True if its queue overflowed."""
    steps: list[Callable[[], Coroutine[Any, Any, None]]] = [pump.live]
    if pump.run_id:
        steps.insert(0, lambda: pump.replay(c, after))
    for step in steps:  # each made only when it runs: a client gone during the replay leaves no live
        which, error = await _first(step(), until_closed(ws), pump.sub.dropped.wait())
        if which == 2:
            return True  # it fell a whole queue behind
        if isinstance(error, StoreError):
            await _refuse(ws, error)
        if which == 1 or error is not None:
            return False  # it left
    return False


async def _refuse(ws: WebSocket, error: StoreError) -> None:
    log.error("websocket %s: %s", ws.url.query, error)
    await _close(ws, UNREADABLE, str(error).encode()[:120].decode(errors="ignore"))


def filter_for(run_id: str, flow_id: str, tags: frozenset[str]) -> Filter:
    def accepts(e: dict[str, Any]) -> bool:
        return (
            (not run_id or e["run_id"] == run_id)
            and (not flow_id or e["flow"] == flow_id)
            and (not tags or e["tag"] in tags)
        )

    return accepts


async def stream(ws: WebSocket) -> None:
    c: Context = ws.app.state.floe
    q = ws.query_params
    run_id, flow_id = q.get("run") or "", q.get("flow") or ""
    try:
        after = max(0, int(q.get("after") or 0))
    except ValueError:
        after = 0
    tags = frozenset(t for t in (q.get("tags") or "").split(",") if t)
    try:
        peer = await exec_peer(c, run_id, caller(ws)) if run_id else None
    except StoreError as e:
        await ws.accept()
        await _refuse(ws, e)
        return
    if peer is not None:  # the run executes elsewhere: follow it there
        await ws.accept()
        await relay(ws, c, peer, {k: v for k, v in q.items() if k in ("run", "after", "tags")})
        await _close(ws, 1000, "")
        return
    about = f"run={run_id!r} flow={flow_id!r}"
    sub = c.hub.broadcast.subscribe(filter_for(run_id, flow_id, tags), QUEUE, "websocket client", about)
    pump = Pump(ws, sub, run_id)
    # a live stream of the whole cluster: every peer's own events for the filter join this host's
    whole = not run_id and not forwarded(ws)
    params = {k: v for k, v in q.items() if k in ("flow", "tags")}
    peers = asyncio.ensure_future(fan_in(c, params, caller(ws), sub)) if whole else None
    slow = False
    try:
        await ws.accept()
        slow = await _serve(ws, c, pump, after)
    except (WebSocketDisconnect, OSError):
        pass
    finally:
        c.hub.broadcast.unsubscribe(sub)
        if peers is not None:
            peers.cancel()
            await asyncio.gather(peers, return_exceptions=True)
    target = c.cluster.peer(pump.moved_to) if pump.moved_to and not slow else None
    if target is not None:  # handed off while followed: go on with the events from there
        await relay(ws, c, target, {"run": run_id, "after": str(pump.sent), **params})
    if slow:  # logged by the broadcaster as it cut the client off
        await _close(ws, SLOW, "too slow")
    else:
        await _close(ws, 1000, "")
