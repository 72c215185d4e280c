"""A real hub's message log (every message its reducer took, with the time it took it), replayed
through the pure host reducer, ends in exactly the state the hub ended in."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from floe.config import parse_config
from floe.hub.hub import HostInfo, Hub
from floe.model.host import HostState, handle
from floe.model.messages import Message
from floe.store.local import LocalStore

CONFIG = """
common: {{workspace-root: {root}/ws}}
flows:
  - id: two
    triggers: [{{id: go, type: data}}]
    tasks:
      - {{id: a, listen: trigger.good, type: exec, opts: {{cmd: 'echo one'}}}}
      - {{id: b, listen: task.a.good, type: exec, opts: {{cmd: 'true'}}}}
  - id: gate
    triggers: [{{id: go, type: data}}]
    tasks:
      - id: ok
        listen: trigger.good
        type: data
        opts: {{form: {{fields: [{{id: answer, type: string}}]}}}}
      - {{id: c, listen: task.ok.good, type: exec, opts: {{cmd: 'true'}}}}
  - id: slow
    triggers: [{{id: go, type: data}}]
    tasks:
      - {{id: s, listen: trigger.good, type: exec, opts: {{cmd: 'sleep 60'}}}}
"""


@pytest.mark.timeout(60)
async def test_a_recorded_message_log_replays_to_the_hubs_state(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    await store.open()
    hub = Hub(HostInfo("h1", frozenset()), parse_config(CONFIG.format(root=tmp_path)), store)
    journal: list[tuple[Message, float]] = []
    hub.journal.append(lambda msg, now: journal.append((msg, now)))
    seen: dict[str, asyncio.Queue[str]] = {
        "sys.end.all": asyncio.Queue(),
        "sys.data.required": asyncio.Queue(),
    }

    def observe(doc: dict[str, Any]) -> None:
        if doc["tag"] in seen:
            seen[doc["tag"]].put_nowait(doc["run_id"])

    hub.observers.append(observe)
    flows = {f.id: f for f in hub.config.flows}
    async with asyncio.TaskGroup() as tg:
        consumer = tg.create_task(hub.run())
        await hub.ready.wait()
        two = await hub.trigger(flows["two"], "go", {})
        gate = await hub.trigger(flows["gate"], "go", {})
        slow = await hub.trigger(flows["slow"], "go", {})
        assert await seen["sys.data.required"].get() == gate
        await hub.answer(gate, "ok", {"answer": "yes"}, "ann")
        await hub.cancel(slow, "enough", "ann")
        ended = {await seen["sys.end.all"].get() for _ in range(3)}
        consumer.cancel()
    await store.close()
    assert ended == {two, gate, slow}
    assert hub.state.counts == {("two", "good"): 1, ("gate", "good"): 1, ("slow", "cancelled"): 1}
    state = HostState("h1", frozenset())
    for msg, now in journal:
        state, _ = handle(state, msg, now)
    assert state == hub.state
    taken = {type(m).__name__ for m, _ in journal}
    assert {"Recovered", "Trigger", "Lines", "NodeDone", "Answer", "Cancel", "Stored", "Settle"} <= taken
