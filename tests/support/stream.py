"""A host's event stream (`/ws`) read by the tests: one connection helper and one reader."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from websockets.sync.client import ClientConnection, connect

if TYPE_CHECKING:
    from tests.support.host import FloeHost


@contextmanager
def events(host: FloeHost, **filters: str | int) -> Iterator[ClientConnection]:
    """A websocket on the host's `/ws` with query filters (`flow=`, `run=`, `after=`, `tags=`),
    logged in with the host's token; its queue is unbounded, so a slow test loses nothing."""
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    url = f"ws://127.0.0.1:{host.port}/ws" + (f"?{query}" if query else "")
    with connect(url, additional_headers={"X-Floe-Auth": host.token}, open_timeout=10, max_queue=None) as ws:
        yield ws


def recv_frame(ws: ClientConnection, deadline: float) -> str:
    """The next frame as sent, or TimeoutError once `deadline` (time.monotonic()) has passed."""
    return str(ws.recv(timeout=max(0.01, deadline - time.monotonic())))


def recv(ws: ClientConnection, deadline: float) -> dict[str, Any]:
    """The next event, or TimeoutError once `deadline` (time.monotonic()) has passed."""
    event: dict[str, Any] = json.loads(recv_frame(ws, deadline))
    return event
