"""Helpers of the chaos tests: event streams, the whole archive of a flow, a run's stored events."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from websockets.sync.client import ClientConnection, connect

from tests.support.host import TOKEN, FloeHost


@contextmanager
def events(host: FloeHost, **filters: str) -> Iterator[ClientConnection]:
    """A websocket on the host's `/ws` with query filters (`flow=`, `run=`, `tags=`)."""
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    url = f"ws://127.0.0.1:{host.port}/ws?{query}"
    with connect(url, additional_headers={"X-Floe-Auth": TOKEN}, open_timeout=10, max_queue=None) as ws:
        yield ws


def recv(ws: ClientConnection, deadline: float) -> dict[str, Any]:
    """The next event, or TimeoutError once `deadline` (time.monotonic()) has passed."""
    event: dict[str, Any] = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
    return event


def archive(host: FloeHost, flow: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Every archived run of `flow` (paged 500 at a time with `before`), and the first page."""
    runs: list[dict[str, Any]] = []
    first: dict[str, Any] = {}
    before: float | None = None
    for _ in range(1000):
        query = "limit=500" + (f"&before={before!r}" if before is not None else "")
        r = host.get(f"/flows/{flow}/runs?{query}")
        assert r.status_code == 200, r.text
        page = r.json()
        first = first or page
        runs += page["archive"]
        before = page["next_before"]
        if before is None:
            return runs, first
    raise AssertionError("the archive listing never ended")


def run_events(host: FloeHost, run_id: str, idle: float = 3.0) -> list[dict[str, Any]]:
    """The stored events of an ended run, replayed by `/ws?run=`: up to its `sys.end.all`, or all
    that came before the stream stayed quiet for `idle` seconds (a run whose end was not stored)."""
    out: list[dict[str, Any]] = []
    with events(host, run=run_id) as ws:
        while True:
            try:
                e = recv(ws, time.monotonic() + idle)
            except TimeoutError:
                return out
            out.append(e)
            if e["tag"] == "sys.end.all":
                return out
