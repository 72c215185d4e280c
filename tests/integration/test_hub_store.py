"""A real Hub on a real LocalStore: what the hub tells its listeners is already on disk."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from floe.config import parse_config
from floe.hub.hub import HostInfo, Hub
from floe.store.local import LocalStore

CONFIG = """
common: {{workspace-root: {root}/ws}}
flows:
  - id: two
    triggers: [{{id: go, type: data}}]
    tasks:
      - {{id: a, listen: trigger.good, type: exec, opts: {{cmd: 'true'}}}}
      - {{id: b, listen: task.a.good, type: exec, opts: {{cmd: 'true'}}}}
"""


def committed_phase(db: Path, run_id: str) -> str | None:
    """The run's phase as another connection sees it: only what is committed."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        row = conn.execute("SELECT phase FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return None if row is None else str(row[0])


@pytest.mark.timeout(60)
async def test_a_run_end_is_announced_only_once_committed(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    await store.open()
    hub = Hub(HostInfo("h1", frozenset()), parse_config(CONFIG.format(root=tmp_path)), store)
    seen: asyncio.Queue[tuple[str, str | None]] = asyncio.Queue()

    def observe(doc: dict[str, Any]) -> None:  # runs in the hub's loop the moment it publishes
        if doc["tag"] == "sys.end.all":
            seen.put_nowait((doc["run_id"], committed_phase(store.path, doc["run_id"])))

    hub.observers.append(observe)
    async with asyncio.TaskGroup() as tg:
        consumer = tg.create_task(hub.run())
        await hub.ready.wait()
        ids = [await hub.trigger(hub.config.flows[0], "go", {}) for _ in range(5)]
        ended = dict([await seen.get() for _ in ids])
        consumer.cancel()
    await store.close()
    assert ended == {rid: "archive" for rid in ids}


async def _trigger_twice(tmp_path: Path) -> list[str]:
    """Open the store, start a hub, trigger two runs, stop the hub cleanly, close the store."""
    store = LocalStore(tmp_path / "store")
    await store.open()
    hub = Hub(HostInfo("h1", frozenset()), parse_config(CONFIG.format(root=tmp_path)), store)
    async with asyncio.TaskGroup() as tg:
        consumer = tg.create_task(hub.run())
        await hub.ready.wait()
        ids = [await hub.trigger(hub.config.flows[0], "go", {}) for _ in range(2)]
        consumer.cancel()
    await store.close()
    return ids


@pytest.mark.timeout(60)
async def test_run_ids_are_reserved_in_blocks_and_go_on_without_a_gap_after_a_clean_stop(
    tmp_path: Path,
) -> None:
    assert await _trigger_twice(tmp_path) == ["h1-1", "h1-2"]
    with contextlib.closing(sqlite3.connect(tmp_path / "store" / "floe.db")) as conn:
        assert conn.execute("SELECT value FROM kv WHERE key = 'counter/h1'").fetchone() == ("2",)
    assert await _trigger_twice(tmp_path) == ["h1-3", "h1-4"]


@pytest.mark.timeout(60)
async def test_a_trigger_is_stored_with_its_block_reserved_before_its_id_is_named(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    await store.open()
    hub = Hub(HostInfo("h1", frozenset()), parse_config(CONFIG.format(root=tmp_path)), store)
    async with asyncio.TaskGroup() as tg:
        consumer = tg.create_task(hub.run())
        await hub.ready.wait()
        await hub.trigger(hub.config.flows[0], "go", {})
        with contextlib.closing(sqlite3.connect(store.path)) as conn:  # only what is committed
            reserved = conn.execute("SELECT value FROM kv WHERE key = 'counter/h1'").fetchone()
        consumer.cancel()
    await store.close()
    assert reserved == ("100",)
