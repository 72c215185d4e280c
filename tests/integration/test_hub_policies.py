"""Requests a real hub refuses: a refused one takes nothing from the admission policies, and each
fails with its kind of the error tree (floe/model/errors.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from floe.config import parse_config
from floe.hub.hub import HostInfo, Hub
from floe.model.errors import Conflict, NotFound
from floe.model.policy import Rejected
from floe.store.local import LocalStore

CONFIG = """
common: {{workspace-root: {root}/ws}}
flows:
  - id: f
    triggers: [{{id: go, type: data}}]
    policies: [{{name: two-an-hour, rate: 2/h}}]
    tasks:
      - {{id: a, listen: trigger.good, type: exec, opts: {{cmd: 'true'}}}}
      - {{id: b, listen: task.a.bad, type: exec, opts: {{cmd: 'true'}}}}
"""


@pytest.mark.timeout(60)
async def test_a_refused_rerun_takes_no_token_of_a_rate_policy(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    await store.open()
    hub = Hub(HostInfo("h1", frozenset()), parse_config(CONFIG.format(root=tmp_path)), store)
    ended: asyncio.Queue[str] = asyncio.Queue()

    def observe(doc: dict[str, Any]) -> None:
        if doc["tag"] == "sys.end.all":
            ended.put_nowait(doc["run_id"])

    hub.observers.append(observe)
    flow = hub.config.flows[0]
    async with asyncio.TaskGroup() as tg:
        consumer = tg.create_task(hub.run())
        await hub.ready.wait()
        first = await hub.trigger(flow, "go", {})
        assert await ended.get() == first
        old = await hub.find(first)
        assert old is not None
        with pytest.raises(LookupError, match="never reached b"):
            await hub.rerun(old, "b")  # b never ran: refused, so the second token stays
        second = await hub.trigger(flow, "go", {})
        with pytest.raises(Rejected):
            await hub.trigger(flow, "go", {})
        consumer.cancel()
    await store.close()
    assert second == "h1-2"


@pytest.mark.timeout(60)
async def test_a_request_for_what_is_not_here_fails_with_its_kind_of_error(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    await store.open()
    hub = Hub(HostInfo("h1", frozenset()), parse_config(CONFIG.format(root=tmp_path)), store)
    flow = hub.config.flows[0]
    async with asyncio.TaskGroup() as tg:
        consumer = tg.create_task(hub.run())
        await hub.ready.wait()
        with pytest.raises(NotFound, match="has no trigger nope"):
            await hub.trigger(flow, "nope", {})
        with pytest.raises(NotFound, match="is not active on h1"):
            await hub.answer("h1-9", "a", {"x": "1"})
        with pytest.raises(Conflict, match="is not pending or active on h1"):
            await hub.cancel("h1-9")
        consumer.cancel()
    await store.close()
