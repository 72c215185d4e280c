"""Live streams of the whole cluster: each peer's own events for a client's filter, fed into the
client's subscription beside this host's, so a dashboard on any host sees every host's runs."""

from __future__ import annotations

import asyncio
import contextlib
import json

from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from floe.cluster.peers import Peer
from floe.hub.broadcast import Subscription, weight
from floe.server.auth import FOR, FOR_ROLE, HEADER
from floe.server.cluster_view import Caller
from floe.server.context import Context
from floe.server.relay import peer_url

RETRY = 1.0  # seconds between attempts to reach a peer that is offline or dropped the stream


async def feed(c: Context, peer: Peer, params: dict[str, str], who: Caller, sub: Subscription) -> None:
    """Put the peer's own live events for `params` into `sub` until cancelled or `sub` overflows;
    the peer is asked for the caller (so it sends its own events only, and what the caller may see),
    and asked again after it went away."""
    headers = {HEADER: c.admin_token, FOR: who[0], FOR_ROLE: who[1]}
    while not sub.dropped.is_set():
        if peer.online:
            url = peer_url(c, peer, params)
            with contextlib.suppress(OSError, WebSocketException):
                async with connect(url, additional_headers=headers, max_size=1 << 22) as up:
                    async for message in up:
                        text = message if isinstance(message, str) else message.decode()
                        event = json.loads(text)
                        if not sub.put((event, text, weight(event))):
                            return
        await asyncio.sleep(RETRY)


async def fan_in(c: Context, params: dict[str, str], who: Caller, sub: Subscription) -> None:
    """Feed `sub` from every peer until cancelled."""
    feeds = [asyncio.ensure_future(feed(c, p, params, who, sub)) for p in c.cluster.peers]
    try:
        await asyncio.gather(*feeds)
    finally:
        for f in feeds:
            f.cancel()
        await asyncio.gather(*feeds, return_exceptions=True)
