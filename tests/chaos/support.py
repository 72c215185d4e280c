"""Helpers of the chaos tests: fuzzing budgets, the whole archive of a flow, a run's stored events."""

from __future__ import annotations

import os
import time
from typing import Any

from tests.support.host import FloeHost
from tests.support.stream import events, recv

FUZZ_SCALE = float(os.environ.get("FLOE_FUZZ_SCALE", "1"))  # 3 to 4: the counts of the old runs


def examples(n: int) -> int:
    """A fuzzer's example count: `n` times FLOE_FUZZ_SCALE (a nightly run sets it higher)."""
    return max(1, round(n * FUZZ_SCALE))


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
