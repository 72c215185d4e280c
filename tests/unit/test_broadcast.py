"""The event fan-out: each event encoded once for every subscriber, queues bounded by lines."""

from __future__ import annotations

import json
from typing import Any

from floe.hub.broadcast import Broadcaster


def update(seq: int, lines: list[str]) -> dict[str, Any]:
    return {"run_id": "h1-1", "flow": "f", "source_node": "a", "tag": "sys.node.update", "good": True,
            "opts": {"lines": lines}, "seq": seq, "at": 1.5}  # fmt: skip


async def test_an_event_is_encoded_once_for_all_its_subscribers() -> None:
    b = Broadcaster()
    subs = [b.subscribe(lambda e: True) for _ in range(3)]
    other = b.subscribe(lambda e: e["run_id"] == "h1-2")
    e = update(1, ["ünïcode", "two"])
    b.publish(e)
    got = [await s.get() for s in subs]
    assert all(event is e for event, _ in got)
    assert got[0][1] is got[1][1] is got[2][1]  # one string, shared
    assert json.loads(got[0][1]) == e and "ünïcode" in got[0][1]
    assert not other.pending


async def test_a_queue_is_bounded_by_the_lines_it_holds_not_the_events() -> None:
    b = Broadcaster()
    slow = b.subscribe(lambda e: True, maxsize=100)
    reader = b.subscribe(lambda e: True, maxsize=100)
    b.publish(update(1, [f"l{i}" for i in range(60)]))
    await reader.get()
    b.publish(update(2, [f"m{i}" for i in range(60)]))  # 120 lines behind: over the bound
    assert slow.dropped.is_set() and not reader.dropped.is_set()
    assert len(b) == 1
    event, _ = await reader.get()
    assert event["seq"] == 2
