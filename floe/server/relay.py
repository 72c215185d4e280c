"""Following a run that executes on another host: this host relays that host's event stream."""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlencode

from starlette.websockets import WebSocket
from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from floe.cluster.peers import Peer
from floe.server.cluster_view import Caller, locate
from floe.server.context import Context


async def until_closed(ws: WebSocket) -> None:
    """Returns when the client leaves; clients have nothing to say, their messages are ignored."""
    while (await ws.receive())["type"] != "websocket.disconnect":
        pass


async def exec_peer(c: Context, run_id: str, caller: Caller) -> Peer | None:
    """The peer that holds `run_id`, when this host does not."""
    if await c.hub.find(run_id) is not None:
        return None
    return (await locate(c, run_id, caller)).peer


def peer_url(c: Context, peer: Peer, params: dict[str, str]) -> str:
    """The peer's `/ws` for `params`."""
    scheme = "wss" if peer.address.startswith("https") else "ws"
    base = peer.address.removeprefix("https").removeprefix("http")
    return f"{scheme}{base}{c.config().common.base_url}/ws?{urlencode(params)}"


async def relay(ws: WebSocket, c: Context, peer: Peer, params: dict[str, str]) -> None:
    """Forward the peer's `/ws` stream for the same query until either side closes."""
    headers = {"X-Floe-Auth": c.admin_token}
    with contextlib.suppress(OSError, WebSocketException):
        async with connect(peer_url(c, peer, params), additional_headers=headers, max_size=1 << 22) as up:

            async def down() -> None:
                async for message in up:
                    await ws.send_text(message if isinstance(message, str) else message.decode())

            tasks = [asyncio.ensure_future(down()), asyncio.ensure_future(until_closed(ws))]
            try:
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
