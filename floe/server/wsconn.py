"""uvicorn's websocket connection as floe serves it: a bounded kernel send buffer, and the
connection's transport in the scope (so a client that reads nothing can be cut off)."""

from __future__ import annotations

import contextlib
import socket
from asyncio import BaseTransport
from typing import Any, cast

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

TRANSPORT = "floe.transport"  # the scope key of the connection's asyncio transport
SEND_BUFFER = 128 << 10  # bytes the kernel may hold unsent for one client (Linux doubles this)


class BoundedWebSocket(WebSocketsSansIOProtocol):
    """Left to itself, Linux grows a connection's send buffer up to 4 MiB: a client that stopped
    reading then takes some 19,000 events before a send blocks and its queue starts to fill, and
    so costs the host as much work as a client that reads. Capped, it takes about a thousand."""

    def connection_made(self, transport: BaseTransport) -> None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER)
        super().connection_made(transport)

    async def run_asgi(self) -> None:
        cast(dict[str, Any], self.scope)[TRANSPORT] = self.transport
        await super().run_asgi()
