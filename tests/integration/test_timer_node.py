"""The timer task really waits, and stops at once when cancelled."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from floe.model.flow import Node, NodeClass
from floe.nodes.base import NodeContext, NodeError
from floe.nodes.registry import EXECUTORS


def make_ctx(tmp_path: Path, opts: Mapping[str, Any], log: Any) -> NodeContext:
    node = Node(id="wait", name="wait", cls=NodeClass.TASK, type="timer", opts=opts)
    return NodeContext(
        run_id="h1-1",
        flow_id="flow",
        node=node,
        opts=opts,
        flow_env=(),
        workspace=tmp_path,
        cache_dir=tmp_path / "cache",
        log=log,
    )


async def test_timer_waits_its_period(tmp_path: Path) -> None:
    lines: list[str] = []
    loop = asyncio.get_running_loop()
    started = loop.time()
    out = await EXECUTORS["timer"](make_ctx(tmp_path, {"period": 0.2}, lines.append))
    assert out.status == 0
    assert loop.time() - started >= 0.2
    assert lines == ["waiting 0.2s", "waited 0.2s"]


async def test_timer_is_cancellable(tmp_path: Path) -> None:
    waiting = asyncio.Event()
    task = asyncio.ensure_future(
        EXECUTORS["timer"](make_ctx(tmp_path, {"period": 300}, lambda _: waiting.set()))
    )
    await waiting.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


@pytest.mark.parametrize("opts", [{}, {"period": "soon"}, {"period": -1}])
async def test_timer_needs_a_period(tmp_path: Path, opts: dict[str, Any]) -> None:
    with pytest.raises(NodeError, match="opt period"):
        await EXECUTORS["timer"](make_ctx(tmp_path, opts, print))
